"""``physio train-magnifier``: train, export and inspect the learned magnifiers (Oh et al., LW-MM).

    physio train-magnifier train --config configs/lwmm_m1.yaml -o runs/lwmm_m1 [--resume] [--steps N ...]
    physio train-magnifier search --config configs/kldnas_sm1.yaml -o runs/kldnas_sm1 [--resume] [--set KEY=VALUE ...]
    physio train-magnifier make-data data/mag64.h5 --samples 20000 [--config configs/lwmm_m1.yaml]
    physio train-magnifier export runs/lwmm_m1 models/lwmm_m1.pt [--bench quick|full]
    physio train-magnifier info models/lwmm_m1.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from physio.atomic import check_output, check_output_folder

NAME = "train-magnifier"
HELP = "train, search (KL-DNAS), export and inspect the learned motion magnifiers"


def configure(p: argparse.ArgumentParser) -> None:
    from physio.config import add_config_flags  # noqa: PLC0415
    from physio.magnify.learned.search import KLDNASConfig  # noqa: PLC0415
    from physio.magnify.learned.train import MagTrainConfig  # noqa: PLC0415

    sub = p.add_subparsers(dest="tm_command", metavar="ACTION", required=True)
    t = sub.add_parser("train", help="train (or resume) a run; LW-MM trains its noise-free proxy first")
    t.add_argument("--config", required=True, help="YAML config (configs/oh2018.yaml, lwmm_m1.yaml, lwmm_m2.yaml)")
    t.add_argument("-o", "--out", required=True, help="run folder (checkpoints, history.json)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("-q", "--quiet", "--no-progress", dest="no_progress", action="store_true",
                   help="no progress bars (--no-progress: the older spelling)")
    add_config_flags(t, MagTrainConfig)
    t.set_defaults(_action=_train)

    s = sub.add_parser("search", help="KL-DNAS (thesis ch. 4): search a latency-targeted student of LW-MM M1 by "
                       "parts with distillation, then train it into RUN/student")
    s.add_argument("--config", required=True, help="YAML config (configs/kldnas_sm1.yaml, kldnas_sm2.yaml)")
    s.add_argument("-o", "--out", required=True, help="run folder (search_state.pt, search.json, student/)")
    s.add_argument("--resume", action="store_true", help="continue the search (and then the student's training) in --out")
    s.add_argument("-q", "--quiet", "--no-progress", dest="no_progress", action="store_true", help="no progress bars")
    add_config_flags(s, KLDNASConfig)
    s.set_defaults(_action=_search)

    d = sub.add_parser("make-data", help="write synthetic training pairs to an HDF5 file")
    d.add_argument("out", metavar="OUT.h5")
    d.add_argument("--samples", type=int, required=True)
    d.add_argument("--config", help="take the data: section of this training config")
    d.add_argument("--size", type=int, help="crop size in pixels (overrides the config)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d.set_defaults(_action=_make_data)

    e = sub.add_parser("export", help="write a finished run as shipped weights + model card")
    e.add_argument("run", help="run folder of `train`")
    e.add_argument("out", metavar="OUT.pt")
    e.add_argument("--bench", choices=("none", "quick", "full"), default="quick",
                   help="circle benchmark scores for the model card (default: quick)")
    e.add_argument("--train-command", help="the command that trained the run, for the model card "
                   "(default: `physio train-magnifier train --config configs/<name>.yaml -o RUN`)")
    e.set_defaults(_action=_export)

    i = sub.add_parser("info", help="print a weights file's model card, parameters and GFLOPs")
    i.add_argument("weights")
    i.add_argument("--json", action="store_true")
    i.set_defaults(_action=_info)


def run(args: argparse.Namespace) -> int:
    return args._action(args)


def _train(args) -> int:
    from physio.config import apply_overrides, load_config  # noqa: PLC0415
    from physio.magnify.learned.train import MagTrainConfig, train_magnifier  # noqa: PLC0415

    cfg = apply_overrides(load_config(MagTrainConfig, args.config), args)
    check_output_folder(args.out)
    summary = train_magnifier(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    for s in summary["stages"]:
        state = "finished" if s["done"] else f"stopped ({s.get('stopped', 'interrupted')})"
        print(f"{cfg.name} [{s['stage']}]: step {s['step']}, {s['wall_s'] / 3600:.2f} h, {state} → {s['checkpoint']}")
    if not summary["done"]:
        print(f"resume with: physio train-magnifier train --config {args.config} -o {args.out} --resume")
    return 0


def _search(args) -> int:
    from physio.config import apply_overrides, load_config  # noqa: PLC0415
    from physio.magnify.learned.search import KLDNASConfig, run_search  # noqa: PLC0415

    cfg = apply_overrides(load_config(KLDNASConfig, args.config), args)
    check_output_folder(args.out)
    s = run_search(cfg, args.out, resume=args.resume, progress=not args.no_progress)
    lat = s["latency"]
    print(f"{cfg.name}: genotype {json.dumps(s['genotype'])}")
    print(f"{cfg.name}: latency at {lat['size_px']}x{lat['size_px']} on {lat['device']}: target {lat['target_ms']:.1f} ms "
          f"({lat['target_ratio']:.3f} x teacher {lat['teacher_ms']:.1f} ms), expected (LUT x {lat['lut_scale']:.2f}) "
          f"{lat['expected_ms']:.1f} ms"
          + (f", measured {lat['measured_ms'][lat['device']]:.1f} ms" if "measured_ms" in lat else ""))
    print(f"{cfg.name}: {s['student']['params'] / 1e6:.3f} M parameters, {s['student']['gflops_720']:.1f} GFLOPs at 720x720 "
          f"(thesis {s['student']['published']['params_m']} M, {s['student']['published']['gflops_720']})")
    if s["done"]:
        print(f"export with: physio train-magnifier export {s['student_run']} models/{cfg.train.name}.pt")
    else:
        print(f"resume with: physio train-magnifier search --config {args.config} -o {args.out} --resume")
    return 0


def _search_card(run: str) -> dict | None:
    """The KL-DNAS search of a run folder ``RUN/student`` (``RUN/search.json``), for the model card."""
    from pathlib import Path  # noqa: PLC0415

    path = Path(run).parent / "search.json"
    if not path.is_file():
        return None
    s = json.loads(path.read_text())
    if Path(s.get("student_run", "")).resolve() != Path(run).resolve():
        return None
    lat, lut = s["latency"], s["lut"][s["latency"]["device"]]
    return {
        "run": str(path.parent), "genotype": s["genotype"], "teacher": s["teacher"]["path"],
        "latency_device": lat["device"], "latency_size_px": lat["size_px"], "threads": lat["threads"],
        "lut_stat": f"{lut['stat']} of {lut['repeats']} runs", "teacher_ms": lut["teacher"]["total"],
        "target_ratio": lat["target_ratio"], "target_ms": lat["target_ms"],
        "lut_scale": lat["lut_scale"], "expected_lut_ms": lat["expected_lut_ms"]["total"], "expected_ms": lat["expected_ms"],
        "measured_ms": (lat.get("measured_ms") or {}).get(lat["device"]),
        "parts": [{"part": p, "target_ms": round(v["target_ms"], 2), "discrete_ms": round(v["discrete_ms"], 2),
                   "steps": v["steps"], "wall_s": round(v.get("wall_s", 0.0), 1)} for p, v in s["parts"].items()],
        "lut_ms": s["layer_table"],
        "lut_fixed_ms": {k: round(v, 3) for k, v in lut["fixed"].items()},
        "search_wall_s": {k: round(v, 1) for k, v in s["wall_s"].items()},
        "params_vs_thesis": f"{s['student']['params'] / 1e6:.3f} M vs {s['student']['published']['params_m']} M",
        "gflops_720_vs_thesis": f"{s['student']['gflops_720']:.1f} vs {s['student']['published']['gflops_720']}",
        "student_init": s["student"]["initialisation"],
    }


def _make_data(args) -> int:
    from tqdm import tqdm  # noqa: PLC0415

    from physio.config import load_config  # noqa: PLC0415
    from physio.magnify.learned.data import SynthConfig, dataset_write  # noqa: PLC0415
    from physio.magnify.learned.train import MagTrainConfig  # noqa: PLC0415

    data = load_config(MagTrainConfig, args.config).data if args.config else SynthConfig()
    if args.size:
        data = SynthConfig(**(dataclasses.asdict(data) | {"size": args.size}))
    with tqdm(total=args.samples, desc="samples", unit="pair", disable=args.quiet) as bar:
        check_output(args.out, what="dataset file")
        path = dataset_write(args.out, args.samples, data, seed=args.seed, progress=bar.update)
    print(f"{path}: {args.samples} pairs of {data.size}×{data.size} px")
    return 0


def _export(args) -> int:
    from physio.evaluation.circles import CircleBenchConfig  # noqa: PLC0415
    from physio.magnify.learned.complexity import complexity  # noqa: PLC0415
    from physio.magnify.learned.nets import build_net  # noqa: PLC0415
    from physio.magnify.learned.probe import factor_response  # noqa: PLC0415
    from physio.magnify.learned.train import export_run, load_checkpoint  # noqa: PLC0415
    from physio.magnify.learned.weights import load_weights, save_weights  # noqa: PLC0415

    cfg = load_checkpoint(f"{args.run}/last.pt")["config"]
    search = _search_card(args.run)
    default_train = (f"physio train-magnifier search --config configs/{cfg['name']}.yaml -o {search['run']}" if search
                     else f"physio train-magnifier train --config configs/{cfg['name']}.yaml -o {args.run}")
    extra = {"commands": {
        "train": args.train_command or default_train,
        "export": f"physio train-magnifier export {args.run} {args.out} --bench {args.bench}"},
        "complexity_720": complexity(build_net(cfg["arch"], cfg["arch_args"]))}
    if search:
        extra["kldnas_search"] = search
    check_output(args.out, inputs=[args.run], what="weights file")
    path = export_run(args.run, args.out, extra)
    net, info = load_weights(path)
    card = info["card"] | {"factor_response": factor_response(net)}
    if args.bench != "none":
        from physio.evaluation.circles import circle_benchmark, learned_bench_method  # noqa: PLC0415

        bcfg = CircleBenchConfig.quick() if args.bench == "quick" else CircleBenchConfig()
        res = circle_benchmark([learned_bench_method(cfg["arch"], str(path), cfg=bcfg)], bcfg, sweeps=False)
        m = res["main"][cfg["arch"]]["mean"]
        card |= {"circle_benchmark": {
            "setting": args.bench, "videos": bcfg.n_videos, "size_px": bcfg.size, "frames": bcfg.frames,
            "noise_sigma": bcfg.noise_sigma, "factor": res["methods"][cfg["arch"]]["factor"],
            "measured_amp_px": res["methods"][cfg["arch"]]["measured_amp_px"],
            "mse": m["mse"], "psnr_db": m["psnr"], "ssim": m["ssim"]}}
    save_weights(path, net, info["arch"], info["arch_args"], card)
    print(f"{path} (+ model card {path.with_suffix('.md')})")
    return 0


def _info(args) -> int:
    from physio.magnify.learned.complexity import complexity  # noqa: PLC0415
    from physio.magnify.learned.nets import PUBLISHED  # noqa: PLC0415
    from physio.magnify.learned.weights import load_weights  # noqa: PLC0415

    net, info = load_weights(args.weights)
    c = complexity(net)
    out = {"arch": info["arch"], "arch_args": info["arch_args"], "params": c["params"], "gflops_720": c["gflops"],
           "published": PUBLISHED.get(info["arch"]), "card": info["card"]}
    if args.json:
        print(json.dumps(out, default=str))
    else:
        print(f"{args.weights}: {info['arch']} {info['arch_args'] or ''}")
        print(f"parameters {c['params'] / 1e6:.3f} M, {c['gflops']:.1f} GFLOPs at 720×720 "
              f"(published {out['published']['params_m']} M, {out['published']['gflops_720']} GFLOPs)")
        print(json.dumps(info["card"], indent=1, default=str))
    return 0
