"""Export one session of a cohort as an ordinary video + CSV of signals."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from physio.atomic import AtomicFile, output_folder
from physio.cohort.format import Cohort
from physio.errors import CohortSchemaError
from physio.io import VideoWriter

__all__ = ["cohort_export"]


def cohort_export(path: str | os.PathLike, key: str, outdir: str | os.PathLike, crf: int = 18, lossless: bool = False) -> dict:
    """Write ``OUTDIR/video.mp4`` and ``OUTDIR/signals.csv`` for session ``key`` ("P/S").

    ``signals.csv`` has one row per frame with columns ``time_s``, ``pulse``, ``resp`` (the signals
    linearly interpolated at the frame times; an absent signal is an empty column).  Both files are
    written atomically.  Returns the two paths.
    """
    with output_folder(outdir) as out:
        return _export(path, key, out, crf, lossless)


def _export(path, key: str, outdir: Path, crf: int, lossless: bool) -> dict:
    with Cohort(path) as c:
        s = c.session(key)
        if not (s.has_embedded_frames or s.video_path):
            raise CohortSchemaError(f"{key}: has no frames to export")
        times = s.frame_times
        cols = {"time_s": times}
        for name in ("pulse", "resp"):
            cols[name] = s.signal_at_frames(name) if name in s.group else np.full(len(times), np.nan)
        video = outdir / "video.mp4"
        with VideoWriter(video, s.fps, crf=crf, lossless=lossless) as w:
            for chunk in s.iter_frames():
                w.write(chunk)
    csv = outdir / "signals.csv"
    with AtomicFile(csv) as f:
        pd.DataFrame(cols).to_csv(f.tmp, index=False, float_format="%.6g")
    return {"video": str(video), "signals": str(csv)}
