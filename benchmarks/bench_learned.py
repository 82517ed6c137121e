"""Size, FLOPs and per-frame runtime of the learned magnifiers (Oh et al., LW-MM M1 and M2).

For each network: parameters, GFLOPs (2 × conv MACs, forward hooks on the meta device) at 720×720 (the
thesis' Table 3.2 resolution) and at the runtime size, and the wall time of one dynamic-mode frame
(one ``net(ref, cur, alpha)`` forward on a frame pair; weights do not matter, random ones are used):
``--warmup`` untimed runs, then the median of ``--repeats``.

    python benchmarks/bench_learned.py                       # 640x480, CPU, all threads
    python benchmarks/bench_learned.py --size 720x720 --threads 2 --repeats 5
    python benchmarks/bench_learned.py --shipped --threads 2   # the networks in models/ (searched KL-DNAS students)

Prints one JSON object per network (numbers, size, device, threads, torch version, commit) and a
summary line with the runtime ratios (the thesis: M2 ≈ 2.5× faster than Oh on an RTX 2080 at 720×720).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from physio.magnify.learned.complexity import complexity  # noqa: E402
from physio.magnify.learned.nets import ARCHS, PUBLISHED, build_net  # noqa: E402
from physio.magnify.learned.weights import default_weights_path, load_weights  # noqa: E402


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                              cwd=REPO).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def time_forward(net, width: int, height: int, device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Seconds per forward of one frame pair (after ``warmup`` untimed runs)."""
    m = net.multiple
    h, w = height + (-height) % m, width + (-width) % m  # what LearnedMagnifier pads to
    ref = torch.rand(1, 3, h, w, device=device) * 2 - 1
    cur = ref + 0.01 * torch.randn_like(ref)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            net(ref, cur, 10.0)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=_size, default=(640, 480), help="WxH of the timed frames (default 640x480)")
    p.add_argument("--archs", default=",".join(ARCHS), help="comma-separated (default: all)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--shipped", action="store_true",
                   help="build each network from its models/<name>.pt (the searched KL-DNAS genotypes, the shipped "
                        "weights) instead of the default architecture with random weights")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    w, h = args.size
    common = {"device": str(device), "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
              "torch": torch.__version__, "commit": _commit()}
    medians = {}
    for arch in args.archs.split(","):
        torch.manual_seed(0)
        if args.shipped:
            net, _ = load_weights(default_weights_path(arch))
            net = net.to(device).eval()
        else:
            net = build_net(arch).to(device).eval()
        c720 = complexity(net, 720, 720)
        csize = complexity(net, h + (-h) % net.multiple, w + (-w) % net.multiple)
        times = time_forward(net, w, h, device, args.warmup, args.repeats)
        med = statistics.median(times)
        medians[arch] = med
        print(json.dumps({
            "arch": arch, "params": c720["params"], "gflops_720": round(c720["gflops"], 1),
            "published": PUBLISHED[arch], f"gflops_{w}x{h}": round(csize["gflops"], 1),
            "runtime_ms_per_frame": round(1000 * med, 1), "runtime_ms_all": [round(1000 * t, 1) for t in times],
            "size": [w, h], "shipped": args.shipped, **common}), flush=True)
    if "oh" in medians:
        ratios = {a: round(medians["oh"] / t, 2) for a, t in medians.items() if a != "oh"}
        print(json.dumps({"summary": f"speed-up over oh at {w}x{h}", "ratios": ratios,
                          "thesis_rtx2080_720": {"lwmm-m1": round(95 / 142, 2), "lwmm-m2": round(95 / 38, 2)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
