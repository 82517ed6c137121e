"""Cached representations inside a cohort file (``cache/<key>/`` of each session).

``ensure_cache(cohort, spec)`` computes a representation once per session, streaming over the
session's frames (:func:`physio.represent.compute.iter_representation`), and stores

* ``cache/<key>/x`` — float32 ``(T-1, C, S, S)``, chunked along time (32 samples per chunk);
* attributes ``params`` (the spec as JSON), ``scale`` (the standard deviation of ``x`` over the
  session, for per-session standardisation), ``box`` (the crop box used, ``x0 y0 x1 y1``) and
  ``complete`` (set last: an interrupted computation is detected and redone).

The key (:attr:`RepresentationSpec.key`) changes whenever a parameter that affects the values changes.
"""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
from tqdm.auto import tqdm

from physio.cohort import Cohort
from physio.errors import CohortSchemaError, InputError
from physio.represent.compute import (
    RepresentationSpec,
    box_from_mask,
    iter_representation,
)
from physio.roi.crop import detect_box

__all__ = ["ensure_cache", "read_cache", "cache_scale", "session_box"]

CHUNK_T = 32


def session_box(session, spec: RepresentationSpec):
    """The crop box of ``spec.roi`` for a cohort session (None for the whole frame).

    ``detect:<region>`` runs the default region tracker over the session's frames (as ``physio
    rates`` does over a video) and combines its boxes with :func:`physio.roi.crop.crop_box_union`.
    """
    if spec.roi == "full":
        return None
    if spec.roi.startswith("detect:"):
        region = spec.roi.split(":", 1)[1]
        try:
            return detect_box(session.iter_frames(chunk=128), session.fps, region, spec.margin, source=session.key)
        except InputError as exc:
            raise InputError(f"{session.key}: no {region} detected for roi {spec.roi!r}") from exc
    name = spec.roi.split(":", 1)[1]
    if name not in session.mask_names:
        raise CohortSchemaError(f"{session.key}: no mask {name!r} for roi {spec.roi!r} (have {session.mask_names})")
    return box_from_mask(session.mask(name), spec.margin)


def _complete(sgrp: h5py.Group, key: str) -> bool:
    return f"cache/{key}" in sgrp and bool(sgrp[f"cache/{key}"].attrs.get("complete", False))


def ensure_cache(cohort_path: str | os.PathLike, spec, device: str = "cpu", progress: bool = True) -> str:
    """Compute ``spec`` for every session of the cohort that lacks it; return the cache key."""
    spec = RepresentationSpec.from_dict(spec)
    key = spec.key
    with Cohort(cohort_path) as c:
        todo = [s.key for s in c.sessions() if not _complete(s.group, key)]
    if not todo:
        return key
    with Cohort(cohort_path, mode="a") as c:
        bar = tqdm(todo, desc=f"caching {key}", disable=not progress, leave=False, dynamic_ncols=True)
        for skey in bar:
            s = c[skey]
            cache = s.group.require_group("cache")
            if key in cache:
                del cache[key]  # an interrupted earlier attempt
            grp = cache.create_group(key)
            box = session_box(s, spec)
            n = s.n_frames - 1
            ds = grp.create_dataset(
                "x", shape=(n, spec.channels, spec.size, spec.size), dtype=np.float32,
                chunks=(min(CHUNK_T, n), spec.channels, spec.size, spec.size),
            )
            pos, ss, cnt = 0, 0.0, 0
            for rep in iter_representation(s.iter_frames(chunk=128), spec, box, device):
                ds[pos : pos + len(rep)] = rep
                pos += len(rep)
                ss += float(np.square(rep, dtype=np.float64).sum())
                cnt += rep.size
            if pos != n:
                raise CohortSchemaError(f"{skey}: computed {pos} samples, expected {n}")
            grp.attrs["params"] = json.dumps(spec.to_dict(), sort_keys=True)
            grp.attrs["scale"] = float(np.sqrt(ss / max(cnt, 1))) or 1.0
            grp.attrs["box"] = json.dumps(box)
            grp.attrs["complete"] = True
            c.h5.flush()
    return key


def cache_scale(group: h5py.Group) -> float:
    """The per-session scale (RMS of ``x``) stored with a cache group."""
    return float(group.attrs.get("scale", 1.0)) or 1.0


def read_cache(group: h5py.Group, start: int = 0, stop: int | None = None, standardize: bool = True) -> np.ndarray:
    """Read ``x[start:stop]`` of a cache group as float32, divided by its scale when ``standardize``."""
    x = np.asarray(group["x"][start:stop], dtype=np.float32)
    return x / cache_scale(group) if standardize else x
