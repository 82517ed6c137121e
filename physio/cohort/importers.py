"""Importers that build physio cohorts from other datasets' layouts.

* :func:`import_ubfc` — a folder in the UBFC-rPPG layout: ``subject*/vid.avi`` with
  ``subject*/ground_truth.txt`` (three whitespace-separated rows: PPG values, HR values, timestamps in
  seconds).  Videos are stored by reference with their SHA-256 (default) or embedded.
* :func:`import_mtts` — MTTS-CAN-style files (``.mat`` MATLAB v5/v7.3 or ``.h5``) holding
  ``dXsub`` (T × 36 × 36 × 6: three normalised-difference channels then three appearance channels),
  ``dysub`` (pulse derivative) and optionally ``drsub`` (respiration derivative).  They contain no
  frames, only the preprocessed representation, which is stored as the cached representation
  ``cache/mtts_can`` and the derivative labels as signals of kind ``"derivative"``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from physio.cohort.format import CohortWriter
from physio.errors import CohortSchemaError, InputError

__all__ = ["import_ubfc", "import_mtts", "read_ubfc_ground_truth"]


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
    from physio.io import VideoReader  # noqa: PLC0415

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


def _load_mtts_file(path: Path) -> dict[str, np.ndarray]:
    wanted = ("dXsub", "dysub", "drsub")
    out: dict[str, np.ndarray] = {}
    if h5py.is_hdf5(path):
        matlab = path.suffix.lower() == ".mat"  # MATLAB v7.3 stores arrays with axes reversed
        with h5py.File(path, "r") as h5:
            for k in wanted:
                if k in h5:
                    a = h5[k][()]
                    out[k] = np.transpose(a) if matlab else a
    else:
        try:
            mat = scipy.io.loadmat(path, variable_names=list(wanted))
        except Exception as exc:  # noqa: BLE001 - scipy raises many types on bad files
            raise InputError(f"{path}: not a readable .mat/.h5 file ({exc})") from None
        out = {k: mat[k] for k in wanted if k in mat}
    if "dXsub" not in out or "dysub" not in out:
        raise CohortSchemaError(f"{path}: needs dXsub and dysub (has {sorted(out)})")
    return out


def import_mtts(
    files, out: str | os.PathLike, fps: float = 30.0, participant_regex: str = r"^(P\d+)", task: str = ""
) -> list[str]:
    """Build a cohort from MTTS-CAN-style ``.mat``/``.h5`` files; returns the imported session keys.

    The participant of each file is the first group of ``participant_regex`` matched against the file
    stem (the whole stem when it does not match); the session is the stem.  ``dXsub[..., :3]`` is
    stored as ``cache/mtts_can/motion`` and ``dXsub[..., 3:]`` as ``cache/mtts_can/appearance``
    (float32, T × 36 × 36 × 3); ``dysub``/``drsub`` become ``pulse``/``resp`` of kind
    ``"derivative"`` sampled at ``fps``.
    """
    paths = [Path(f) for f in files]
    if not paths:
        raise InputError("no files given")
    rx = re.compile(participant_regex)
    keys = []
    with CohortWriter(out, description="imported from MTTS-CAN-style files") as w:
        for path in sorted(paths):
            if not path.exists():
                raise InputError(f"{path}: no such file")
            data = _load_mtts_file(path)
            x = np.asarray(data["dXsub"], dtype=np.float32)
            if x.ndim != 4 or x.shape[-1] != 6:
                raise CohortSchemaError(f"{path}: dXsub must be T × H × W × 6, is {x.shape}")
            y = np.asarray(data["dysub"], dtype=np.float64).reshape(-1)
            if len(y) != len(x):
                raise CohortSchemaError(f"{path}: dysub has {len(y)} samples but dXsub {len(x)}")
            r = data.get("drsub")
            if r is not None:
                r = np.asarray(r, dtype=np.float64).reshape(-1)
                if len(r) != len(x):
                    raise CohortSchemaError(f"{path}: drsub has {len(r)} samples but dXsub {len(x)}")
            m = rx.match(path.stem)
            participant = re.sub(r"[^A-Za-z0-9_.-]", "_", m.group(1) if m else path.stem)
            session = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)
            w.add_participant(participant)
            grp = w.h5["participants"][participant]["sessions"].create_group(session)
            t, h, wd = x.shape[:3]
            grp.attrs.update({"task": task, "fps": float(fps), "n_frames": t, "height": h, "width": wd,
                              "source_file": path.name})
            grp.create_dataset("frame_times", data=np.arange(t) / float(fps))
            cache = grp.create_group("cache").create_group("mtts_can")
            cache.attrs["params"] = '{"source": "mtts-can import", "layout": "dXsub[..., :3] motion, [..., 3:] appearance"}'
            cache.create_dataset("motion", data=x[..., :3], compression="gzip")
            cache.create_dataset("appearance", data=x[..., 3:], compression="gzip")
            for name, sig in (("pulse", y), ("resp", r)):
                if sig is None:
                    continue
                ds = grp.create_dataset(name, data=sig)
                ds.attrs["fs"] = float(fps)
                ds.attrs["kind"] = "derivative"
                grp.create_dataset(f"{name}_times", data=np.arange(len(sig)) / float(fps))
            keys.append(f"{participant}/{session}")
    return keys
