"""``physio roi``: show and tabulate the face/torso regions the pipeline looks at."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack, closing
from pathlib import Path

from physio.atomic import check_output, check_output_folder

NAME = "roi"
HELP = "detect and track the face (skin mask) and torso regions; write an overlay video and a CSV"
DESCRIPTION = (
    "Detect the face (MediaPipe FaceMesh, falling back to FaceDetection and a Haar cascade) and the "
    "shoulder/chest region (MediaPipe Pose, else derived from the face) in every frame, track and fill "
    "them, and write OUT/overlay.mp4 (skin mask tinted, boxes coloured by status, status text) and "
    "OUT/roi.csv (one row per frame). If OUT ends in .mp4/.mkv/.mov, the video is OUT and the CSV is OUT "
    "with the suffix .csv. Exits with an error if too few frames show a face; --roi full uses the whole "
    "frame explicitly. See docs/roi.md."
)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {v}")
    return v


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", metavar="VIDEO", help="input video")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output folder (overlay.mp4 + roi.csv), or a .mp4/.mkv/.mov path (CSV beside it)")
    p.add_argument("--detector", choices=("mesh", "detection", "haar"), default="mesh",
                   help="primary face detector (default mesh); later ones are fallbacks")
    p.add_argument("--no-fallback", action="store_true", help="use only the primary face detector")
    p.add_argument("--every", type=_positive_int, default=None, metavar="K",
                   help="run the face detector every K frames, optical flow following the face between "
                        "(default 10; 1 = detect on every frame)")
    p.add_argument("--torso-every", type=_positive_int, default=None, metavar="K",
                   help="run Pose every K frames, optical flow between (default: 3 x --every)")
    p.add_argument("--no-torso", action="store_true", help="do not locate the torso")
    p.add_argument("--roi", choices=("face", "full"), default="face",
                   help="'full' uses the whole frame explicitly (no detection)")
    p.add_argument("--fps", type=float, default=None, help="frame-rate override")
    p.add_argument("--start", type=float, default=None, metavar="S", help="first second to read")
    p.add_argument("--end", type=float, default=None, metavar="S", help="second to stop before")
    p.add_argument("--min-face-fraction", type=_fraction, default=0.5, metavar="F",
                   help="fail unless a face is found in at least this fraction of frames (default 0.5)")
    p.add_argument("--skin-gate", choices=("none", "adaptive", "fixed"), default="none",
                   help="YCrCb skin-colour gating of the drawn mask (default none)")
    p.add_argument("--crf", type=int, default=20, help="H.264 quality of the overlay (default 20)")
    p.add_argument("--overwrite", action="store_true", help="replace output files that exist (default: refuse)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _outputs(out: str) -> tuple[Path, Path]:
    from physio.io import WRITABLE_SUFFIXES  # noqa: PLC0415

    p = Path(out)
    if p.suffix.lower() in WRITABLE_SUFFIXES:
        return p, p.with_suffix(".csv")
    return p / "overlay.mp4", p / "roi.csv"


def _counted(chunks, bar):
    with closing(chunks):
        for chunk in chunks:
            yield chunk
            bar.update(len(chunk))


def run(args: argparse.Namespace) -> int:
    import numpy as np  # noqa: PLC0415
    from tqdm import tqdm  # noqa: PLC0415

    from physio.errors import VideoReadError, VideoWriteError  # noqa: PLC0415
    from physio.io import VideoReader, VideoWriter  # noqa: PLC0415
    from physio.roi import roi_detect, roi_overlay  # noqa: PLC0415

    video_path, csv_path = _outputs(args.output)
    folder_out = video_path.parent == Path(args.output)  # OUT/overlay.mp4 + OUT/roi.csv: physio's own names
    if folder_out:
        check_output_folder(args.output, inputs=[args.video])
    for out, what in ((video_path, "overlay video"), (csv_path, "ROI table")):
        check_output(out, inputs=[args.video], overwrite=args.overwrite or folder_out, what=what)
    reader = VideoReader(args.video, start_s=args.start, end_s=args.end, fps=args.fps)
    n = len(reader)
    with tqdm(total=n, unit="frame", file=sys.stderr, disable=args.quiet or None, desc="roi: detect") as bar, \
            closing(_counted(reader.chunks(), bar)) as chunks:
        track = roi_detect(
            chunks, reader.fps, roi=args.roi, detector=args.detector,
            fallbacks=None if args.no_fallback else "auto", every=args.every, torso=not args.no_torso,
            torso_every=args.torso_every, min_face_fraction=args.min_face_fraction,
            start_frame=reader.start_frame, source=str(args.video))
    i = 0
    with ExitStack() as stack:
        writer = stack.enter_context(VideoWriter(video_path, reader.fps, crf=args.crf))
        bar = stack.enter_context(
            tqdm(total=n, unit="frame", file=sys.stderr, disable=args.quiet or None, desc="roi: overlay"))
        chunks = stack.enter_context(closing(_counted(reader.chunks(), bar)))
        for chunk in chunks:
            if i + len(chunk) > len(track):
                raise VideoReadError(f"{args.video}: decoded more frames on the second pass than the first")
            out = np.empty_like(chunk)
            for k, frame in enumerate(chunk):
                mask = track.face_mask(i + k, frame, args.skin_gate) if args.roi == "face" else None
                out[k] = roi_overlay(frame, track.frame(i + k), mask)
            writer.write(out)
            i += len(chunk)
        if i != len(track):
            raise VideoReadError(f"{args.video}: decoded {i} frames on the second pass, {len(track)} on the first")
    from physio.atomic import AtomicFile  # noqa: PLC0415 - library imports stay out of the parser

    f = AtomicFile(csv_path)
    tmp = f.tmp
    try:
        track.to_dataframe().to_csv(tmp, index=False)
        f.commit()
    except OSError as exc:
        f.abort()
        raise VideoWriteError(f"{csv_path}: cannot write the CSV ({exc})") from None
    s = track.summary()
    print(f"{video_path} and {csv_path}: {s['frames']} frames, face found in {100 * s['face_found_fraction']:.1f}% "
          f"(status {s['face_status']}, detector {s['face_detector']}), torso {s['torso_status']}, "
          f"face-box jitter median {s['face_jitter_px_median']:.2f} px, max {s['face_jitter_px_max']:.2f} px")
    return 0
