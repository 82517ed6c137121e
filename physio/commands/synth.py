"""``physio synth``: generate a synthetic cohort with pulse/respiration ground truth."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from physio.atomic import check_output
from physio.errors import InputError

NAME = "synth"
HELP = "generate a synthetic cohort (faces with known pulse and breathing, ground-truth magnified videos)"
DESCRIPTION = (
    "Render synthetic participants (skin tones I-VI, face shapes, heart rate 45-150 bpm, breathing "
    "8-30 /min) performing the DeepMag head-motion tasks A-D, and write them as a physio cohort with "
    "pulse and respiration signals, skin/face/torso/background/shoulders masks and, with --magnified, "
    "ground-truth renderings videos/pulse_x{a} and videos/resp_x{a}. With --from-video VIDEO..., make "
    "semi-real sessions instead: each real clip (one participant) has its own pulse removed from the skin "
    "and a known pulse, breathing and task head motion put in. See docs/synthetic-data.md."
)

_COHORT_SUFFIXES = (".h5", ".hdf5", ".hdf")
# options of the rendered cohort that mean nothing with --from-video: (attribute, default, flag)
_RENDER_ONLY = (("participants", None, "--participants"), ("workers", None, "--workers"),
                ("supersample", 2, "--supersample"), ("no_noise", False, "--no-noise"),
                ("drift", 0.005, "--drift"), ("flicker", 0.0, "--flicker"), ("flicker_hz", 3.0, "--flicker-hz"),
                ("crf", None, "--crf"), ("camera", "basic", "--camera"))  # fmt: skip


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", metavar="OUT.h5", nargs="?",
                   help="cohort file to write (atomically); with --from-video it may also come last, after the "
                        "videos (then it must end in .h5)")  # fmt: skip
    p.add_argument("--from-video", nargs="+", metavar="VIDEO", default=None,
                   help="semi-real sessions from these real clips (one participant each) instead of rendered "
                        "people; see docs/synthetic-data.md")  # fmt: skip
    p.add_argument("--sessions-per-video", type=int, default=1, metavar="N",
                   help="--from-video: sessions per clip and task (default 1)")
    p.add_argument("--participants", type=int, default=None, help="number of participants (default 20)")
    p.add_argument("--tasks", default="A,B,C,D", help="comma-separated tasks among A,B,C,D (default A,B,C,D)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="seconds per session (default 30; --from-video: the first 10 s of each clip)")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="frame size (default 160x120; --from-video: the clip's own, long side at most 640)")
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate (default 30; --from-video: overrides the clip's declared rate)")
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
    p.add_argument("--camera", default="basic", choices=("basic", "realistic"),
                   help="basic: Gaussian sensor noise (the first wave's cohorts); realistic: noise like real clips, "
                        "H.264 at a drawn CRF 14-23, auto-exposure/white-balance drift, motion blur")
    p.add_argument("--compression", choices=("gzip", "lzf", "none"), default="lzf",
                   help="HDF5 frame compression (default lzf: fast; gzip: smaller, portable)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace OUT.h5 if it exists (default: refuse)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _from_video_output(args: argparse.Namespace) -> tuple[str, list[str]]:
    """OUT.h5 and the videos of ``--from-video``: OUT.h5 either before the option or as its last value."""
    videos = list(args.from_video)
    out = args.out
    if out is None:
        if len(videos) < 2 or Path(videos[-1]).suffix.lower() not in _COHORT_SUFFIXES:
            raise InputError("missing OUT.h5: give it first (physio synth OUT.h5 --from-video VIDEO...) or "
                             "after the videos, ending in .h5")
        out = videos.pop()
    return out, videos


def _run_from_video(args: argparse.Namespace, tasks: list[str]) -> int:
    from physio.synth.semireal import semireal_cohort  # noqa: PLC0415

    for attr, default, flag in _RENDER_ONLY:
        if getattr(args, attr) != default:
            raise InputError(f"{flag} does not apply to --from-video (it sets the rendered cohort)")
    out, videos = _from_video_output(args)
    for v in videos:
        if not Path(v).is_file():
            raise InputError(f"{v}: no such video file")
    check_output(out, overwrite=args.overwrite, what="cohort file", inputs=videos)
    duration = 10.0 if args.duration is None else args.duration
    t0 = time.perf_counter()
    path = semireal_cohort(
        out,
        videos,
        sessions_per_video=args.sessions_per_video,
        tasks=tasks,
        seed=args.seed,
        magnified=args.magnified,
        duration_s=duration,
        size=args.size,
        fps=args.fps,
        compression=None if args.compression == "none" else args.compression,
        progress=not args.quiet,
    )
    n = len(videos) * len(tasks) * args.sessions_per_video
    print(f"{path}: {len(videos)} clips x {len(tasks)} tasks x {args.sessions_per_video} = {n} semi-real sessions "
          f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
    return 0


def run(args: argparse.Namespace) -> int:
    from physio.synth import synth_cohort  # noqa: PLC0415

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise InputError("--tasks is empty")
    if args.from_video is not None:
        return _run_from_video(args, tasks)
    if args.out is None:
        raise InputError("missing OUT.h5 (the cohort file to write)")
    if args.sessions_per_video != 1:
        raise InputError("--sessions-per-video applies only to --from-video")
    participants = 20 if args.participants is None else args.participants
    check_output(args.out, overwrite=args.overwrite, what="cohort file")
    t0 = time.perf_counter()
    path = synth_cohort(
        args.out,
        participants=participants,
        tasks=tasks,
        duration_s=30.0 if args.duration is None else args.duration,
        size="160x120" if args.size is None else args.size,
        fps=30.0 if args.fps is None else args.fps,
        seed=args.seed,
        magnified=args.magnified,
        workers=args.workers,
        supersample=args.supersample,
        noise=not args.no_noise,
        illumination_drift=args.drift,
        flicker=args.flicker,
        flicker_hz=args.flicker_hz,
        crf=args.crf,
        camera=args.camera,
        compression=None if args.compression == "none" else args.compression,
        progress=not args.quiet,
    )
    n = participants * len(tasks)
    print(f"{path}: {participants} participants x {len(tasks)} tasks = {n} sessions "
          f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)  # fmt: skip
    return 0
