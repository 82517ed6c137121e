"""UBFC-rPPG: a folder of ``subject*/vid.avi`` with ``subject*/ground_truth.txt`` (three
whitespace-separated rows: PPG values, HR values, timestamps in seconds).  Videos are stored by
reference with their SHA-256 (default) or embedded.  ``physio cohort import-ubfc FOLDER OUT.h5``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from physio.cohort.format import CohortWriter
from physio.errors import InputError
from physio.io import VideoReader

__all__ = ["import_ubfc", "read_ubfc_ground_truth", "NAME", "HELP", "configure", "run"]

NAME = "ubfc"
HELP = "build a cohort from a UBFC-rPPG folder (subject*/vid.avi + ground_truth.txt)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder")
    p.add_argument("out", metavar="OUT.h5")
    p.add_argument("--embed", action="store_true", help="store decoded frames instead of a video reference")
    p.add_argument("--task", default="rest", help="task label for every session (default: rest)")


def run(args: argparse.Namespace) -> list[str]:
    return import_ubfc(args.folder, args.out, embed=args.embed, task=args.task)


def read_ubfc_ground_truth(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a UBFC-rPPG ``ground_truth.txt``: returns ``(ppg, hr_bpm, times_s)``."""
    p = Path(path)
    try:
        rows = [line.split() for line in p.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc})") from None
    if len(rows) < 3:
        raise InputError(f"{p}: expected 3 rows (PPG, HR, time), found {len(rows)}")
    try:
        ppg, hr, t = (np.asarray([float(v) for v in r], dtype=np.float64) for r in rows[:3])
    except ValueError as exc:
        raise InputError(f"{p}: non-numeric value ({exc})") from None
    if not (len(ppg) == len(hr) == len(t)) or len(t) < 2:
        raise InputError(f"{p}: rows have different lengths ({len(ppg)}, {len(hr)}, {len(t)})")
    return ppg, hr, t


def import_ubfc(folder: str | os.PathLike, out: str | os.PathLike, embed: bool = False, task: str = "rest") -> list[str]:
    """Build a cohort from a UBFC-rPPG-style folder; returns the imported session keys.

    Each ``subject*`` sub-folder becomes participant ``subject*`` with one session ``s01``.  The PPG
    timestamps are shifted so the first is 0 (the frames' clock starts at the first frame).  ``fs`` is
    the median sampling rate of the timestamps.  With ``embed`` the frames are decoded and stored in
    the cohort; otherwise the video is referenced by a path relative to the cohort file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    subjects = sorted(d for d in root.iterdir() if d.is_dir() and d.name.lower().startswith("subject"))
    if not subjects:
        raise InputError(f"{root}: no subject* folders (UBFC-rPPG layout: subject*/vid.avi + ground_truth.txt)")
    keys = []
    with CohortWriter(out, description=f"imported from UBFC-rPPG layout at {root}") as w:
        for d in subjects:
            video = d / "vid.avi"
            gt = d / "ground_truth.txt"
            if not video.exists() or not gt.exists():
                raise InputError(f"{d}: needs vid.avi and ground_truth.txt")
            ppg, hr, t = read_ubfc_ground_truth(gt)
            t = t - t[0]
            fs = 1.0 / float(np.median(np.diff(t)))
            reader = VideoReader(video)
            common = dict(
                fps=reader.fps,
                task=task,
                pulse=ppg,
                pulse_fs=fs,
                pulse_times=t,
                pulse_kind="ppg",
                participant_attrs={"source": "UBFC-rPPG", "mean_hr_bpm": float(np.mean(hr))},
            )
            if embed:
                w.add_session(d.name, "s01", frames=reader.chunks(), **common)
            else:
                w.add_session(
                    d.name, "s01", video_path=video, n_frames=reader.frame_count,
                    frame_size=(reader.width, reader.height), **common,
                )
            keys.append(f"{d.name}/s01")
    return keys
