"""Per-pixel realism of a camera: how often a pixel's own colour carries the pulse, and its temporal noise.

Usage:
    python benchmarks/camera_realism.py VIDEO_OR_COHORT [...] [--session P/S] [--seconds 10] [--scales 1,0.3]

For each input (a video file, or a cohort file's session — the first one unless ``--session``) over
its first ``--seconds``:

* ``skin px``: the skin mask — the project's face tracker on a video (``RoiTrack.face_mask``), the
  stored ground-truth ``skin`` mask in a cohort;
* ``pulse Hz``: the pulse frequency — a cohort's ground-truth PPG peak; on a video, the spectral peak
  (0.7–3 Hz) of the skin-mean green;
* ``peak@pulse frame %`` / ``skin %``: the fraction of all pixels / of skin pixels (always-skin over
  the window) whose own green time series has its 0.7–3 Hz spectral peak within 3 bpm of the pulse,
  at each ``--scales`` factor (frames resized with area averaging first);
* ``noise DN``: the temporal noise of the skin, ``std(g(t+1) − g(t)) / √2`` of the green channel over
  always-skin pixels (grey levels, full scale) — slow changes (pulse, drift) contribute next to nothing
  to a one-frame difference; motion does, so read it on still clips;
* ``spatial DN``: the skin's green standard deviation within a frame after a 5-px median (texture).

Prints one markdown table (``docs/synthetic-data.md`` "Per-pixel realism").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

BAND = (0.7, 3.0)


def _peak_hz(x: np.ndarray, fs: float, chunk: int = 4096) -> np.ndarray:
    """Spectral peak in BAND of each column of ``x`` (T, N) (Hann window, 8× zero padding; columns in
    chunks, so memory stays ~chunk × nfft)."""
    t = x.shape[0]
    nfft = 8 * int(2 ** np.ceil(np.log2(t)))
    f = np.fft.rfftfreq(nfft, 1 / fs)
    sel = (f >= BAND[0]) & (f <= BAND[1])
    win = np.hanning(t).astype(np.float32)[:, None]
    out = np.empty(x.shape[1])
    for a in range(0, x.shape[1], chunk):
        xc = x[:, a:a + chunk]
        xc = (xc - xc.mean(axis=0, keepdims=True)) * win
        spec = np.abs(np.fft.rfft(xc, n=nfft, axis=0)[sel])
        out[a:a + chunk] = f[sel][np.argmax(spec, axis=0)]
    return out


def _load(path: str, session: str | None, seconds: float):
    from physio.cohort import Cohort
    from physio.io import VideoReader, video_info

    p = Path(path)
    if p.suffix == ".h5":
        with Cohort(p) as c:
            s = c[session] if session else next(iter(c.sessions()))
            n = min(s.n_frames, int(round(seconds * s.fps)))
            frames = s.read_frames(0, n)
            m = s.mask("skin")
            skin = (m[:n] if m.ndim == 3 else np.broadcast_to(m, (n, *m.shape))) > 0
            ppg = s.signal_at_frames("pulse")[:n]
            pulse = float(_peak_hz(ppg[:, None], s.fps)[0])
            return f"{p.name}:{s.key}", frames, skin, float(s.fps), pulse
    from physio.roi import roi_detect

    info = video_info(p)
    frames = VideoReader(p, end_s=seconds).read_all(max_bytes=8 << 30)
    track = roi_detect(iter([frames]), info.fps, roi="face", torso=False, source=str(p))
    skin = np.stack([track.face_mask(i) for i in range(len(frames))])
    g = np.array([frames[i, ..., 1][skin[i]].mean() if skin[i].any() else np.nan for i in range(len(frames))])
    g = np.where(np.isnan(g), np.nanmean(g), g)
    return p.name, frames, skin, float(info.fps), float(_peak_hz(g[:, None], info.fps)[0])


def measure(name, frames, skin, fps, pulse_hz, scales) -> dict:
    g = frames[..., 1].astype(np.float32)
    always = skin.all(axis=0)
    row = {"input": name, "size": f"{frames.shape[2]}x{frames.shape[1]}", "skin_px": int(always.sum()),
           "pulse_hz": pulse_hz}
    d = np.diff(g, axis=0)[:, always]
    row["noise_dn"] = float(d.std() / np.sqrt(2)) if d.size else float("nan")
    med = np.stack([cv2.medianBlur(frames[i, ..., 1], 5) for i in range(0, len(frames), max(1, len(frames) // 10))])
    row["spatial_dn"] = float(np.mean([m[always].std() for m in med])) if always.any() else float("nan")
    tol = 3.0 / 60.0
    for s in scales:
        if s == 1:
            gs, ms = g, always
        else:
            h, w = max(1, int(round(g.shape[1] * s))), max(1, int(round(g.shape[2] * s)))
            gs = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in g])
            ms = cv2.resize(always.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.99
        pk = _peak_hz(gs.reshape(len(gs), -1), fps).reshape(gs.shape[1:])
        hit = np.abs(pk - pulse_hz) <= tol
        row[f"frame_pct_{s:g}"] = 100.0 * float(hit.mean())
        row[f"skin_pct_{s:g}"] = 100.0 * float(hit[ms].mean()) if ms.any() else float("nan")
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--session", default=None, help="P/S of a cohort input (default: its first session)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--scales", default="1,0.3")
    a = ap.parse_args(argv)
    scales = [float(s) for s in a.scales.split(",")]
    cols = ["input", "size", "skin_px", "pulse_hz", "noise_dn", "spatial_dn"]
    for s in scales:
        cols += [f"frame_pct_{s:g}", f"skin_pct_{s:g}"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for path in a.inputs:
        row = measure(*_load(path, a.session, a.seconds), scales)
        print("| " + " | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in cols) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
