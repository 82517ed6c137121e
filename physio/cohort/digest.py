"""The content hash of a cohort: what `physio train`, `evaluate` and `compare` record and compare.

It covers attributes, frames, signals, renderings and masks, and leaves out cached representations,
so computing a cache does not change it while changing any frame, signal or attribute does.
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np

__all__ = ["cohort_content_sha256"]


def cohort_content_sha256(path) -> str:
    """SHA-256 over a cohort's content (attributes, frames, signals, renderings, masks), caches excluded.

    Adding or recomputing cached representations does not change it; changing any frame, signal or
    attribute does.
    """
    h = hashlib.sha256()

    def visit(name: str, obj) -> None:
        if "/cache/" in f"/{name}/":
            return
        h.update(name.encode())
        for k in sorted(obj.attrs):
            h.update(k.encode())
            h.update(repr(obj.attrs[k]).encode())
        if isinstance(obj, h5py.Dataset):
            if obj.ndim >= 1 and obj.shape[0] > 0 and obj.chunks:
                step = obj.chunks[0] * max(1, 64 // obj.chunks[0])
                for s in range(0, obj.shape[0], step):
                    h.update(np.ascontiguousarray(obj[s : s + step]).tobytes())
            else:
                h.update(np.ascontiguousarray(obj[()]).tobytes())

    with h5py.File(path, "r") as f:
        for k in sorted(f.attrs):
            h.update(k.encode())
            h.update(repr(f.attrs[k]).encode())
        f.visititems(visit)
    return h.hexdigest()
