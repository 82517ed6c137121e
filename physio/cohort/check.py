"""Validation of cohort files: report every problem, with the participant/session it concerns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physio.cohort.format import FORMAT_NAME, _decode_attr, file_sha256

__all__ = ["Problem", "cohort_check"]

_TIME_TOL_S = 0.1
"""How far signal and frame clocks may disagree at either end before it is reported (seconds)."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a cohort file."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _check_signal(sgrp: h5py.Group, where: str, name: str, duration_s: float, out: list[Problem]) -> None:
    if name not in sgrp:
        return
    ds = sgrp[name]
    if ds.ndim != 1:
        out.append(Problem(where, f"{name} must be 1-D, has shape {ds.shape}"))
        return
    sig = ds[()]
    if len(sig) == 0:
        out.append(Problem(where, f"{name} is empty"))
        return
    if not np.issubdtype(sig.dtype, np.number):
        out.append(Problem(where, f"{name} is not numeric ({sig.dtype})"))
        return
    bad = ~np.isfinite(sig)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        out.append(Problem(where, f"{name} has {int(bad.sum())} NaN/inf values (first at sample {first})"))
    fs = ds.attrs.get("fs")
    if fs is None:
        out.append(Problem(where, f"{name} has no fs attribute"))
        return
    fs = float(fs)
    if not (np.isfinite(fs) and fs > 0):
        out.append(Problem(where, f"{name} fs must be positive, is {fs}"))
        return
    tname = f"{name}_times"
    if tname not in sgrp:
        out.append(Problem(where, f"missing {tname}"))
        return
    t = sgrp[tname][()]
    if len(t) != len(sig):
        out.append(Problem(where, f"{tname} has {len(t)} samples but {name} has {len(sig)}"))
        return
    if not np.all(np.isfinite(t)):
        out.append(Problem(where, f"{tname} has NaN/inf values"))
        return
    if len(t) > 1:
        dt = np.diff(t)
        if np.any(dt <= 0):
            out.append(Problem(where, f"{tname} is not strictly increasing"))
            return
        measured = 1.0 / float(np.median(dt))
        if abs(measured - fs) > 0.01 * fs:
            out.append(Problem(where, f"{name} fs attribute {fs:g} Hz but its timestamps give {measured:.4g} Hz"))
    span_end = float(t[-1])
    if t[0] > _TIME_TOL_S or span_end < duration_s - 1.0 / fs - _TIME_TOL_S - 1e-9:
        out.append(
            Problem(where, f"{name} covers {t[0]:.2f}–{span_end:.2f} s but the frames cover 0–{duration_s:.2f} s")
        )


def _check_session(cohort_path: Path, sgrp: h5py.Group, where: str, out: list[Problem]) -> None:
    attrs = {k: _decode_attr(v) for k, v in sgrp.attrs.items()}
    for key in ("fps", "n_frames", "height", "width", "task"):
        if key not in attrs:
            out.append(Problem(where, f"missing attribute {key!r}"))
    fps = attrs.get("fps")
    if fps is not None and not (np.isfinite(float(fps)) and float(fps) > 0):
        out.append(Problem(where, f"fps must be positive, is {fps}"))
        fps = None
    n = attrs.get("n_frames")
    has_frames = "frames" in sgrp
    has_video = "video_path" in attrs
    has_cache = "cache" in sgrp and len(sgrp["cache"]) > 0
    if has_frames and has_video:
        out.append(Problem(where, "has both embedded frames and a video reference"))
    if not (has_frames or has_video or has_cache):
        out.append(Problem(where, "has no frames, no video reference and no cached representation"))
    if n is not None and int(n) <= 0:
        out.append(Problem(where, "empty session (n_frames = 0)"))
    if has_frames:
        ds = sgrp["frames"]
        if ds.ndim != 4 or ds.shape[-1] != 3 or ds.dtype != np.uint8:
            out.append(Problem(where, f"frames must be uint8 (T, H, W, 3), are {ds.dtype} {ds.shape}"))
        else:
            if n is not None and ds.shape[0] != int(n):
                out.append(Problem(where, f"frames has {ds.shape[0]} frames but n_frames = {n}"))
            if ds.shape[0] == 0:
                out.append(Problem(where, "frames dataset is empty"))
            if "height" in attrs and "width" in attrs and ds.shape[1:3] != (int(attrs["height"]), int(attrs["width"])):
                out.append(Problem(where, f"frames are {ds.shape[1:3]} but height/width say {attrs['height']}x{attrs['width']}"))
    if has_video:
        vp = Path(str(attrs["video_path"]))
        vp = vp if vp.is_absolute() else cohort_path.parent / vp
        if not vp.exists():
            out.append(Problem(where, f"referenced video {vp} does not exist"))
        elif "video_sha256" not in attrs:
            out.append(Problem(where, "video reference without video_sha256"))
        elif file_sha256(vp) != attrs["video_sha256"]:
            out.append(Problem(where, f"referenced video {vp} has changed (checksum mismatch)"))
    if "frame_times" not in sgrp:
        out.append(Problem(where, "missing frame_times"))
    elif n is not None:
        ft = sgrp["frame_times"][()]
        if len(ft) != int(n):
            out.append(Problem(where, f"frame_times has {len(ft)} entries but n_frames = {n}"))
        elif not np.all(np.isfinite(ft)):
            out.append(Problem(where, "frame_times has NaN/inf values"))
        elif len(ft) > 1 and np.any(np.diff(ft) <= 0):
            out.append(Problem(where, "frame_times is not strictly increasing"))
        elif len(ft) > 1 and fps is not None:
            measured = 1.0 / float(np.median(np.diff(ft)))
            if abs(measured - float(fps)) > 0.01 * float(fps):
                out.append(Problem(where, f"fps attribute {float(fps):g} but frame_times give {measured:.4g} fps"))
    if "pulse" not in sgrp and "resp" not in sgrp:
        out.append(Problem(where, "has neither a pulse nor a respiration signal"))
    if fps is not None and n is not None and int(n) > 0:
        duration = (int(n) - 1) / float(fps)
        for name in ("pulse", "resp"):
            _check_signal(sgrp, where, name, duration, out)
    if "videos" in sgrp and n is not None and "height" in attrs:
        for vname, ds in sgrp["videos"].items():
            if ds.shape != (int(n), int(attrs["height"]), int(attrs["width"]), 3):
                out.append(Problem(where, f"video {vname!r} has shape {ds.shape}, expected ({n}, {attrs['height']}, {attrs['width']}, 3)"))
    if "masks" in sgrp and "height" in attrs:
        for mname, ds in sgrp["masks"].items():
            if ds.shape[-2:] != (int(attrs["height"]), int(attrs["width"])):
                out.append(Problem(where, f"mask {mname!r} has shape {ds.shape}"))


def cohort_check(path: str | os.PathLike) -> list[Problem]:
    """Validate a cohort file; return every problem found (empty list ⇒ valid).

    Checks the format attributes, every participant and session: required attributes and datasets,
    frame counts against ``n_frames`` and ``frame_times``, signal/timestamp lengths, NaN/inf values,
    ``fs`` attributes against timestamps, signal coverage of the frames' time span, external video
    checksums, extra renderings' and masks' shapes, and empty sessions/participants.
    """
    p = Path(path)
    if not p.exists():
        return [Problem(str(p), "no such file")]
    try:
        h5 = h5py.File(p, "r")
    except OSError as exc:
        return [Problem(str(p), f"not a readable HDF5 file ({exc})")]
    out: list[Problem] = []
    with h5:
        fmt = _decode_attr(h5.attrs.get("format", None))
        if fmt != FORMAT_NAME:
            out.append(Problem(str(p), f"format attribute is {fmt!r}, expected {FORMAT_NAME!r}"))
        if "format_version" not in h5.attrs:
            out.append(Problem(str(p), "missing format_version attribute"))
        if "participants" not in h5:
            out.append(Problem(str(p), "missing /participants group"))
            return out
        if len(h5["participants"]) == 0:
            out.append(Problem(str(p), "cohort has no participants"))
        for pname, pgrp in h5["participants"].items():
            if "sessions" not in pgrp or len(pgrp["sessions"]) == 0:
                out.append(Problem(pname, "participant has no sessions"))
                continue
            for sname, sgrp in pgrp["sessions"].items():
                _check_session(p, sgrp, f"{pname}/{sname}", out)
    return out
