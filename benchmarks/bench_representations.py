"""Time the DeepMag representations on 640x480 frames and print milliseconds per frame.

Usage::

    python benchmarks/bench_representations.py [--device cpu|cuda] [--frames 32] [--repeats 3]

Rows (median of ``--repeats`` runs after one warm-up, divided by the number of frames):

* ``nfd``: RGB frames -> bicubic downsample to 36 x 36 -> normalised frame difference;
* ``nfd_inverse``: rebuild the 36 x 36 frames from the differences (eq. 16);
* ``pyramid build``: complex steerable pyramid (octave, 4 orientations, full height) of Y;
* ``pyramid reconstruct``: back to the image from that pyramid;
* ``phase_differences``: RGB -> Y -> level-2 band -> phase differences resampled to 123 x 123.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

from physio.represent.nfd import downsample_frames, nfd, nfd_inverse
from physio.represent.pyramid import SteerablePyramid, phase_differences, rgb_to_yiq

HEIGHT, WIDTH = 480, 640


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, check=False)
        return out.stdout.strip() or "uncommitted"
    except OSError:
        return "unknown"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def _time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of fn in seconds (one warm-up call first)."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--frames", type=int, default=32, help="frames per timed call (default 32)")
    parser.add_argument("--chunk", type=int, default=16, help="frames per pyramid batch (default 16)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    t = args.frames
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(1, t, 3, HEIGHT, WIDTH, generator=gen).to(device)
    luma = rgb_to_yiq(rgb)[0, :, :1]  # (T, 1, H, W)
    pyr = SteerablePyramid().to(device)
    chunks = [luma[i:i + args.chunk] for i in range(0, t, args.chunk)]

    small = downsample_frames(rgb, 36)
    x = nfd(small)
    built = [pyr.build(c) for c in chunks]
    rows = {
        "nfd (downsample 36 + eq. 14)": lambda: nfd(downsample_frames(rgb, 36)),
        "nfd_inverse (eq. 16, 36x36)": lambda: nfd_inverse(x, small[:, 0]),
        "pyramid build (Y, 6 levels)": lambda: [pyr.build(c) for c in chunks],
        "pyramid reconstruct": lambda: [pyr.reconstruct(p) for p in built],
        "phase_differences (level 2 -> 123)": lambda: phase_differences(rgb, pyr, level=2, chunk=args.chunk),
    }
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    print(f"device={device} ({name}), torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"commit={_commit()}, frames={t}x3x{HEIGHT}x{WIDTH} float32")
    with torch.no_grad():
        for label, fn in rows.items():
            seconds = _time(fn, device, args.repeats)
            print(f"{label:38s} {1000 * seconds / t:9.3f} ms/frame")


if __name__ == "__main__":
    main()
