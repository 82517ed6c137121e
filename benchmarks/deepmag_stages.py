"""DeepMag throughput per stage: decode → ROI → representation → gradient ascent → reconstruction → encode.

Usage::

    python benchmarks/deepmag_stages.py [--video V.mp4] [--seconds 30] [--size 640x480]
        [--source pulse|resp] [--device cpu|cuda] [--threads N]

Without ``--video`` a synthetic session of ``--seconds`` at ``--size`` is rendered and written
losslessly to a temporary file first (not timed). Stages are timed separately: decoding (whole video
into memory), ROI (face/torso box on the first 3 s, as ``physio magnify --method deepmag`` does), the
DeepMag stream with timers around the representation (downsampling + NFD, or the steerable pyramid's
phase differences) and around the gradient ascent — *reconstruction* is the rest of the stream
(band-pass, inverse representation, upsampling, paste-back) — and H.264 encoding. Prints one JSON
object and a markdown table (seconds and frames/s per stage).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def _timed(module, name: str, acc: dict, key: str):
    fn = getattr(module, name)

    def wrapper(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            acc[key] = acc.get(key, 0.0) + time.perf_counter() - t

    setattr(module, name, wrapper)
    return fn


def main(argv=None) -> int:
    import numpy as np
    import torch

    from physio.io import VideoReader, VideoWriter, video_write
    from physio.magnify import deepmag as dm
    from physio.device import resolve_device
    from physio.roi.crop import detect_box
    from physio.nets.weights import load_net
    from physio.represent import nfd as nfd_mod
    from physio.represent import pyramid as pyr_mod

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--size", default="640x480")
    p.add_argument("--source", default="pulse", choices=("pulse", "resp"))
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(None if args.device == "auto" else args.device)
    tmp = None
    video = args.video
    if video is None:
        from physio.synth import synth_session

        w, h = (int(v) for v in args.size.split("x"))
        print(f"rendering a {args.seconds:g}-s {w}x{h} synthetic session …", file=sys.stderr)
        sess = synth_session(task="B", duration_s=args.seconds, size=(w, h), fps=30.0, seed=3)
        tmp = tempfile.TemporaryDirectory()
        video = str(Path(tmp.name) / "session.mp4")
        video_write(video, sess.frames, fps=sess.fps, lossless=True)
        del sess

    stages: dict = {}
    t = time.perf_counter()
    reader = VideoReader(video, chunk_size=64)
    frames = np.concatenate(list(reader.chunks()))
    fps = reader.fps
    stages["decode"] = time.perf_counter() - t
    n = len(frames)

    t = time.perf_counter()
    region = "face" if args.source == "pulse" else "torso"
    box = detect_box(frames[: int(round(3 * fps))], fps, region)
    stages["roi (first 3 s)"] = time.perf_counter() - t

    acc: dict = {}
    originals = [
        (nfd_mod, "nfd", _timed(nfd_mod, "nfd", acc, "representation")),
        (nfd_mod, "downsample_frames", _timed(nfd_mod, "downsample_frames", acc, "representation")),
        (pyr_mod, "phase_differences", _timed(pyr_mod, "phase_differences", acc, "representation")),
        (dm, "gradient_ascent", _timed(dm, "gradient_ascent", acc, "gradient ascent")),
    ]
    try:
        net, ckpt = load_net(f"{args.source}_cnn", dev)
        rep = ckpt["representation"]
        mag = dm.DeepMag(net, args.source, size=int(rep["size"]), level=int(rep.get("level", 1)), box=box, device=str(dev))
        t = time.perf_counter()
        out = np.concatenate(list(mag.stream(iter([frames[i : i + 64] for i in range(0, n, 64)]), fps)))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        total = time.perf_counter() - t
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)
    stages["representation"] = acc.get("representation", 0.0)
    stages["gradient ascent"] = acc.get("gradient ascent", 0.0)
    stages["reconstruction"] = total - stages["representation"] - stages["gradient ascent"]

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        with VideoWriter(Path(d) / "out.mp4", fps) as wr:
            for i in range(0, n, 64):
                wr.write(out[i : i + 64])
        stages["encode (H.264 crf 18)"] = time.perf_counter() - t
    if tmp is not None:
        tmp.cleanup()

    h, w = frames.shape[1:3]
    res = {"video": args.video or f"synthetic task B, {args.seconds:g} s", "frames": n, "size": f"{w}x{h}",
           "source": args.source, "box": list(box), "device": str(dev), "torch_threads": torch.get_num_threads(),
           "stages_s": {k: round(v, 2) for k, v in stages.items()},
           "deepmag_stream_fps": round(n / total, 2),
           "end_to_end_fps": round(n / sum(stages.values()), 2)}
    print(json.dumps(res))
    print("\n| stage | seconds | frames/s |\n|---|---|---|")
    for k, v in stages.items():
        print(f"| {k} | {v:.2f} | {n / v if v > 0 else float('inf'):.1f} |")
    print(f"| **total** | {sum(stages.values()):.2f} | {res['end_to_end_fps']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
