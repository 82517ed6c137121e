"""``physio train``: train PulseNet/RespNet on an HDF5 cohort (participant-independent by default)."""

from __future__ import annotations

import argparse
import json

from physio.atomic import check_output_folder, output_folder

NAME = "train"
HELP = "train a network on an HDF5 cohort (config from configs/*.yaml; any key overridable)"


def configure(p: argparse.ArgumentParser) -> None:
    from physio.config import add_config_flags  # noqa: PLC0415
    from physio.train.loop import TrainConfig  # noqa: PLC0415

    p.add_argument("--config", required=True, help="YAML config (e.g. configs/pulse.yaml)")
    p.add_argument("--cohort", required=True, help="HDF5 cohort file")
    p.add_argument("-o", "--out", default="runs", help="folder for checkpoints (default: runs/)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("-q", "--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress bars (--no-progress: the older spelling)")
    add_config_flags(p, TrainConfig)


def run(args: argparse.Namespace) -> int:
    from physio.config import apply_overrides, load_config  # noqa: PLC0415
    from physio.train.loop import TrainConfig, train  # noqa: PLC0415

    check_output_folder(args.out, inputs=[args.cohort])
    cfg = apply_overrides(load_config(TrainConfig, args.config), args)
    with output_folder(args.out):
        summary = train(cfg, args.cohort, args.out, resume=args.resume, progress=not args.no_progress)
    if summary["rank"] == 0:
        last = summary["history"][-1] if summary["history"] else {}
        print(json.dumps({"checkpoint": summary["checkpoint"], "wall_s": summary["wall_s"], **last}))
    return 0
