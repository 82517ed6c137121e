"""``physio bench-magnifiers``: the thesis' circle benchmark for learned and classical magnifiers.

    physio bench-magnifiers --quick                       # small, fast; every method that is available
    physio bench-magnifiers --methods oh,lwmm-m1,lwmm-m2 -o bench.json --markdown bench.md
    physio bench-magnifiers --quick --plot sweeps.png              # the sweeps as a figure
    physio bench-magnifiers --methods lwmm-m2 --weights lwmm-m2=runs/m2.pt --videos 5 --no-sweeps
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from physio.atomic import check_output

NAME = "bench-magnifiers"
HELP = "circle benchmark (thesis §3.2.3): MSE/PSNR/SSIM, noise, sub-pixel, factor and no-motion tests"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="128-px frames, radius 20, 3 videos, short sweeps")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    p.add_argument("--methods", default="auto",
                   help="comma-separated: identity, oh, lwmm-m1, lwmm-m2 and registered classical methods; "
                        "'auto' (default): identity + learned nets with weights + registered classical methods")
    p.add_argument("--weights", action="append", default=[], metavar="ARCH=PATH",
                   help="weights file of a learned method (default: models/<arch>.pt); repeatable")
    p.add_argument("--videos", type=int, help="number of videos (default 25; quick 3)")
    p.add_argument("--frames", type=int, help="frames per video (default 10; quick 5)")
    p.add_argument("--size", type=int, help="frame side in pixels (default 256; quick 128)")
    p.add_argument("--noise-sigma", type=float, help="input noise σ in 8-bit levels (default 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-sweeps", action="store_true", help="main table only")
    p.add_argument("--full-sweeps", action="store_true",
                   help="with --quick: the full sweeps' points (noise σ 0-16 in 6 steps, 3 sub-pixel amplitudes, "
                        "factor ×0.2-2; needs --size ≥ 160)")
    p.add_argument("--no-calibrate", action="store_true", help="use each method's nominal factor")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads (0: torch's default; 1 is much faster on a busy machine)")
    p.add_argument("-o", "--out", help="write the full results as JSON")
    p.add_argument("--markdown", help="write the tables as Markdown")
    p.add_argument("--plot", help="write the sweeps' figure (MSE and SSIM per sweep, no-motion test; PNG/PDF/SVG)")


def _parse_weights(items: list[str]) -> dict:
    from physio.errors import InputError  # noqa: PLC0415

    out = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--weights expects ARCH=PATH, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def run(args: argparse.Namespace) -> int:
    if args.out:
        check_output(args.out, what="results file")
    if args.plot:
        if args.no_sweeps:
            from physio.errors import InputError  # noqa: PLC0415

            raise InputError("--plot draws the sweeps: it cannot be combined with --no-sweeps")
        check_output(args.plot, what="figure", suffixes=(".png", ".pdf", ".svg"))
    from physio.errors import InputError, PhysioWarning  # noqa: PLC0415
    from physio.evaluation.circles import (
        BenchMethod,
        CircleBenchConfig,
        IdentityMagnifier,
        circle_benchmark,
        classical_bench_methods,
        format_results,
        learned_bench_method,
    )
    from physio.magnify.learned.nets import ARCHS  # noqa: PLC0415
    from physio.magnify.learned.weights import default_weights_path  # noqa: PLC0415

    if args.threads > 0:
        import torch  # noqa: PLC0415

        torch.set_num_threads(args.threads)
    over = {k: v for k, v in (("n_videos", args.videos), ("frames", args.frames), ("size", args.size),
                              ("noise_sigma", args.noise_sigma)) if v is not None}
    over["seed"] = args.seed
    over["calibrate"] = not args.no_calibrate
    if args.full_sweeps:
        import dataclasses  # noqa: PLC0415

        full = {f.name: f.default for f in dataclasses.fields(CircleBenchConfig)}
        over |= {k: full[k] for k in ("noise_sweep", "subpixel_sweep", "factor_sweep")}
    cfg = CircleBenchConfig.quick(**over) if args.quick else CircleBenchConfig(**over)
    weights = _parse_weights(args.weights)
    unknown = sorted(set(weights) - set(ARCHS))
    if unknown:
        raise InputError(f"--weights for unknown learned method(s) {unknown}; valid: {', '.join(ARCHS)}")
    classical = classical_bench_methods(cfg, args.device)
    if args.methods == "auto":
        names = ["identity"] + [a for a in ARCHS if a in weights or os.path.exists(default_weights_path(a))]
        names += list(classical)
        missing = [a for a in ARCHS if a not in names]
        if missing:
            warnings.warn(f"no weights for {', '.join(missing)} (models/ or --weights): left out", PhysioWarning, stacklevel=1)
    else:
        names = [n.strip() for n in args.methods.split(",") if n.strip()]
    methods = []
    for n in names:
        if n == "identity":
            methods.append(BenchMethod("identity", lambda f: IdentityMagnifier(), 1.0, calibrate=False))
        elif n in ARCHS:
            methods.append(learned_bench_method(n, weights.get(n), device=args.device, cfg=cfg))
        elif n in classical:
            methods.append(classical[n])
        else:
            raise InputError(f"unknown method {n!r}; available: identity, {', '.join(ARCHS)}"
                             + (f", {', '.join(classical)}" if classical else " (no classical registry found)"))
    res = circle_benchmark(methods, cfg, sweeps=not args.no_sweeps,
                           progress=None if args.quiet else lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    res["environment"] = _environment(args.device)
    table = format_results(res)
    print(table)
    if args.out:
        _write(args.out, json.dumps(res, indent=1, default=float))
    if args.markdown:
        _write(args.markdown, table + "\n")
    if args.plot:
        from physio.figures.circles import circle_sweeps_figure  # noqa: PLC0415

        circle_sweeps_figure(res, args.plot)
    return 0


def _write(path: str, text: str) -> None:
    from pathlib import Path  # noqa: PLC0415

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    from physio.atomic import atomic_write_text  # noqa: PLC0415 - library imports stay out of the parser

    atomic_write_text(p, text)


def _environment(device: str) -> dict:
    import platform  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    import torch  # noqa: PLC0415

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=os.path.dirname(__file__)).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": device,
            "cpu": platform.processor() or platform.machine(), "commit": commit}
