"""Throughput and memory of the classical magnifiers (EVM colour/motion, phase, acceleration).

Throughput: a generated 640x480 clip (default 60 frames, 30 fps) is magnified whole by each method
(one ``process`` call: the clip is shorter than a block); frames/s excludes decoding and encoding.

    python benchmarks/bench_magnifiers.py --device cpu --frames 60 --size 640x480

Memory (``--memory``): a long clip (default 10 minutes at 30 fps, 160x120) is generated chunk by chunk
and streamed through :func:`physio.magnify.base.magnify_stream`, one subprocess per method; each
reports its peak RSS after the first tenth of the stream and at the end (bounded: it does not grow
with the length).

    python benchmarks/bench_magnifiers.py --memory --minutes 10 --size 160x120

Prints one JSON object per line (method, config, numbers, device, torch version, commit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from physio import PULSE_BAND_HZ  # noqa: E402
from physio.magnify.registry import get_magnifier  # noqa: E402

CONFIGS = {
    "evm-color": ("evm", {"mode": "color"}),
    "evm-motion": ("evm", {"mode": "motion"}),
    "phase": ("phase", {}),
    "vam": ("vam", {}),
}


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _meta(device: str) -> dict:
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or platform.machine()
    return {"device": device, "device_name": name, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "commit": _commit()}


def _clip(n: int, h: int, w: int, fps: float, start: int = 0) -> np.ndarray:
    """A textured frame with a 1.2 Hz sub-pixel wobble and colour pulse (uint8, (n, h, w, 3))."""
    t = (np.arange(start, start + n) / fps)[:, None, None]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = 0.3 * np.sin(2 * np.pi * 1.2 * t)
    v = 128 + 50 * np.sin(2 * np.pi * (xx[None] - d) / 16.0) * np.cos(2 * np.pi * yy[None] / 24.0)
    rgb = np.stack([v + 10, v + 2 * np.sin(2 * np.pi * 1.2 * t), v - 10], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def throughput(args) -> None:
    w, h = (int(v) for v in args.size.split("x"))
    frames = torch.from_numpy(_clip(args.frames, h, w, args.fps)).permute(0, 3, 1, 2).float().div(255)
    frames = frames.to(args.device)
    for label in args.methods:
        name, kw = CONFIGS[label]
        mag = get_magnifier(name, band_hz=PULSE_BAND_HZ, device=args.device, **kw)
        with torch.inference_mode():
            mag.process(frames[: min(8, args.frames)], args.fps)  # warm-up (mask caches, kernels)
            times = []
            for _ in range(args.repeats):
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                mag.process(frames, args.fps)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
        best = min(times)
        print(json.dumps({"bench": "throughput", "method": label, "config": mag.describe(), "frames": args.frames,
                          "size": f"{w}x{h}", "seconds": round(best, 3), "fps": round(args.frames / best, 2),
                          **_meta(args.device)}), flush=True)


_CHILD = """
import json, resource, sys, time, numpy as np, torch
sys.path.insert(0, {repo!r})
from benchmarks.bench_magnifiers import CONFIGS, _clip
from physio import PULSE_BAND_HZ
from physio.magnify.base import magnify_stream
from physio.magnify.registry import get_magnifier
from physio.evaluation.memory import peak_rss_mb
label, n, h, w, fps, device, threads = {label!r}, {n}, {h}, {w}, {fps}, {device!r}, {threads!r}
if threads:
    torch.set_num_threads(threads)
name, kw = CONFIGS[label]
mag = get_magnifier(name, band_hz=PULSE_BAND_HZ, device=device, **kw)
def chunks():
    for i in range(0, n, 50):
        yield _clip(min(50, n - i), h, w, fps, start=i)
peaks = {{}}
def progress(k, done=[0]):
    done[0] += k
    peaks[done[0]] = peak_rss_mb()
t0 = time.perf_counter()
total = sum(len(c) for c in magnify_stream(mag, chunks(), fps, progress=progress))
dt = time.perf_counter() - t0
early = max(v for k, v in peaks.items() if k <= max(n // 10, min(peaks)))
print(json.dumps({{"frames": total, "margin_frames": mag.margin_frames(fps), "blocks": len(peaks),
                  "peak_rss_mb_first_tenth": round(early, 1), "peak_rss_mb_end": round(max(peaks.values()), 1),
                  "seconds": round(dt, 1), "fps": round(total / dt, 1), "threads": torch.get_num_threads()}}))
"""


def memory(args) -> None:
    w, h = (int(v) for v in args.size.split("x"))
    n = int(round(args.minutes * 60 * args.fps))
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    for label in args.methods:
        code = _CHILD.format(repo=str(REPO), label=label, n=n, h=h, w=w, fps=args.fps, device=args.device,
                             threads=args.threads)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        if res.returncode != 0:
            print(json.dumps({"bench": "memory", "method": label, "error": res.stderr.strip()[-500:]}), flush=True)
            continue
        out = json.loads(res.stdout.strip().splitlines()[-1])
        video_mb = n * h * w * 3 / 2**20
        print(json.dumps({"bench": "memory", "method": label, "minutes": args.minutes, "size": f"{w}x{h}",
                          "video_uint8_mb": round(video_mb, 1), "video_float32_mb": round(4 * video_mb, 1),
                          **_meta(args.device), **out}), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--size", default=None, help="WxH (default 640x480; 160x120 with --memory)")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--methods", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--memory", action="store_true", help="stream a long generated clip and report peak RSS")
    p.add_argument("--minutes", type=float, default=10.0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.size = args.size or ("160x120" if args.memory else "640x480")
    (memory if args.memory else throughput)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
