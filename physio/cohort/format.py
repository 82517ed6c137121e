"""The physio HDF5 cohort format: writing and lazy reading.

One HDF5 file holds a cohort: participants → sessions.  The layout is documented precisely in
``docs/cohort-format.md``; this module is its reference implementation.  Summary::

    /                               attrs: format="physio-cohort", format_version="1.0"
    /participants/<P>/              attrs: participant metadata (skin_type, hr_bpm, ...)
    /participants/<P>/sessions/<S>/ attrs: task, fps, n_frames, height, width (+ free metadata)
        frames        uint8 (T, H, W, 3) RGB, chunked (≤16, H, W, 3) along time, gzip
          -- or --    attrs video_path (relative to the cohort file or absolute), video_sha256
        frame_times   float64 (T,)  seconds from the session's first frame
        pulse         float64 (N,)  attrs fs (Hz), kind ("ppg"|"bvp"|"derivative"), unit
        pulse_times   float64 (N,)  seconds, same clock as frame_times
        resp          float64 (M,)  attrs fs (Hz), kind, unit          (optional)
        resp_times    float64 (M,)                                     (optional)
        videos/<name> uint8 (T, H, W, 3) extra renderings with the same frames (e.g. pulse_x10)
        masks/<name>  uint8 (T, H, W) or (H, W) region masks (e.g. skin, shoulders)  (optional)
        cache/<key>/  cached representations, written by later stages (attrs: params as JSON)

Files are written atomically: :class:`CohortWriter` writes ``.NAME.partial-PID.h5`` and renames it
on :meth:`CohortWriter.close`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from physio.atomic import AtomicFile
from physio.errors import CohortSchemaError, InputError
from physio.io import VideoReader, video_info

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CohortWriter",
    "Cohort",
    "Session",
    "file_sha256",
]

FORMAT_NAME = "physio-cohort"
FORMAT_VERSION = "1.0"
FRAME_CHUNK_T = 16
"""Frames per HDF5 chunk along time."""

_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _check_name(kind: str, name: str) -> str:
    name = str(name)
    if not name or not set(name) <= _NAME_OK or name in (".", ".."):
        raise InputError(f"{kind} name {name!r} must be non-empty and use only letters, digits, '_-.'")
    return name


def file_sha256(path: str | os.PathLike, block: int = 1 << 20) -> str:
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def _attr_value(v):
    """Convert a Python value to something HDF5 attributes store faithfully."""
    if isinstance(v, (dict, list, tuple)) and not (
        isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v)
    ):
        return json.dumps(v)
    if v is None:
        return "null"
    return v


def _decode_attr(v):
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _write_frames(group: h5py.Group, name: str, frames, compression: str | None) -> int:
    """Write frames (array or iterable of chunks (t,H,W,3) uint8) to a resizable dataset."""
    chunks = [frames] if isinstance(frames, np.ndarray) else frames
    ds = None
    n = 0
    for chunk in chunks:
        arr = np.asarray(chunk)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise InputError(f"{name}: frames must be (T, H, W, 3), got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise InputError(f"{name}: frames must be uint8, got {arr.dtype}")
        if ds is None:
            h, w = arr.shape[1:3]
            ds = group.create_dataset(
                name,
                shape=(0, h, w, 3),
                maxshape=(None, h, w, 3),
                dtype=np.uint8,
                chunks=(FRAME_CHUNK_T, h, w, 3),
                compression=compression,
                shuffle=compression is not None,
            )
        elif arr.shape[1:] != ds.shape[1:]:
            raise InputError(f"{name}: frame size changed from {ds.shape[1:3]} to {arr.shape[1:3]}")
        ds.resize(n + len(arr), axis=0)
        ds[n : n + len(arr)] = arr
        n += len(arr)
    if ds is None or n == 0:
        raise InputError(f"{name}: no frames given")
    return n


def _write_signal(sgrp: h5py.Group, where: str, name: str, sig, fs, times, kind: str) -> None:
    """A 1-D signal with its rate, kind and timestamps (as many as samples, increasing)."""
    sig = np.asarray(sig, dtype=np.float64)
    if sig.ndim != 1:
        raise InputError(f"{where}: {name} must be 1-D, got shape {sig.shape}")
    if fs is None or not (np.isfinite(fs) and fs > 0):
        raise InputError(f"{where}: {name}_fs must be positive, got {fs}")
    times = np.arange(len(sig)) / float(fs) if times is None else np.asarray(times, dtype=np.float64)
    if times.shape != sig.shape:
        raise InputError(f"{where}: {name} has {len(sig)} samples but {name}_times {times.size}")
    ds = sgrp.create_dataset(name, data=sig)
    ds.attrs["fs"] = float(fs)
    ds.attrs["kind"] = kind
    sgrp.create_dataset(f"{name}_times", data=times)


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


def session_problems(cohort_path: Path, sgrp: h5py.Group, where: str, out: list[Problem] | None = None,
                     verify_video: bool = True) -> list[Problem]:
    """Every problem of one session group (appended to ``out``, which is returned); ``verify_video``
    also compares a referenced video's SHA-256 (reads the whole video)."""
    out = [] if out is None else out
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
        elif verify_video and file_sha256(vp) != attrs["video_sha256"]:
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
    return out


class CohortWriter:
    """Create a cohort file session by session.

    Parameters
    ----------
    path : str or path-like
        Destination ``.h5`` file.  Written to a temporary name and moved into place on :meth:`close`.
    description : str
        Free text stored as a root attribute.
    compression : str or None
        HDF5 filter for frame datasets (``"gzip"`` default, ``"lzf"`` faster, None off).
    attrs : mapping, optional
        Extra root attributes (e.g. the generator's settings).

    Examples
    --------
    >>> with CohortWriter("cohort.h5") as w:                       # doctest: +SKIP
    ...     w.add_session("p01", "s01", frames=frames, fps=30, task="A",
    ...                   pulse=ppg, pulse_fs=60, resp=rsp, resp_fs=60)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        description: str = "",
        compression: str | None = "gzip",
        attrs: Mapping | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = AtomicFile(self.path)
        self._tmp = self._file.tmp
        self.compression = compression
        try:
            self._h5 = h5py.File(self._tmp, "w")
        except OSError as exc:
            self._file.abort()
            raise InputError(f"{self.path}: cannot write here ({exc})") from None
        self._h5.attrs["format"] = FORMAT_NAME
        self._h5.attrs["format_version"] = FORMAT_VERSION
        self._h5.attrs["description"] = description
        for k, v in (attrs or {}).items():
            self._h5.attrs[k] = _attr_value(v)
        self._h5.create_group("participants")
        self._closed = False

    # -- participants ---------------------------------------------------------------------------
    def add_participant(self, participant: str, attrs: Mapping | None = None) -> h5py.Group:
        """Create (or update the metadata of) a participant."""
        participant = _check_name("participant", participant)
        grp = self._h5["participants"].require_group(participant)
        grp.require_group("sessions")
        for k, v in (attrs or {}).items():
            grp.attrs[k] = _attr_value(v)
        return grp

    def add_session(
        self,
        participant: str,
        session: str,
        *,
        fps: float,
        task: str = "",
        frames=None,
        video_path: str | os.PathLike | None = None,
        n_frames: int | None = None,
        frame_size: tuple[int, int] | None = None,
        frame_times: np.ndarray | None = None,
        pulse: np.ndarray | None = None,
        pulse_fs: float | None = None,
        pulse_times: np.ndarray | None = None,
        pulse_kind: str = "ppg",
        resp: np.ndarray | None = None,
        resp_fs: float | None = None,
        resp_times: np.ndarray | None = None,
        resp_kind: str = "respiration",
        participant_attrs: Mapping | None = None,
        attrs: Mapping | None = None,
        videos: Mapping[str, object] | None = None,
        masks: Mapping[str, np.ndarray] | None = None,
    ) -> h5py.Group:
        """Add one session.

        Exactly one of ``frames`` (an array ``(T,H,W,3)`` uint8 RGB or an iterable of such chunks,
        streamed to disk) and ``video_path`` (an external video, stored by reference with its SHA-256;
        then give ``n_frames`` and ``frame_size=(width, height)``, or they are read from the video)
        must be given.  Signals are 1-D float arrays with their own rate ``*_fs``; their timestamps
        default to ``arange(N) / fs`` on the frames' clock.  ``videos`` holds extra renderings with the
        same frame count and size (arrays or iterables of chunks); ``masks`` holds region masks.
        """
        participant = _check_name("participant", participant)
        session = _check_name("session", session)
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"{participant}/{session}: fps must be positive, got {fps}")
        pgrp = self.add_participant(participant, participant_attrs)
        if session in pgrp["sessions"]:
            raise InputError(f"{participant}/{session}: session already exists")
        if (frames is None) == (video_path is None):
            raise InputError(f"{participant}/{session}: give exactly one of frames or video_path")
        sgrp = pgrp["sessions"].create_group(session)
        sgrp.attrs["task"] = str(task)
        sgrp.attrs["fps"] = float(fps)
        where = f"{participant}/{session}"
        if frames is not None:
            n = _write_frames(sgrp, "frames", frames, self.compression)
            height, width = sgrp["frames"].shape[1:3]
        else:
            n, width, height = self._reference_video(sgrp, Path(video_path), fps, n_frames, frame_size)
        sgrp.attrs["n_frames"] = int(n)
        sgrp.attrs["height"] = int(height)
        sgrp.attrs["width"] = int(width)
        if frame_times is None:
            frame_times = np.arange(n) / float(fps)
        frame_times = np.asarray(frame_times, dtype=np.float64)
        if frame_times.shape != (n,):
            raise InputError(f"{where}: frame_times has shape {frame_times.shape}, expected ({n},)")
        sgrp.create_dataset("frame_times", data=frame_times)
        for name, sig, fs, times, kind in (
            ("pulse", pulse, pulse_fs, pulse_times, pulse_kind),
            ("resp", resp, resp_fs, resp_times, resp_kind),
        ):
            if sig is not None:
                _write_signal(sgrp, where, name, sig, fs, times, kind)
        for k, v in (attrs or {}).items():
            sgrp.attrs[k] = _attr_value(v)
        if videos:
            vgrp = sgrp.create_group("videos")
            for vname, vframes in videos.items():
                _check_name("video", vname)
                m = _write_frames(vgrp, vname, vframes, self.compression)
                if m != n or vgrp[vname].shape[1:3] != (height, width):
                    raise InputError(
                        f"{where}: video {vname!r} has {m} frames of "
                        f"{vgrp[vname].shape[1:3]}, expected {n} of {(height, width)}"
                    )
        if masks:
            self._write_masks(sgrp, where, masks, (height, width))
        return sgrp

    def _reference_video(self, sgrp: h5py.Group, vpath: Path, fps: float, n_frames, frame_size) -> tuple[int, int, int]:
        """Store an external video by reference (relative path + SHA-256); returns ``(n, width, height)``."""
        if n_frames is None or frame_size is None:
            info = video_info(vpath, fps=fps)
            n_frames, frame_size = info.frame_count, (info.width, info.height)
        try:
            stored = os.path.relpath(vpath.resolve(), self.path.resolve().parent)
        except ValueError:  # different drive on Windows
            stored = str(vpath.resolve())
        sgrp.attrs["video_path"] = stored
        sgrp.attrs["video_sha256"] = file_sha256(vpath)
        return int(n_frames), int(frame_size[0]), int(frame_size[1])

    def _write_masks(self, sgrp: h5py.Group, where: str, masks: Mapping[str, np.ndarray], hw: tuple[int, int]) -> None:
        mgrp = sgrp.create_group("masks")
        for mname, mask in masks.items():
            _check_name("mask", mname)
            m = np.asarray(mask)
            if m.dtype == bool:
                m = m.astype(np.uint8) * 255
            if m.shape[-2:] != hw or m.ndim not in (2, 3):
                raise InputError(f"{where}: mask {mname!r} has shape {m.shape}")
            mgrp.create_dataset(mname, data=m, compression=self.compression)

    @property
    def h5(self) -> h5py.File:
        """The underlying (temporary) HDF5 file, for advanced writers."""
        return self._h5

    def close(self) -> Path:
        """Finish the file and move it into place."""
        if self._closed:
            return self.path
        try:
            self._h5.close()
            self._file.commit()
        except BaseException:
            self._file.abort()
            raise
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Discard everything written so far."""
        if self._closed:
            return
        self._closed = True
        try:
            self._h5.close()
        finally:
            self._file.abort()

    def __enter__(self) -> CohortWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class Session:
    """One recording session of a cohort, read lazily.

    Frame data stay on disk until asked for: :meth:`read_frames` reads a range, :meth:`iter_frames`
    streams chunks; signals are small and read on access.
    """

    def __init__(self, cohort: Cohort, participant: str, session: str) -> None:
        self.cohort = cohort
        self.participant = participant
        self.session = session
        self.key = f"{participant}/{session}"
        self._problems: list[Problem] | None = None
        try:
            self.group: h5py.Group = cohort.h5["participants"][participant]["sessions"][session]
        except KeyError:
            raise CohortSchemaError(f"{cohort.path}: no session {self.key}") from None

    def __repr__(self) -> str:
        return f"Session({self.key!r}, task={self.task!r}, frames={self.n_frames}, fps={self.fps})"

    # -- metadata -------------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        return {k: _decode_attr(v) for k, v in self.group.attrs.items()}

    @property
    def participant_attrs(self) -> dict:
        grp = self.cohort.h5["participants"][self.participant]
        return {k: _decode_attr(v) for k, v in grp.attrs.items()}

    @property
    def task(self) -> str:
        return str(_decode_attr(self.group.attrs.get("task", "")))

    @property
    def fps(self) -> float:
        return float(self.group.attrs["fps"])

    @property
    def n_frames(self) -> int:
        return int(self.group.attrs["n_frames"])

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.group.attrs["width"]), int(self.group.attrs["height"])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    @property
    def has_embedded_frames(self) -> bool:
        return "frames" in self.group

    @property
    def video_path(self) -> Path | None:
        """The external video's path (resolved against the cohort file's folder), if any."""
        v = self.group.attrs.get("video_path")
        if v is None:
            return None
        p = Path(_decode_attr(v))
        return p if p.is_absolute() else (self.cohort.path.parent / p)

    def problems(self) -> list[Problem]:
        """What :func:`physio.cohort.cohort_check` would report for this session (video checksum left out)."""
        if self._problems is None:
            self._problems = session_problems(self.cohort.path, self.group, self.key, verify_video=False)
        return self._problems

    def require_valid(self) -> None:
        """:class:`CohortSchemaError` naming every problem when the session cannot be read truthfully
        (signals shorter than the frames, timestamps that do not match, missing datasets …): readers
        refuse it rather than invent what is not there."""
        problems = self.problems()
        if problems:
            raise CohortSchemaError(f"{self.cohort.path}: session {self.key} is not valid (see `physio cohort "
                                    f"check`): " + "; ".join(p.message for p in problems))

    @property
    def frame_times(self) -> np.ndarray:
        self.require_valid()
        return self.group["frame_times"][()]

    # -- signals --------------------------------------------------------------------------------
    def _signal(self, name: str) -> tuple[np.ndarray, float, np.ndarray] | None:
        self.require_valid()
        if name not in self.group:
            return None
        ds = self.group[name]
        times = self.group[f"{name}_times"][()] if f"{name}_times" in self.group else None
        fs = float(ds.attrs["fs"])
        sig = ds[()]
        if times is None:
            times = np.arange(len(sig)) / fs
        return sig, fs, times

    @property
    def pulse(self) -> np.ndarray | None:
        s = self._signal("pulse")
        return None if s is None else s[0]

    @property
    def pulse_fs(self) -> float | None:
        s = self._signal("pulse")
        return None if s is None else s[1]

    @property
    def pulse_times(self) -> np.ndarray | None:
        s = self._signal("pulse")
        return None if s is None else s[2]

    @property
    def resp(self) -> np.ndarray | None:
        s = self._signal("resp")
        return None if s is None else s[0]

    @property
    def resp_fs(self) -> float | None:
        s = self._signal("resp")
        return None if s is None else s[1]

    @property
    def resp_times(self) -> np.ndarray | None:
        s = self._signal("resp")
        return None if s is None else s[2]

    def signal_at_frames(self, name: str) -> np.ndarray:
        """Signal ``name`` ("pulse" or "resp") linearly interpolated at the frame times."""
        s = self._signal(name)
        if s is None:
            raise CohortSchemaError(f"{self.cohort.path}: {self.key} has no {name} signal")
        sig, _, times = s
        return np.interp(self.frame_times, times, sig)

    # -- frames ---------------------------------------------------------------------------------
    @property
    def video_names(self) -> list[str]:
        """Names of the extra renderings stored with this session (e.g. ``pulse_x10``)."""
        return sorted(self.group["videos"].keys()) if "videos" in self.group else []

    @property
    def mask_names(self) -> list[str]:
        return sorted(self.group["masks"].keys()) if "masks" in self.group else []

    def mask(self, name: str) -> np.ndarray:
        """A stored region mask as bool, ``(H, W)`` or ``(T, H, W)``."""
        if name not in self.mask_names:
            raise CohortSchemaError(f"{self.key}: no mask {name!r} (have {self.mask_names})")
        return self.group["masks"][name][()] > 0

    def _dataset(self, video: str | None):
        if video is None:
            return self.group["frames"] if self.has_embedded_frames else None
        if video not in self.video_names:
            raise CohortSchemaError(f"{self.key}: no video {video!r} (have {self.video_names})")
        return self.group["videos"][video]

    def read_frames(self, start: int = 0, stop: int | None = None, video: str | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` as ``(t, H, W, 3)`` uint8 RGB (``video`` picks an extra rendering)."""
        self.require_valid()
        stop = self.n_frames if stop is None else min(int(stop), self.n_frames)
        start = int(start)
        if not 0 <= start < stop:
            raise InputError(f"{self.key}: bad frame range [{start}, {stop}) of {self.n_frames}")
        ds = self._dataset(video)
        if ds is not None:
            return ds[start:stop]

        path = self.video_path
        if path is None:
            raise CohortSchemaError(f"{self.key}: has neither frames nor a video reference")
        reader = VideoReader(path, fps=self.fps, start_s=start / self.fps, end_s=stop / self.fps)
        return reader.read_all()

    def iter_frames(self, chunk: int = 64, video: str | None = None) -> Iterator[np.ndarray]:
        """Stream the session's frames in chunks of at most ``chunk`` frames."""
        self.require_valid()
        ds = self._dataset(video)
        if ds is None:
            path = self.video_path
            if path is None:
                raise CohortSchemaError(f"{self.key}: has neither frames nor a video reference")
            yield from VideoReader(path, chunk_size=chunk, fps=self.fps).chunks()
            return
        for s in range(0, self.n_frames, chunk):
            yield ds[s : s + chunk]


class Cohort:
    """A cohort file opened lazily for reading (or ``mode="a"`` to add caches).

    Examples
    --------
    >>> with Cohort("cohort.h5") as c:                               # doctest: +SKIP
    ...     for s in c.sessions():
    ...         print(s.key, s.task, s.n_frames, s.fps)
    """

    def __init__(self, path: str | os.PathLike, mode: str = "r") -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise CohortSchemaError(f"{self.path}: no such file")
        try:
            self.h5 = h5py.File(self.path, mode)
        except OSError as exc:
            if "unable to lock" in str(exc).lower() or "file locking" in str(exc).lower():
                raise CohortSchemaError(
                    f"{self.path}: is open for {'writing' if mode == 'r' else 'reading or writing'} in another "
                    f"process (HDF5 file lock); close it first"
                ) from None
            raise CohortSchemaError(f"{self.path}: not a readable HDF5 file ({exc})") from None
        fmt = _decode_attr(self.h5.attrs.get("format", ""))
        if fmt != FORMAT_NAME:
            self.h5.close()
            raise CohortSchemaError(f"{self.path}: not a physio cohort (format attribute {fmt!r})")
        if "participants" not in self.h5:
            self.h5.close()
            raise CohortSchemaError(f"{self.path}: missing /participants group")

    @property
    def format_version(self) -> str:
        return str(_decode_attr(self.h5.attrs.get("format_version", "")))

    @property
    def attrs(self) -> dict:
        return {k: _decode_attr(v) for k, v in self.h5.attrs.items()}

    @property
    def participants(self) -> list[str]:
        return sorted(self.h5["participants"].keys())

    def participant_attrs(self, participant: str) -> dict:
        return {k: _decode_attr(v) for k, v in self.h5["participants"][participant].attrs.items()}

    def session_names(self, participant: str) -> list[str]:
        grp = self.h5["participants"][participant]
        return sorted(grp["sessions"].keys()) if "sessions" in grp else []

    def sessions(self, participants: Iterable[str] | None = None, task: str | None = None) -> Iterator[Session]:
        """Iterate sessions (optionally of some participants, or of one task), sorted by key."""
        wanted = self.participants if participants is None else list(participants)
        for p in wanted:
            for s in self.session_names(p):
                sess = Session(self, p, s)
                if task is None or sess.task == task:
                    yield sess

    def session(self, key: str) -> Session:
        """The session ``"PARTICIPANT/SESSION"``."""
        if key.count("/") != 1:
            raise InputError(f"session key must be PARTICIPANT/SESSION, got {key!r}")
        p, s = key.split("/")
        if p not in self.h5["participants"]:
            raise CohortSchemaError(f"{self.path}: no participant {p!r}")
        return Session(self, p, s)

    def __getitem__(self, key: str) -> Session:
        return self.session(key)

    def __len__(self) -> int:
        return sum(len(self.session_names(p)) for p in self.participants)

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> Cohort:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
