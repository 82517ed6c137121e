"""``physio cohort merge``: several cohorts into one (e.g. rendered + semi-real sessions for training).

Every participant group of every input is copied whole (HDF5 object copy: compressed chunks are copied
as stored, not decoded) under ``/participants`` of the output; the output's root attributes are the
first input's, with ``merged_from`` listing every input (path and content SHA-256).  Participant names
must be unique across the inputs — a repeated name is refused rather than silently renamed, since
the participant is the unit of every participant-independent split — unless ``prefix`` is set, when
each input's participants become ``<prefix_i>-<name>``.  Sessions that reference an external video
by a relative ``video_path`` get the absolute path, so they still resolve from the output's folder.
Inputs are opened read-only; the output is written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import h5py

from physio.atomic import AtomicFile
from physio.cohort.digest import cohort_content_sha256
from physio.cohort.format import FORMAT_NAME, FORMAT_VERSION, _check_name
from physio.errors import CohortSchemaError, InputError

__all__ = ["merge_cohorts"]


def _copy_without(src: h5py.File, group: h5py.Group, parent: h5py.Group, name: str, skip: str) -> h5py.Group:
    """Copy ``group`` (its attributes and every child except ``skip``) to ``parent[name]``."""
    g = parent.create_group(name)
    for k, v in group.attrs.items():
        g.attrs[k] = v
    for child in group:
        if child != skip:
            src.copy(group[child], g, name=child)
    return g


def merge_cohorts(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    prefixes: Sequence[str] | None = None,
    drop_videos: bool = False,
) -> dict:
    """Write ``out`` holding every participant of ``inputs``; returns a summary.

    Parameters
    ----------
    prefixes : sequence of str, optional
        One per input: its participants are renamed ``<prefix>-<name>``.
    drop_videos : bool
        Leave out the sessions' extra renderings (``videos/``, e.g. ground-truth magnified videos),
        which training does not read.
    """
    paths = [Path(p) for p in inputs]
    if len(paths) < 2:
        raise InputError("merge needs at least two cohorts")
    if prefixes is not None and len(prefixes) != len(paths):
        raise InputError(f"{len(prefixes)} prefixes for {len(paths)} cohorts")
    for p in prefixes or ():
        _check_name("prefix", p)
    seen: dict[str, Path] = {}
    plan: list[tuple[Path, str, str]] = []
    for i, p in enumerate(paths):
        if not p.is_file():
            raise InputError(f"{p}: no such cohort file")
        with h5py.File(p, "r") as f:
            if f.attrs.get("format") != FORMAT_NAME:
                raise CohortSchemaError(f"{p}: not a physio cohort")
            if str(f.attrs.get("format_version")) != FORMAT_VERSION:
                raise CohortSchemaError(f"{p}: cohort format {f.attrs.get('format_version')}, expected {FORMAT_VERSION}")
            for name in f["participants"]:
                new = f"{prefixes[i]}-{name}" if prefixes else name
                if new in seen:
                    raise InputError(f"participant {new!r} is in both {seen[new]} and {p}; "
                                     "give --prefix to keep them apart")
                seen[new] = p
                plan.append((p, name, new))
    hashes = [cohort_content_sha256(p) for p in paths]
    n_sessions = 0
    with AtomicFile(out) as af:
        with h5py.File(af.tmp, "w") as dst:
            with h5py.File(paths[0], "r") as first:
                for k, v in first.attrs.items():
                    dst.attrs[k] = v
            dst.attrs["merged_from"] = json.dumps(
                [{"path": str(p.resolve()), "content_sha256": h} for p, h in zip(paths, hashes)])
            parts = dst.create_group("participants")
            for p, name, new in plan:
                with h5py.File(p, "r") as src:
                    sp = src["participants"][name]
                    if not drop_videos:
                        src.copy(sp, parts, name=new)
                    else:  # group by group, so the renderings are never written (HDF5 does not reclaim space)
                        g = _copy_without(src, sp, parts, new, "sessions")
                        ss = g.create_group("sessions")
                        for sname, sg in sp["sessions"].items():
                            _copy_without(src, sg, ss, sname, "videos")
                for sg in parts[new]["sessions"].values():
                    n_sessions += 1
                    vp = sg.attrs.get("video_path")
                    if vp is not None and not Path(str(vp)).is_absolute():
                        sg.attrs["video_path"] = str((p.resolve().parent / str(vp)).resolve())
    return {"out": str(out), "participants": len(plan), "sessions": n_sessions,
            "inputs": [str(p) for p in paths]}
