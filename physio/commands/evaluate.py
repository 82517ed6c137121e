"""``physio evaluate``: HR/BR metric tables per task and method on a cohort with ground truth."""

from __future__ import annotations

import argparse
import json

from physio.atomic import check_output_folder
from physio.rates.methods import RPPG_METHODS

NAME = "evaluate"
HELP = "score PulseNet, RespNet, POS, CHROM and GREEN on a cohort (per task: MAE, RMSE, MAPE, r, SNR)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cohort", required=True, help="HDF5 cohort with pulse/resp ground truth")
    p.add_argument("--split", default="test", choices=("test", "all"),
                   help="test: the checkpoint's test participants if it was trained on this cohort, else all")
    p.add_argument("--methods", default=",".join(("pulse_cnn", "resp_cnn", *RPPG_METHODS)),
                   help="comma-separated (default: the networks and every rPPG method)")
    p.add_argument("--pulse-model", default="pulse_cnn")
    p.add_argument("--resp-model", default="resp_cnn")
    p.add_argument("--bands", default="deepmag", choices=("deepmag", "rppg-toolbox", "mtts-can"))
    p.add_argument("--rppg-mask", default="truth", choices=("truth", "detect"),
                   help="skin region of pos/chrom/green: the cohort's skin mask (truth) or the face tracker's, "
                        "as `physio rates` uses (detect)")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=1, help="sessions evaluated in parallel (default 1)")
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="where the sessions are evaluated: local processes, or a Ray cluster (docs/scale-out.md)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="--engine ray: the cluster (host:port, or auto); default a local cluster of --workers CPUs")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("-o", "--out", metavar="DIR", help="write evaluation.csv, sessions.csv, evaluation.md, Bland-Altman plots")
    p.add_argument("-q", "--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from physio.evaluation.cohort import evaluate_cohort, table_markdown, write_outputs  # noqa: PLC0415

    if args.out:
        check_output_folder(args.out, inputs=[args.cohort])
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    result = evaluate_cohort(args.cohort, methods, args.split, args.pulse_model, args.resp_model, args.bands,
                             None if args.device == "auto" else args.device, progress=not args.quiet,
                             rppg_mask=args.rppg_mask, engine=args.engine, workers=args.workers,
                             address=args.address)
    if args.out:
        result["files"] = write_outputs(result, args.out)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['cohort']}: {result['split']}")
        print(table_markdown(result))
    return 0
