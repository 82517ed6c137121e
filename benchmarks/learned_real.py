"""The learned magnifiers in temporal-filter mode on real clips, beside linear EVM and phase-based.

The thesis shows its real videos as frames and space-time slices only.  This script runs every learned
network that has weights in ``models/`` (and EVM motion / phase-based as references) on the real clips
of ``../shared/data`` in the temporal-filter mode (the postech port's advice for real video), at one
factor and band per clip, and measures what can be measured without ground truth:

* ``gain``     — RMS of the output's band-passed luma over the input's (the same filter): the factor
                 the method actually applied to the motion in the band (≈ α for a linear magnifier,
                 to first order);
* ``keep_db``  — PSNR of the output's temporal mean against the input's: did the picture survive;
* ``noise_x``  — RMS of the output's out-of-band temporal change (minus mean and band) over the
                 input's: noise and other motion amplified (1 = left alone);
* ``s_per_frame`` — wall time of the whole clip / frames (this CPU, ``--threads``).

Plus the two known-frequency squares of ``synthetic_known_freq`` (a real MJPEG recording of a square
moving 0.09 / 0.06 px at 2.4 / 4 Hz): ``factor_x`` = the output's band-passed centroid amplitude over
the input's — the factor the network delivered on a known sub-pixel motion (target α).

Clips are shrunk to ``--side`` px (longest side) and ``--frames`` frames (crane: every 4th frame)
to fit a 2-core CPU; the per-clip frame rate and band are in ``CLIPS`` and the doc.

    python benchmarks/learned_real.py --threads 2 --out runs/learned_real   # JSON + scan-line figures
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from physio.figures.magnification import scanline_figure  # noqa: E402
from physio.io import video_read  # noqa: E402
from physio.magnify.base import to_tensor, to_uint8  # noqa: E402
from physio.magnify.learned.catalog import LEARNED  # noqa: E402
from physio.magnify.learned.weights import default_weights_path  # noqa: E402
from physio.magnify.registry import get_magnifier  # noqa: E402
from physio.magnify.temporal import butter_bandpass  # noqa: E402
from physio.metrics.magnification import psnr_from_mse  # noqa: E402

DATA = REPO.parent / "shared" / "data"


@dataclass(frozen=True)
class Clip:
    name: str
    path: str            # under ../shared/data
    fps: float           # the rate the clip was shot at (the container's, unless the README says otherwise)
    band_hz: tuple       # at ``fps``
    step: int = 1        # keep every step-th frame (fps / step then)
    note: str = ""


CLIPS = (
    Clip("baby", "evm_mit/baby.mp4", 30.0, (0.4, 3.0), note="breathing; EVM's infant band"),
    Clip("guitar", "evm_mit/guitar.mp4", 600.0, (72.0, 92.0), note="E string, shot at 600 fps (README)"),
    Clip("gun", "motion_mag_other/gun.mp4", 24.0, (2.0, 6.0), note="forearm recoil; band ours"),
    Clip("drum", "motion_mag_other/drum.mp4", 25.0, (2.0, 6.0), note="drum skin; container rate, band ours"),
    Clip("eye", "motion_mag_other/eye.mp4", 30.0, (2.0, 6.0), note="eye tremor; container rate, band ours"),
    Clip("crane", "motion_mag_other/crane_crop.mp4", 24.0, (0.2, 0.6), step=4, note="crane sway; every 4th frame"),
)
SQUARES = (("square-2.4Hz", "synthetic_known_freq/square_2.4Hz_2000px.avi", 24.0, (2.0, 2.8)),
           ("square-4Hz", "synthetic_known_freq/square_4Hz_2000px.avi", 24.0, (3.5, 4.5)))
CLASSICAL = {"evm": {"mode": "motion"}, "phase": {}}


def _luma(x: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) in [0, 1] → (T, H, W) luma in 8-bit levels."""
    return 255.0 * (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])


def _load(path: Path, side: int, frames: int, step: int) -> np.ndarray:
    v, _ = video_read(path)
    v = v[::step][:frames]
    h, w = v.shape[1:3]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        import cv2  # noqa: PLC0415

        size = (max(8, round(w * s / 8) * 8), max(8, round(h * s / 8) * 8))
        v = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in v])
    return v


def _make(name: str, alpha: float, band: tuple, device: str):
    if name in CLASSICAL:
        return get_magnifier(name, alpha=alpha, band_hz=band, device=device, **CLASSICAL[name])
    return get_magnifier(name, alpha=alpha, band_hz=band, learned_mode="temporal", device=device)


def clip_scores(inp: np.ndarray, out: np.ndarray, fps: float, band: tuple) -> dict:
    x, y = _luma(to_tensor(inp).double()), _luma(to_tensor(out).double())
    bx, by = butter_bandpass(x, fps, band), butter_bandpass(y, fps, band)
    rx = x - x.mean(0) - bx
    ry = y - y.mean(0) - by
    mse = float(((y.mean(0) - x.mean(0)) ** 2).mean())
    return {"gain": float(by.pow(2).mean().sqrt() / bx.pow(2).mean().sqrt().clamp_min(1e-9)),
            "keep_db": psnr_from_mse(mse), "noise_x": float(ry.pow(2).mean().sqrt() / rx.pow(2).mean().sqrt().clamp_min(1e-9))}


def square_factor(inp: np.ndarray, out: np.ndarray, fps: float, band: tuple) -> dict:
    """Band-passed x-centroid amplitude of the dark square, output over input."""
    def centroid(v):
        d = (255.0 - _luma(to_tensor(v).double())).clamp_min(0)
        d = torch.where(d > 0.5 * d.amax(), d, torch.zeros_like(d))   # the square, not the background noise
        xs = torch.arange(d.shape[-1], dtype=d.dtype)
        return (d.sum(1) * xs).sum(-1) / d.sum((1, 2)).clamp_min(1e-9)
    ci, co = centroid(inp), centroid(out)
    ai = float(butter_bandpass(ci[:, None], fps, band).std())
    ao = float(butter_bandpass(co[:, None], fps, band).std())
    return {"amp_in_px": ai, "amp_out_px": ao, "factor_x": ao / max(ai, 1e-9)}


def _busiest_column(inp: np.ndarray, fps: float, band: tuple) -> int:
    b = butter_bandpass(_luma(to_tensor(inp).double()), fps, band)
    return int(b.pow(2).mean((0, 1)).argmax())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="auto", help="comma-separated; auto = evm, phase + learned nets with weights")
    ap.add_argument("--alpha", type=float, default=10.0)
    ap.add_argument("--side", type=int, default=192, help="longest side in px")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--clips", default="all", help="comma-separated clip names (and square-2.4Hz, square-4Hz)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/learned_real", help="folder for results.json and the figures")
    a = ap.parse_args(argv)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if a.methods == "auto":
        methods = list(CLASSICAL) + [n for n in LEARNED if default_weights_path(n).exists()]
    else:
        methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(c.name, c.path, c.fps / c.step, c.band_hz, c.step, False) for c in CLIPS]
    jobs += [(n, p, f, b, 1, True) for n, p, f, b in SQUARES]
    wanted = None if a.clips == "all" else set(a.clips.split(","))
    results = {"alpha": a.alpha, "side": a.side, "frames": a.frames, "threads": torch.get_num_threads(),
               "device": a.device, "torch": torch.__version__, "clips": {}}
    for name, rel, fps, band, step, square in jobs:
        if wanted and name not in wanted:
            continue
        path = DATA / rel
        inp = _load(path, a.side if not square else 10_000, a.frames if not square else 10_000, step)
        row = {"path": rel, "fps": fps, "band_hz": list(band), "shape": list(inp.shape), "methods": {}}
        col = None if square else _busiest_column(inp, fps, band)
        lines = {"input": inp[:, :, col]} if col is not None else {}
        for m in methods:
            t0 = time.perf_counter()
            mag = _make(m, a.alpha, band, a.device)
            with torch.inference_mode():
                y = to_uint8(mag.process(to_tensor(inp, a.device), fps))
            dt = time.perf_counter() - t0
            s = square_factor(inp, y, fps, band) if square else clip_scores(inp, y, fps, band)
            s["s_per_frame"] = dt / len(inp)
            row["methods"][m] = s
            if col is not None:
                lines[m] = y[:, :, col]
            print(json.dumps({"clip": name, "method": m} | {k: round(v, 4) for k, v in s.items()}), flush=True)
        results["clips"][name] = row
        if lines:
            scanline_figure(lines, fps, ("v", col), frame=inp[len(inp) // 2], time_axis="x",
                            title=f"{name}: x = {col} px over time, α = {a.alpha:g}, band {band[0]:g}–{band[1]:g} Hz at {fps:g} fps",
                            path=out / f"{name}_scanlines.png")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print(_table(results))
    return 0


def _table(res: dict) -> str:
    rows = ["| clip | method | gain (α = %g) | keep (dB) | noise × | s/frame |" % res["alpha"], "|---|---|---|---|---|---|"]
    for c, r in res["clips"].items():
        for m, s in r["methods"].items():
            if "factor_x" in s:
                rows.append(f"| {c} | {m} | factor {s['factor_x']:.2f} ({s['amp_in_px']:.3f} → {s['amp_out_px']:.3f} px) | | | {s['s_per_frame']:.3f} |")
            else:
                keep = "∞" if math.isinf(s["keep_db"]) else f"{s['keep_db']:.1f}"
                rows.append(f"| {c} | {m} | {s['gain']:.2f} | {keep} | {s['noise_x']:.2f} | {s['s_per_frame']:.3f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
