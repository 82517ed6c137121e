"""``physio synth``: generate a synthetic cohort with pulse/respiration ground truth."""

from __future__ import annotations

import argparse
import sys
import time

from physio.atomic import check_output
from physio.errors import InputError

NAME = "synth"
HELP = "generate a synthetic cohort (faces with known pulse and breathing, ground-truth magnified videos)"
DESCRIPTION = (
    "Render synthetic participants (skin tones I-VI, face shapes, heart rate 45-150 bpm, breathing "
    "8-30 /min) performing the DeepMag head-motion tasks A-D, and write them as a physio cohort with "
    "pulse and respiration signals, skin/face/torso/background/shoulders masks and, with --magnified, "
    "ground-truth renderings videos/pulse_x{a} and videos/resp_x{a}. See docs/synthetic-data.md."
)


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT.h5", help="cohort file to write (atomically)")
    p.add_argument("--participants", type=int, default=20, help="number of participants (default 20)")
    p.add_argument("--tasks", default="A,B,C,D", help="comma-separated tasks among A,B,C,D (default A,B,C,D)")
    p.add_argument("--duration", type=float, default=30.0, metavar="S", help="seconds per session (default 30)")
    p.add_argument("--size", default="160x120", metavar="WxH", help="frame size (default 160x120)")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--magnified", type=_floats, default=[], metavar="A1,A2",
                   help="magnification factors for ground-truth pulse_x{a} / resp_x{a} renderings")  # fmt: skip
    p.add_argument("--workers", type=int, default=None, help="parallel processes (default min(2, CPUs))")
    p.add_argument("--supersample", type=int, default=2, help="canvas pixels per output pixel (default 2)")
    p.add_argument("--no-noise", action="store_true", help="no sensor noise")
    p.add_argument("--drift", type=float, default=0.005, help="illumination drift std (default 0.005)")
    p.add_argument("--flicker", type=float, default=0.0, help="illumination flicker amplitude (default 0)")
    p.add_argument("--flicker-hz", type=float, default=3.0, help="flicker frequency (default 3 Hz)")
    p.add_argument("--crf", type=int, default=None, help="H.264 round trip of every rendering at this CRF")
    p.add_argument("--compression", choices=("gzip", "lzf", "none"), default="lzf",
                   help="HDF5 frame compression (default lzf: fast; gzip: smaller, portable)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace OUT.h5 if it exists (default: refuse)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from physio.synth import synth_cohort  # noqa: PLC0415

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise InputError("--tasks is empty")
    check_output(args.out, overwrite=args.overwrite, what="cohort file")
    t0 = time.perf_counter()
    path = synth_cohort(
        args.out,
        participants=args.participants,
        tasks=tasks,
        duration_s=args.duration,
        size=args.size,
        fps=args.fps,
        seed=args.seed,
        magnified=args.magnified,
        workers=args.workers,
        supersample=args.supersample,
        noise=not args.no_noise,
        illumination_drift=args.drift,
        flicker=args.flicker,
        flicker_hz=args.flicker_hz,
        crf=args.crf,
        compression=None if args.compression == "none" else args.compression,
        progress=not args.quiet,
    )
    n = args.participants * len(tasks)
    print(f"{path}: {args.participants} participants x {len(tasks)} tasks = {n} sessions "
          f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
    return 0
