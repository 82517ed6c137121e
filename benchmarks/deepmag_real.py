"""DeepMag on real clips: bar 5 on evm_mit/face.mp4 (pulse, the paper's §5.5 step size γ = 1e-3), and
respiration on motion_mag_other/woman.mp4 (no ground truth: a demonstration).

Usage::

    python benchmarks/deepmag_real.py [--video ../shared/data/evm_mit/face.mp4] [--gammas 5e-4,1e-3,2e-3]
    python benchmarks/deepmag_real.py --source resp [--video ../shared/data/motion_mag_other/woman.mp4] [--gammas 1.8e-3,3.6e-3,7.2e-3]

Pulse prints, per γ: the power of the skin-mean green channel at the HR peak (±6 bpm) of the output over
the input's, and the relative growth of the background pixels' temporal variance.  Respiration prints,
per γ: the in-band (0.16–0.5 Hz) vertical motion (phase correlation) of the output over the input's,
over the detected torso box and over its lowest 40 % (shoulders), and the largest change outside the
box (0: DeepMag changes only its region).  The magnified frames are compared in memory (no re-encoding).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    from physio.io import video_read
    from physio.magnify.deepmag import deepmag_magnifier
    from physio.metrics.magnification import band_power_at, region_trace
    from physio.rates.waveform import estimate_rate
    from physio.roi import roi_detect

    repo = Path(__file__).resolve().parents[1]
    p = argparse.ArgumentParser()
    p.add_argument("--source", default="pulse", choices=("pulse", "resp"))
    p.add_argument("--video")
    p.add_argument("--gammas")
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
    rows = []
    for g in (float(v) for v in args.gammas.split(",")):
        mag = deepmag_magnifier(source="pulse", gamma=g, device="cpu")
        out = np.concatenate(list(mag.stream(iter([frames[i : i + 64] for i in range(0, len(frames), 64)]), fps)))
        g_out = region_trace(out, skin)
        var_out = out[:, bg].astype(np.float64).var(axis=0).mean()
        rows.append({"gamma": g, "hr_peak_bpm": round(hr, 2), "power_ratio_at_hr": round(band_power_at(g_out, fps, hr) / p_in, 3),
                     "background_variance_growth": round(var_out / var_in - 1, 4), "box": list(mag.box)})
        print(json.dumps(rows[-1]), flush=True)
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
        mag = deepmag_magnifier(source="resp", gamma=g, device="cpu")
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
