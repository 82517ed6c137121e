"""Streaming training data: blocks of consecutive cached representations with derivative labels.

A cohort session's representation is cached as ``x`` (``(T-1, C, S, S)``, chunked along time) in the
cohort's cache file (see :mod:`physio.represent.cache`).  :class:`BlockDataset` indexes *blocks* of ``block``
consecutive time points of the sessions in a split; one ``__getitem__`` reads one contiguous slice
from HDF5, so batches are assembled from a few blocks and the cohort is never loaded into memory.
Each worker process opens the file itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from physio.cohort import Cohort, Split
from physio.errors import CohortSchemaError, InputError
from physio.represent.cache import CacheReader, read_cache
from physio.train.augment import Augmenter

__all__ = ["BlockDataset", "derivative_labels", "collate_blocks"]


def derivative_labels(signal_at_frames: np.ndarray) -> np.ndarray:
    """First difference of a signal sampled at frame times, divided by its standard deviation.

    ``y(t) = (s(t+1) − s(t)) / std(diff(s))`` for ``t = 0 … T−2``: the DeepMag training target (the
    first derivative of the source signal), normalised per session so that participants with
    different signal units and amplitudes weigh the same.
    """
    d = np.diff(np.asarray(signal_at_frames, dtype=np.float64))
    sd = d.std()
    if not np.isfinite(sd) or sd == 0:
        raise InputError("signal is constant: no derivative labels can be made")
    return (d / sd).astype(np.float32)


def _labels_for(session, source: str) -> np.ndarray:
    name = "pulse" if source == "pulse" else "resp"
    if name not in session.group:
        raise CohortSchemaError(f"{session.key}: no {name} signal to train on")
    kind = str(session.group[name].attrs.get("kind", ""))
    if kind == "derivative":  # stored as derivative labels already (e.g. MTTS-CAN import)
        d = session.group[name][()].astype(np.float64)[: session.n_frames - 1]
        return (d / d.std()).astype(np.float32)
    return derivative_labels(session.signal_at_frames(name))


class BlockDataset(Dataset):
    """Blocks of ``block`` consecutive (representation, label) pairs from a cohort split.

    Parameters
    ----------
    cohort_path : str
        Cohort file whose representation ``cache_key`` has been cached (:func:`physio.represent.cache.ensure_cache`).
    split : Split
        Which participants (and, for time splits, which fraction of each session's frames).
    cache_key : str
        Cache group name.
    source : "pulse" or "resp"
        Which signal's derivative is the label.
    block : int
        Consecutive samples per item.
    standardize : bool
        Divide each session's representation by its stored scale.
    augment : Augmenter, optional
        Training augmentations (:mod:`physio.train.augment`) applied to every block read; ``None`` or an
        empty one reads the cache as stored.  A label lag ``k`` pairs ``x(t)`` with ``y(t + k)``, the block
        shrinking where ``t + k`` leaves the session.

    Items are ``(x, y)`` with ``x`` float32 ``(block, C, S, S)`` and ``y`` float32 ``(block,)``; the
    last block of a session may be shorter.
    """

    def __init__(
        self, cohort_path, split: Split, cache_key: str, source: str, block: int = 32, standardize: bool = True,
        augment: Augmenter | None = None,
    ) -> None:
        if source not in ("pulse", "resp"):
            raise InputError(f"source must be 'pulse' or 'resp', got {source!r}")
        self.path = str(cohort_path)
        self.cache_key = cache_key
        self.source = source
        self.block = int(block)
        self.standardize = bool(standardize)
        self.augment = augment if augment else None
        self.fps: dict[str, float] = {}
        self.items: list[tuple[str, int, int]] = []
        self.labels: dict[str, np.ndarray] = {}
        self.skipped: dict[str, str] = {}  # sessions whose region was not found when caching: left out
        self.cache = CacheReader(self.path)
        with Cohort(self.path) as c:
            for s in c.sessions(participants=split.participants):
                reason = self.cache.unusable(s.key, cache_key)
                if reason is not None:
                    self.skipped[s.key] = reason
                    continue
                n = self.cache.require(s.key, cache_key)["x"].shape[0]
                y = _labels_for(s, source)[:n]
                if len(y) != n:
                    raise CohortSchemaError(f"{s.key}: {len(y)} labels for {n} representation samples")
                lo, hi = 0, n
                if s.key in split.frame_ranges:
                    a, b = split.frame_ranges[s.key]
                    lo, hi = int(round(a * n)), int(round(b * n))
                self.labels[s.key] = y
                self.fps[s.key] = float(s.fps)
                for start in range(lo, hi, self.block):
                    self.items.append((s.key, start, min(start + self.block, hi)))
        self.cache.close()
        if not self.items:
            raise InputError(f"split {split.name!r} selects no data in {self.path}")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def n_samples(self) -> int:
        return sum(b - a for _, a, b in self.items)

    def session_keys(self) -> list[str]:
        return sorted(self.labels)

    def __getitem__(self, i: int):
        key, a, b = self.items[i]
        grp = self.cache.require(key, self.cache_key)
        y_all = self.labels[key]
        if self.augment is None:
            return torch.from_numpy(read_cache(grp, a, b, self.standardize)), torch.from_numpy(y_all[a:b])
        # numpy generator seeded from torch's RNG: seeded by the loop (checkpointed) and per worker by torch
        rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
        k = self.augment.draw_lag(rng)
        a2, b2 = max(a, -k), min(b, len(y_all) - k)
        if b2 <= a2:  # the lag leaves nothing of a very short block: read it unlagged
            a2, b2, k = a, b, 0
        x = self.augment(read_cache(grp, a2, b2, self.standardize), rng, fps=self.fps[key])
        return torch.from_numpy(x), torch.from_numpy(np.ascontiguousarray(y_all[a2 + k : b2 + k]))

def collate_blocks(items):
    """Concatenate blocks into one batch ``(N, C, S, S)``, ``(N,)``."""
    xs, ys = zip(*items)
    return torch.cat(xs), torch.cat(ys)
