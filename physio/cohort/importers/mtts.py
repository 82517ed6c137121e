"""MTTS-CAN-style files (``.mat`` MATLAB v5/v7.3 or ``.h5``) holding ``dXsub`` (T × 36 × 36 × 6: three
normalised-difference channels then three appearance channels), ``dysub`` (pulse derivative) and
optionally ``drsub`` (respiration derivative).  They contain no frames, only the preprocessed
representation, which is stored as the cached representation ``cache/mtts_can`` and the derivative
labels as signals of kind ``"derivative"``.  ``physio cohort import-mtts FILES... -o OUT.h5``.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from physio.cohort.format import CohortWriter
from physio.errors import CohortSchemaError, InputError

__all__ = ["import_mtts", "NAME", "HELP", "configure", "run"]

NAME = "mtts"
HELP = "build a cohort from MTTS-CAN-style .mat/.h5 files (dXsub, dysub, drsub)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+")
    p.add_argument("-o", "--out", required=True, metavar="OUT.h5")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate of the representations (default 30)")
    p.add_argument("--participant-regex", default=r"^(P\d+)", help="regex whose group 1 in the file stem names the participant")
    p.add_argument("--task", default="")


def run(args: argparse.Namespace) -> list[str]:
    return import_mtts(args.files, args.out, fps=args.fps, participant_regex=args.participant_regex, task=args.task)


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
