"""HR through the path users run (`physio rates`) on cohort sessions, for one or more PulseNets.

`physio evaluate` feeds a network the cached representation of the cohort's training ROI (the
synthetic face mask's box).  Users run `physio rates` on a video file: the frames go through a codec,
and the face box comes from the detector.  This script writes each session to a video file and runs
`physio.rates.measure.measure_rates` on it, so the two paths can be compared (docs/evaluation.md, Session 5):

    python benchmarks/rates_user_path.py --cohort COHORT.h5 --participants p003,p004 \
        --models models/pulse_cnn.pt,/work/runs/pulse320b/pulse_cnn.pt,pos,chrom

Prints one line per session (key, reference HR, each model's HR, then "BR", the reference BR and the
first call's BR) and per-model MAE per task (and the BR's).
`--models` takes PulseNet checkpoints and the rPPG methods pos, chrom, green (`physio rates --method`).
The face is detected once per session (the first model's `measure_rates` call) and the track is handed
to the others, so every model sees the same boxes and masks; the rest of `measure_rates` (decoding,
network or rPPG, rates) runs per model as a user's call would.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

RPPG = ("pos", "chrom", "green")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cohort", required=True)
    p.add_argument("--participants", default=None, help="comma-separated (default: all)")
    p.add_argument("--tasks", default=None, help="comma-separated tasks (default: all)")
    p.add_argument("--models", default="pulse_cnn",
                   help="comma-separated PulseNet checkpoints and/or rPPG methods (pos, chrom, green)")
    p.add_argument("--resp", default="motion", choices=("motion", "cnn"),
                   help="respiration estimator of every call (`physio rates --resp-method`); the BR of each "
                        "session's first call is printed after the HRs and scored per task")
    p.add_argument("--every", type=int, default=None,
                   help="face detector cadence of the session's first call (`physio rates --every`; default 10)")
    p.add_argument("--torso-every", type=int, default=None, help="Pose cadence (`physio rates --torso-every`)")
    p.add_argument("--lossless", action="store_true",
                   help="bit-exact RGB files (libx264rgb); default x264 crf 0 in YUV 4:2:0, as the quick start")
    args = p.parse_args(argv)

    from physio.cohort import Cohort
    from physio.evaluation.cohort import _truth_rate
    from physio.io import video_write
    from physio.rates.measure import measure_rates

    import time

    t_start = time.perf_counter()
    models = args.models.split(",")
    parts = args.participants.split(",") if args.participants else None
    err: dict[str, dict[str, list[float]]] = {m: {} for m in models}
    br_err: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="physio-userpath-") as tmp, Cohort(args.cohort) as c:
        for s in c.sessions(participants=parts):
            if args.tasks and s.task not in args.tasks.split(","):
                continue
            truth = _truth_rate(s, "pulse", "deepmag")[0]
            br_truth = _truth_rate(s, "resp", "deepmag")[0]
            kw = {"lossless": True} if args.lossless else {"crf": 0}
            video = video_write(Path(tmp) / "session.mp4", s.iter_frames(chunk=128), fps=s.fps, **kw)  # streamed
            row = [s.key, f"{truth:.1f}"]
            br_row: list[str] = []
            track = None
            for m in models:
                pick = {"method": m} if m in RPPG else {"pulse_model": m}
                report, arrays = measure_rates(video, resp_method=args.resp, progress=False, track=track,
                                               every=args.every, torso_every=args.torso_every, **pick)
                if track is None:  # the session's first call: its BR
                    br_row = ["BR", f"{br_truth:.1f}", "none" if report.br_bpm is None else f"{report.br_bpm:.1f}"]
                    if report.br_bpm is not None:
                        br_err.setdefault(s.task, []).append(abs(report.br_bpm - br_truth))
                track = arrays["track"]
                err[m].setdefault(s.task, []).append(abs(report.hr_bpm - truth))
                row.append(f"{report.hr_bpm:.1f}")
            print(*row, *br_row, flush=True)
    for m in models:
        per_task = {t: round(float(np.mean(v)), 2) for t, v in sorted(err[m].items())}
        print(m, "MAE (bpm)", per_task, "all", round(float(np.mean(sum(err[m].values(), []))), 2))
    if br_err:
        per_task = {t: round(float(np.mean(v)), 2) for t, v in sorted(br_err.items())}
        print(f"BR ({args.resp})", "MAE (/min)", per_task, "all", round(float(np.mean(sum(br_err.values(), []))), 2))
    print(f"{time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
