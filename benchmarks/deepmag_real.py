"""DeepMag on real clips: bar 5 on evm_mit/face.mp4 (pulse, the paper's §5.5 step size γ = 1e-3), and
respiration on motion_mag_other/woman.mp4 (no ground truth: a demonstration).

Usage::

    python benchmarks/deepmag_real.py [--video ../shared/data/evm_mit/face.mp4] [--gammas 5e-4,1e-3,2e-3]
        [--variant coherent|paper] [--sign-from x|band|pooled|net] [--smooth S] [--gains 10,20]
    python benchmarks/deepmag_real.py --source resp [--video ../shared/data/motion_mag_other/woman.mp4] [--gammas 1.8e-3,3.6e-3,7.2e-3]

Pulse prints, per γ: the power of the skin-mean green channel at the HR peak (±6 bpm) of the output over
the input's, the relative growth of the background pixels' temporal variance, the static offset
(``physio.metrics.magnification.static_offset`` on the pixels that are skin in every frame: |temporal
mean| of the change over its in-band RMS), the correlation of the skin's green change between frames 60
and 75 (half a beat apart at face.mp4's 53 bpm: a band-passed magnification flips sign, ≈ −1, a static
pattern does not) and 60 and 200 (4.1 beats apart: ≈ +1 for both), and the RMS change on skin.
``--gains`` runs the coherent variant's gain targets instead of γ values.  Respiration prints,
per γ: the in-band (0.16–0.5 Hz) vertical motion (phase correlation) of the output over the input's,
over the detected torso box and over its lowest 40 % (shoulders), and the largest change outside the
box (0: DeepMag changes only its region).  The magnified frames are compared in memory (no re-encoding).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from physio.io import video_read
    from physio.magnify.deepmag import deepmag_magnifier
    from physio.metrics.magnification import band_power_at, region_trace, static_offset
    from physio.rates.waveform import estimate_rate
    from physio.roi import roi_detect

    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser()
    p.add_argument("--source", default="pulse", choices=("pulse", "resp"))
    p.add_argument("--video")
    p.add_argument("--gammas")
    p.add_argument("--gains", help="pulse: gain targets of the coherent variant (instead of --gammas)")
    p.add_argument("--variant", default="coherent", choices=("coherent", "paper"))
    p.add_argument("--sign-from", choices=("x", "band", "pooled", "net"))
    p.add_argument("--smooth", type=float)
    p.add_argument("--iterations", type=int, default=20, help="gradient-ascent iterations N (default 20, the paper's)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    args = p.parse_args(argv)
    if args.source == "resp":
        return _resp(args, repo)
    frames, fps = video_read(args.video or str(repo.parent / "shared" / "data" / "evm_mit" / "face.mp4"))
    args.gammas = args.gammas or "5e-4,1e-3,2e-3"
    track = roi_detect(iter([frames]), fps, roi="face", torso=False)
    skin = np.stack([track.face_mask(i, frames[i]) for i in range(len(frames))])
    boxes = track.boxes("face")
    bg = np.ones(frames.shape[1:3], bool)  # background: outside every frame's face box
    for x0, y0, x1, y1 in boxes:
        bg[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = False
    g_in = region_trace(frames, skin)
    hr = estimate_rate(g_in, fps, "pulse", derivative=False, with_series=False).rate_per_min
    p_in = band_power_at(g_in, fps, hr)
    var_in = frames[:, bg].astype(np.float64).var(axis=0).mean()
    fixed = skin.mean(0) > 0.99  # skin in every frame

    def pattern_r(change, a, b):
        return float(np.corrcoef(change[a], change[b])[0, 1])

    settings = ([{"gain": float(v)} for v in args.gains.split(",")] if args.gains
                else [{"gamma": float(v)} for v in args.gammas.split(",")])
    for setting in settings:
        mag = deepmag_magnifier(source="pulse", device="cpu", variant=args.variant, sign_from=args.sign_from,
                                smooth_cells=args.smooth, iterations=args.iterations,
                                precision=args.precision, **setting)
        t0 = time.perf_counter()
        out = np.concatenate(list(mag.stream(iter([frames[i : i + 64] for i in range(0, len(frames), 64)]), fps)))
        wall = time.perf_counter() - t0
        g_out = region_trace(out, skin)
        var_out = out[:, bg].astype(np.float64).var(axis=0).mean()
        change = out[:, fixed, 1].astype(np.float64) - frames[:, fixed, 1]
        row = {"variant": args.variant, "sign_from": mag.sign_from, "smooth": mag.smooth_cells, **setting,
               "iterations": args.iterations, "precision": args.precision, "magnify_s": round(wall, 2),
               "gamma_used": mag.gamma, "gain_scale": mag.gain_scale, "hr_peak_bpm": round(hr, 2),
               "power_ratio_at_hr": round(band_power_at(g_out, fps, hr) / p_in, 3),
               "background_variance_growth": round(var_out / var_in - 1, 4),
               "static_offset": round(static_offset(out, frames, fixed, fps, (0.7, 2.5)), 4),
               "r_change_60_75": round(pattern_r(change, 60, 75), 3) if len(out) > 75 else None,
               "r_change_60_200": round(pattern_r(change, 60, 200), 3) if len(out) > 200 else None,
               "rms_change_skin": round(float(np.sqrt((change**2).mean())), 3), "box": list(mag.box)}
        print(json.dumps(row), flush=True)
    return 0


def _resp(args, repo: Path) -> int:
    from physio.io import video_read
    from physio.magnify.deepmag import deepmag_magnifier
    from physio.metrics.magnification import band_rms
    from physio.rates.motion import vertical_position as vertical_motion

    frames, fps = video_read(args.video or str(repo.parent / "shared" / "data" / "motion_mag_other" / "woman.mp4"))
    band = (0.16, 0.5)
    base: dict = {}  # the input's in-band motion per box (the detected box is the same for every γ)
    for g in (float(v) for v in (args.gammas or "1.8e-3,3.6e-3,7.2e-3").split(",")):
        mag = deepmag_magnifier(source="resp", gamma=g, device="cpu", sign_from=args.sign_from, smooth_cells=args.smooth)
        out = np.concatenate(list(mag.stream(iter([frames[i : i + 64] for i in range(0, len(frames), 64)]), fps)))
        x0, y0, x1, y1 = mag.box
        strip = (x0, int(y1 - 0.4 * (y1 - y0)), x1, y1)
        row = {"gamma": g, "box": list(mag.box)}
        for name, box in (("motion_ratio_torso", mag.box), ("motion_ratio_shoulders", strip)):
            if box not in base:
                base[box] = band_rms(vertical_motion(frames, box), fps, band)
            row[name] = round(band_rms(vertical_motion(out, box), fps, band) / base[box], 3)
        inside = np.zeros(frames.shape[1:3], bool)
        inside[y0:y1, x0:x1] = True
        d = np.abs(out.astype(int) - frames)
        row["max_change_outside_box"] = int(d[:, ~inside].max())
        row["mean_change_in_box"] = round(float(d[:, inside].mean()), 3)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
