"""Time the region-of-interest detectors on 640x480 frames and print milliseconds per frame.

Usage::

    python benchmarks/bench_roi.py [--clip PATH] [--frames 60] [--calibrate]

The clip (default ``../shared/data/evm_mit/face.mp4``) is resized to 640 x 480 while reading.  Rows
(wall time over ``--frames`` consecutive frames after 5 warm-up frames, divided by the frame count;
one process, whatever threads MediaPipe/OpenCV use):

* ``mesh``: MediaPipe FaceMesh in video (tracking) mode, one face;
* ``detection``: MediaPipe FaceDetection, short-range model;
* ``haar``: OpenCV Haar cascade (frontal face, default settings of :class:`HaarDetector`);
* ``pose``: MediaPipe Pose (model_complexity=1) → shoulder box;
* ``mesh skin mask``: redrawing one frame's skin mask from the stored landmarks;
* ``roi_detect (mesh + pose)``: the default whole-pipeline call (tracking, smoothing, filling);
* ``no face: mesh→detection→haar``: a frame of noise, where every fallback runs and fails.

``--calibrate`` also prints the offsets of FaceDetection and Haar boxes from the FaceMesh face-oval box
(medians over ``skimage.data.astronaut()`` and face.mp4 frames 0, 60, …, 300), the numbers behind
:data:`physio.roi.detectors.BOX_CALIBRATION`.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from contextlib import closing
from pathlib import Path

import numpy as np

from physio.io import VideoReader
from physio.roi import (
    BOX_CALIBRATION,
    PoseDetector,
    make_face_detector,
    mesh_skin_mask,
    roi_detect,
)

HEIGHT, WIDTH = 480, 640
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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


def _per_frame_ms(fn, frames: np.ndarray, warmup: int = 5) -> float:
    for f in frames[:warmup]:
        fn(f)
    t0 = time.perf_counter()
    for f in frames:
        fn(f)
    return (time.perf_counter() - t0) / len(frames) * 1e3


def _calibrate(clip: Path) -> None:
    from skimage.data import astronaut  # noqa: PLC0415

    images = [astronaut()]
    reader = VideoReader(clip)
    for chunk in reader.chunks(chunk_size=60):
        images.append(chunk[0])  # frames 0, 60, ..., 300
    mesh = make_face_detector("mesh", static_image_mode=True)
    others = {"detection": make_face_detector("detection"), "haar": make_face_detector("haar")}
    # uncalibrated boxes: undo the offsets the detectors apply
    rel: dict[str, list] = {k: [] for k in others}
    for img in images:
        ref = mesh.detect(img)
        if ref is None:
            continue
        for name, det in others.items():
            d = det.detect(img)
            if d is None:
                continue
            dx0, dy0, dx1, dy1 = BOX_CALIBRATION[name]
            # calibrated = raw + (dx0 w, dy0 h, dx1 w, dy1 h) with w, h of raw; solve for raw
            w = (d.box[2] - d.box[0]) / (1 + dx1 - dx0)
            h = (d.box[3] - d.box[1]) / (1 + dy1 - dy0)
            raw = d.box - np.array([dx0 * w, dy0 * h, dx1 * w, dy1 * h])
            rel[name].append((ref.box - raw) / np.array([w, h, w, h]))
    for name, rows in rel.items():
        r = np.array(rows)
        print(f"calibration {name:9s} ({len(r)} images): median offsets (dx0, dy0, dx1, dy1) = "
              f"{np.round(np.median(r, axis=0), 3).tolist()}  (in use: {BOX_CALIBRATION[name]})")
    for det in (mesh, *others.values()):
        det.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=DATA / "evm_mit" / "face.mp4")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    import av  # noqa: PLC0415
    import cv2  # noqa: PLC0415
    import mediapipe  # noqa: PLC0415
    reader = VideoReader(args.clip, size=(WIDTH, HEIGHT), chunk_size=args.frames + 5)
    with closing(reader.chunks()) as chunks:
        frames = next(chunks)
    print(f"# physio {_commit()} | {_cpu_name()} | {os.cpu_count()} CPUs | mediapipe {mediapipe.__version__} "
          f"| opencv {cv2.__version__} | av {av.__version__}")
    print(f"# clip {args.clip.name} resized to {WIDTH}x{HEIGHT}, {len(frames) - 5} timed frames")
    rows = []
    for name in ("mesh", "detection", "haar"):
        det = make_face_detector(name)
        rows.append((name, _per_frame_ms(det.detect, frames)))
        if name == "mesh":
            pts = det.detect(frames[0]).points
        det.close()
    pose = PoseDetector()
    rows.append(("pose", _per_frame_ms(pose.detect, frames)))
    pose.close()
    rows.append(("mesh skin mask", _per_frame_ms(lambda f: mesh_skin_mask(pts, f.shape), frames)))
    t0 = time.perf_counter()
    roi_detect([frames[5:]], fps=30.0)
    rows.append(("roi_detect (mesh + pose)", (time.perf_counter() - t0) / (len(frames) - 5) * 1e3))
    noise = np.random.default_rng(0).integers(0, 256, (10, HEIGHT, WIDTH, 3), dtype=np.uint8)
    chain = [make_face_detector(n) for n in ("mesh", "detection", "haar")]
    rows.append(("no face: mesh→detection→haar",
                 _per_frame_ms(lambda f: [d.detect(f) for d in chain], noise, warmup=2)))
    for d in chain:
        d.close()
    width = max(len(r[0]) for r in rows)
    print(f"{'detector':{width}s}  ms/frame")
    for name, ms in rows:
        print(f"{name:{width}s}  {ms:8.2f}")
    if args.calibrate:
        _calibrate(args.clip)


if __name__ == "__main__":
    main()
