"""Cached representations of a cohort, in a sidecar file beside it (never inside the cohort).

``ensure_cache(cohort, spec)`` computes a representation once per session, streaming over the
session's frames (:func:`physio.represent.compute.iter_representation`), and stores it in the cohort's
*cache file* (:func:`cache_path`: ``COHORT.cache.h5`` beside the cohort, or under
``$PHYSIO_CACHE_DIR`` / ``~/.cache/physio`` when the cohort's folder is not writable), as

* ``<participant>/<session>/<key>/x`` — float32 ``(T-1, C, S, S)``, chunked along time (32 samples
  per chunk);
* attributes ``params`` (the spec as JSON), ``scale`` (the RMS of ``x`` over the session, for
  per-session standardisation), ``box`` (the crop box used, ``x0 y0 x1 y1``) and ``complete`` (set
  last: an interrupted computation is detected and redone).

The cohort file is only ever opened for reading, so computing a cache (or failing half-way) never
changes it.  The cache file records the cohort it belongs to (resolved path, size, modification time);
when the cohort has changed since, or the cache file cannot be read (a killed writer), it is
discarded and rebuilt.  Representations *imported* with a cohort (``cache/<key>`` inside it, e.g.
MTTS-CAN files) are data of the cohort and are read from there.

The key (:attr:`RepresentationSpec.key`) changes whenever a parameter that affects the values changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import h5py
import numpy as np
from tqdm.auto import tqdm

from physio.cohort import Cohort
from physio.errors import CohortSchemaError, InputError, PhysioWarning, RoiNotFoundError
from physio.represent.compute import (
    RepresentationSpec,
    box_from_mask,
    iter_representation,
)
from physio.roi.crop import detect_box

__all__ = ["ensure_cache", "unusable_sessions", "read_cache", "cache_scale", "session_box", "cache_path", "CacheReader"]

CHUNK_T = 32


def _writable_dir(d: Path) -> bool:
    return d.is_dir() and os.access(d, os.W_OK | os.X_OK)


def cache_path(cohort_path: str | os.PathLike) -> Path:
    """Where the cache of ``cohort_path`` lives: ``$PHYSIO_CACHE_DIR`` when set, else beside the cohort
    (``NAME.cache.h5``), else ``~/.cache/physio`` when the cohort's folder is not writable."""
    cohort = Path(cohort_path).resolve()
    tag = hashlib.sha256(str(cohort).encode()).hexdigest()[:12]
    env = os.environ.get("PHYSIO_CACHE_DIR")
    if env:
        return Path(env) / f"{cohort.stem}-{tag}.cache.h5"
    if _writable_dir(cohort.parent):
        return cohort.with_name(f"{cohort.stem}.cache.h5")
    return Path.home() / ".cache" / "physio" / f"{cohort.stem}-{tag}.cache.h5"


def _identity(cohort_path) -> dict:
    p = Path(cohort_path).resolve()
    st = p.stat()
    return {"cohort": str(p), "cohort_size": int(st.st_size), "cohort_mtime_ns": int(st.st_mtime_ns)}


def _open_sidecar(cohort_path, mode: str) -> h5py.File | None:
    """The cache file for ``mode`` ("r": None when absent or stale; "a": created or rebuilt)."""
    path = cache_path(cohort_path)
    ident = _identity(cohort_path)
    if path.exists():
        try:
            f = h5py.File(path, mode)
            if all(f.attrs.get(k) == v for k, v in ident.items()):
                return f
            f.close()
            reason = "its cohort has changed since it was made"
        except OSError as exc:
            if "lock" in str(exc).lower():
                raise CohortSchemaError(f"{path}: the cache file is open for writing in another process") from None
            reason = f"it cannot be read ({str(exc).splitlines()[0][:80]})"
        if mode == "r":
            return None
        warnings.warn(f"{path}: rebuilding the representation cache: {reason}", PhysioWarning, stacklevel=3)
        path.unlink()
    elif mode == "r":
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    f = h5py.File(path, "w")
    f.attrs.update(ident)
    f.attrs["format"] = "physio-representation-cache"
    return f


class CacheReader:
    """Read cached representations of a cohort: ``reader.group(session_key, key)`` → the group with
    ``x`` (the sidecar cache file's, else an imported ``cache/<key>`` inside the cohort), or None.

    Opens the files lazily and again in each process (DataLoader workers); use as a context manager or
    call :meth:`close`.
    """

    def __init__(self, cohort_path) -> None:
        self.cohort_path = str(cohort_path)
        self._pid = None
        self._side = self._cohort = None

    def _open(self) -> None:
        if self._pid != os.getpid():
            self._side = _open_sidecar(self.cohort_path, "r")
            self._cohort = h5py.File(self.cohort_path, "r")
            self._pid = os.getpid()

    def group(self, session_key: str, key: str) -> h5py.Group | None:
        self._open()
        p, s = session_key.split("/")
        if self._side is not None and f"{p}/{s}/{key}" in self._side:
            g = self._side[f"{p}/{s}/{key}"]
            return g if g.attrs.get("complete", False) else None
        inner = f"participants/{p}/sessions/{s}/cache/{key}"
        return self._cohort[inner] if inner in self._cohort and "x" in self._cohort[inner] else None

    def unusable(self, session_key: str, key: str) -> str | None:
        """Why ``session_key`` has no representation ``key`` (its region was not found when the cache was
        built: :func:`ensure_cache` records that instead of failing the cohort), or None."""
        self._open()
        path = f"{session_key}/{key}"
        if self._side is not None and path in self._side:
            reason = self._side[path].attrs.get("unusable")
            return None if reason is None else str(reason)
        return None

    def require(self, session_key: str, key: str) -> h5py.Group:
        g = self.group(session_key, key)
        if g is None and self.unusable(session_key, key):
            raise RoiNotFoundError(f"{session_key}: no representation {key!r}: {self.unusable(session_key, key)}")
        if g is None:
            raise CohortSchemaError(
                f"{self.cohort_path}: {session_key} has no cached representation {key!r}; compute it first "
                "(physio.represent.cache.ensure_cache; physio train and physio evaluate do it)")
        return g

    def close(self) -> None:
        for f in (self._side, self._cohort):
            if f is not None:
                f.close()
        self._side = self._cohort = None
        self._pid = None

    def __enter__(self) -> CacheReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):
        return {"cohort_path": self.cohort_path, "_pid": None, "_side": None, "_cohort": None}


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
        except RoiNotFoundError as exc:
            raise RoiNotFoundError(f"no {region} detected for roi {spec.roi!r} ({exc})") from exc
        except InputError as exc:
            raise InputError(f"{session.key}: no {region} detected for roi {spec.roi!r}") from exc
    name = spec.roi.split(":", 1)[1]
    if name not in session.mask_names:
        raise CohortSchemaError(f"{session.key}: no mask {name!r} for roi {spec.roi!r} (have {session.mask_names})")
    return box_from_mask(session.mask(name), spec.margin)


def ensure_cache(cohort_path: str | os.PathLike, spec, device: str = "cpu", progress: bool = True) -> str:
    """Compute ``spec`` for every session of the cohort that lacks it (in the cache file); return the key.

    A session whose region a ``detect:`` representation cannot find (the face detector fails on it) is
    recorded as unusable with the reason (:meth:`CacheReader.unusable`), with a warning, and the others
    are cached: one hard session does not stop a cohort's training or evaluation, which then leave it
    out (and say so).  It is not tried again until the cohort changes (the cache is then rebuilt)."""
    spec = RepresentationSpec.from_dict(spec)
    key = spec.key
    with CacheReader(cohort_path) as reader, Cohort(cohort_path) as c:
        todo = [s.key for s in c.sessions() if reader.group(s.key, key) is None and not reader.unusable(s.key, key)]
    if not todo:
        return key
    side = _open_sidecar(cohort_path, "a")
    try:
        with Cohort(cohort_path) as c:
            bar = tqdm(todo, desc=f"caching {key}", disable=not progress, leave=False, dynamic_ncols=True)
            for skey in bar:
                try:
                    _cache_session(side, c[skey], spec, key, device)
                except RoiNotFoundError as exc:
                    path = f"{skey}/{key}"
                    if path in side:
                        del side[path]
                    side.create_group(path).attrs["unusable"] = str(exc)
                    side.flush()
                    warnings.warn(f"{skey}: left out of {key}: {exc}", PhysioWarning, stacklevel=2)
    finally:
        side.close()
    return key


def unusable_sessions(cohort_path: str | os.PathLike, key: str) -> dict[str, str]:
    """``{session key: reason}`` of the sessions :func:`ensure_cache` left out of representation ``key``."""
    with CacheReader(cohort_path) as reader, Cohort(cohort_path) as c:
        return {s.key: r for s in c.sessions() if (r := reader.unusable(s.key, key))}


def _cache_session(side: h5py.File, s, spec: RepresentationSpec, key: str, device: str) -> None:
    path = f"{s.key}/{key}"
    if path in side:
        del side[path]  # an interrupted earlier attempt
    grp = side.create_group(path)
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
        raise CohortSchemaError(f"{s.key}: computed {pos} samples, expected {n}")
    grp.attrs["params"] = json.dumps(spec.to_dict(), sort_keys=True)
    grp.attrs["scale"] = float(np.sqrt(ss / max(cnt, 1))) or 1.0
    grp.attrs["box"] = json.dumps(box)
    grp.attrs["complete"] = True
    side.flush()


def cache_scale(group: h5py.Group) -> float:
    """The per-session scale (RMS of ``x``) stored with a cache group."""
    return float(group.attrs.get("scale", 1.0)) or 1.0


def read_cache(group: h5py.Group, start: int = 0, stop: int | None = None, standardize: bool = True) -> np.ndarray:
    """Read ``x[start:stop]`` of a cache group as float32, divided by its scale when ``standardize``."""
    x = np.asarray(group["x"][start:stop], dtype=np.float32)
    return x / cache_scale(group) if standardize else x
