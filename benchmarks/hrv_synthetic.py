"""Heart-rate variability through `physio rates` on rendered sessions whose beats are known.

Usage: python benchmarks/hrv_synthetic.py [--seeds 101,102,103,104,105,106] [--tasks A,C] [--methods cnn,pos]
                                         [--size 320x240] [--duration 30] [--work DIR]

Renders one session per seed and task (`synth_session`, participant drawn from the seed), writes it
losslessly, runs `measure_rates` (face detection, crop, PulseNet or POS; torso motion for breathing) and
prints one markdown row per run: truth and measured mean HR, SDNN, RMSSD, their errors, and the
intervals used; then the mean |RMSSD error| and the count within 10 % per task and method.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np

from physio.errors import PhysioWarning
from physio.io import video_write
from physio.rates.hrv import hrv_measures
from physio.rates.measure import measure_rates
from physio.synth import participant_sample, synth_session


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="101,102,103,104,105,106")
    p.add_argument("--tasks", default="A,C")
    p.add_argument("--methods", default="cnn,pos")
    p.add_argument("--size", default="320x240")
    p.add_argument("--duration", type=float, default=30.0)
    p.add_argument("--work", default=None, help="folder for the rendered videos (default: a temporary one)")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore", PhysioWarning)
    work = Path(args.work or tempfile.mkdtemp(prefix="physio-hrv-"))
    work.mkdir(parents=True, exist_ok=True)
    errors: dict = {}
    print("| seed | task | method | HR truth / est | SDNN truth / est (err) | RMSSD truth / est (err) | IBIs used | level |")
    print("|---|---|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        for task in args.tasks.split(","):
            s = synth_session(participant_sample(np.random.default_rng(seed), name="p001"), task=task,
                              duration_s=args.duration, size=args.size, seed=seed)
            video = video_write(work / f"s{seed}{task}.mkv", s.frames, fps=s.fps, lossless=True)
            ibi = np.diff(s.beat_times) * 1000.0
            truth = hrv_measures(ibi, np.ones(ibi.size, bool))
            for method in args.methods.split(","):
                report, _ = measure_rates(video, method=method, resp_method="motion", progress=False)
                h = report.extra["hrv"]
                e_rm = 100 * (h["rmssd_ms"] / truth["rmssd_ms"] - 1)
                e_sd = 100 * (h["sdnn_ms"] / truth["sdnn_ms"] - 1)
                errors.setdefault((task, method), []).append(e_rm)
                print(f"| {seed} | {task} | {method} | {truth['mean_hr_bpm']:.1f} / {h['mean_hr_bpm']:.1f} | "
                      f"{truth['sdnn_ms']:.1f} / {h['sdnn_ms']:.1f} ({e_sd:+.1f} %) | "
                      f"{truth['rmssd_ms']:.1f} / {h['rmssd_ms']:.1f} ({e_rm:+.1f} %) | {h['n_ibi']} of {ibi.size} | "
                      f"{report.extra['confidence']['hrv']['level']} |", flush=True)
    print()
    for (task, method), v in errors.items():
        v = np.abs(v)
        print(f"task {task}, {method}: mean |RMSSD error| {v.mean():.1f} %, within 10 %: {(v <= 10).sum()} of {v.size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
