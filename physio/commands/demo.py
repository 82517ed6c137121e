"""``physio demo``: the whole pipeline on an embedded default (a synthetic session made on the fly)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from physio.atomic import check_output_folder, output_folder

NAME = "demo"
HELP = "run the pipeline on a synthetic session generated on the fly (no input needed)"
DESCRIPTION = (
    "Generates a short synthetic session with known pulse and breathing (physio synth), writes its video "
    "and signal plot, measures HR and BR with the shipped networks and with POS, and magnifies the pulse "
    "and the breathing with DeepMag on the face/torso box, as physio magnify does (videos, side-by-side, "
    "scan line, pixel traces, learning curve). Everything goes to -o."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", default="demo-output", help="output folder (default: demo-output/)")
    p.add_argument("--task", default="A", choices=list("ABCD"), help="head-motion task of the session (default A)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds (default 20)")
    p.add_argument("--size", default="320x240", help="WxH (default 320x240)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--no-magnify", action="store_true", help="skip the DeepMag videos (faster)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    from physio.demo import run_demo  # noqa: PLC0415

    check_output_folder(args.out)
    with output_folder(args.out):
        summary = run_demo(
            out_dir=Path(args.out), task=args.task, duration_s=args.duration, size=args.size, fps=args.fps,
            seed=args.seed, device=args.device, magnify=not args.no_magnify, log=(lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr)),
        )
    if args.json:
        print(json.dumps(summary))
    else:
        print(json.dumps(summary, indent=1))
    return 0
