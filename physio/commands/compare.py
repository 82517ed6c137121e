"""``physio compare``: every magnification method on the same inputs and device, scored and reported."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from contextlib import nullcontext

from physio.atomic import check_output_folder, output_folder
from physio.errors import InputError

NAME = "compare"
HELP = "compare magnification methods on a cohort or videos: PSNR/SSIM, fidelity, gain, rates, runtime; HTML report"
DESCRIPTION = (
    "Run DeepMag and the baselines on the same inputs and device (DeepMag paper, Table 1/2 and §5.4). "
    "Each method's factor is calibrated on the task-A clips to a common in-band gain (the ground-truth "
    "rendering's when the cohort has one, else DeepMag's at its default step) and kept for the other "
    "tasks; --factors fixes factors instead. -o DIR writes report.html, results.csv, sessions.csv, "
    "compare.json and figures/."
)


def _factors(text: str) -> dict:
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        try:
            k, v = item.split("=")
            out[k.strip()] = float(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected METHOD=FACTOR[,…] (e.g. evm=20,deepmag=6e-5), got {item!r}") from None
    return out


def _gain(text: str):
    if text == "auto":
        return text
    try:
        g = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--gain must be 'auto' or a number > 1, got {text!r}") from None
    if not g > 1:
        raise argparse.ArgumentTypeError(f"--gain must be > 1, got {g}")
    return g


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="*", metavar="VIDEO", help="videos to compare on (instead of --cohort)")
    p.add_argument("--cohort", help="HDF5 cohort (synthetic cohorts carry ground-truth renderings)")
    p.add_argument("--split", default="test", choices=("test", "all"),
                   help="test: the shipped network's test participants if it was trained on this cohort, else all")
    p.add_argument("--participants", help="comma-separated participants (default: the split's)")
    p.add_argument("--tasks", help="comma-separated tasks, e.g. A,D (default: all)")
    p.add_argument("--seconds", type=float, help="use only the first SECONDS of each session/video")
    p.add_argument("--source", required=True, choices=("pulse", "resp"))
    p.add_argument("--methods", help="comma-separated (default: deepmag,evm,vam for pulse; deepmag,phase,vam for resp; deepmag-full = DeepMag on the whole frame)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--factors", type=_factors, default={}, help="fixed factors, e.g. evm=20,deepmag=1e-4 (not calibrated)")
    p.add_argument("--gain", type=_gain, default="auto", help="target in-band gain for calibration (default auto)")
    p.add_argument("--calibration-seconds", type=float, default=10.0, help="seconds of each task-A clip used to calibrate")
    p.add_argument("--calibrate-task", default="A", metavar="TASK",
                   help="the task whose clips set the matched gain (default A, as the paper; e.g. D to match "
                        "the gains under head motion)")
    p.add_argument("--alpha", type=float, help="ground-truth rendering to use ({source}_x{alpha}); default: the cohort's")
    p.add_argument("--gamma-sweep", type=_floats, default=[], metavar="M1,M2",
                   help="also run DeepMag at these multiples of its γ on task C (paper Table 2), e.g. 0.5,1,2,4")
    p.add_argument("--ablations", action="store_true",
                   help="also run DeepMag without L1 normalisation and without sign correction, with the §5.4 figures")
    p.add_argument("--workers", type=int, default=1, help="clip x method runs in parallel (default 1)")
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="where the clip x method runs go: local processes, or a Ray cluster (docs/scale-out.md)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="--engine ray: the cluster (host:port, or auto); default a local cluster of --workers CPUs")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("-o", "--out", metavar="DIR", help="write report.html, results.csv, sessions.csv, compare.json, figures/")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from physio.evaluation.compare import cohort_clips, compare, video_clips  # noqa: PLC0415
    from physio.evaluation.report import markdown_table, write_report  # noqa: PLC0415

    if bool(args.cohort) == bool(args.videos):
        raise InputError("give either --cohort FILE or one or more VIDEO files")
    if args.out:
        check_output_folder(args.out, inputs=[args.cohort, *(args.videos or [])])
    split = lambda s: [v.strip() for v in s.split(",") if v.strip()] if s else None  # noqa: E731
    if args.cohort:
        clips = cohort_clips(args.cohort, args.source, split=args.split, participants=split(args.participants),
                             tasks=split(args.tasks), seconds=args.seconds, alpha=args.alpha)
    else:
        clips = video_clips(args.videos, seconds=args.seconds)
    out = Path(args.out) if args.out else None
    command = "physio " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["compare"] else \
        "physio compare (called from Python)"
    with output_folder(out) if out else nullcontext():
        result = compare(clips, args.source, split(args.methods), device=None if args.device == "auto" else args.device,
                         factors=args.factors, gain=args.gain, calibration_s=args.calibration_seconds,
                         calibrate_task=args.calibrate_task,
                         gamma_sweep=args.gamma_sweep, ablations=args.ablations,
                         figures_dir=(out / "figures") if out else None, progress=not args.quiet,
                         engine=args.engine, workers=args.workers, address=args.address)
        result["command"] = command
        if out:
            result["files"] = write_report(result, out, command)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"device: {result['device']}")
        print(markdown_table(result))
    return 0
