"""Train/test splits of a cohort.

Participant-independent splits (holdout and k-fold) put every participant in exactly one part, so a
network is always scored on people it has never seen.  The participant-dependent split (the DeepMag
paper's second protocol) cuts every session in time instead.  All splits are deterministic for a given
seed and a given set of participant names (their order does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physio.errors import InputError

__all__ = ["Split", "split_holdout", "split_kfold", "split_by_time"]


@dataclass(frozen=True)
class Split:
    """A named part of a cohort: which sessions, and which frames of each.

    Attributes
    ----------
    name : str
        "train", "val", "test" …
    participants : tuple of str
        Participants in this part (participant-independent splits) or all of them (time split).
    frame_ranges : dict
        Optional ``{"P/S": (start_frac, stop_frac)}`` for time splits: the fraction of each session's
        frames this part uses.  Empty means whole sessions.
    """

    name: str
    participants: tuple[str, ...]
    frame_ranges: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "participants": list(self.participants),
            "frame_ranges": {k: list(v) for k, v in self.frame_ranges.items()},
        }


def _ordered(participants) -> list[str]:
    names = sorted({str(p) for p in participants})
    if len(names) != len(list(participants)):
        raise InputError("participant names must be unique")
    return names


def split_holdout(
    participants, test_fraction: float = 0.2, seed: int = 0, val_fraction: float = 0.0
) -> dict[str, Split]:
    """Hold out a fraction of the participants for testing (and optionally validation).

    Parameters
    ----------
    participants : iterable of str
        Participant names (order irrelevant).
    test_fraction : float
        Fraction of participants in the test part, rounded to the nearest count, at least 1.
    seed : int
        Shuffle seed.
    val_fraction : float
        Fraction of participants for a validation part (0 for none).

    Returns
    -------
    dict
        ``{"train": Split, "test": Split}`` (+ ``"val"``).  Disjoint, covering all participants.
    """
    names = _ordered(participants)
    if not 0 < test_fraction < 1 or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise InputError(f"fractions must satisfy 0 < test, 0 ≤ val, test + val < 1; got {test_fraction}, {val_fraction}")
    n = len(names)
    n_test = max(1, int(round(test_fraction * n)))
    n_val = int(round(val_fraction * n)) if val_fraction > 0 else 0
    if val_fraction > 0:
        n_val = max(1, n_val)
    if n_test + n_val >= n:
        raise InputError(f"{n} participants are too few for a {test_fraction:.0%}/{val_fraction:.0%} holdout")
    order = np.random.default_rng(seed).permutation(n)
    shuffled = [names[i] for i in order]
    test = tuple(sorted(shuffled[:n_test]))
    val = tuple(sorted(shuffled[n_test : n_test + n_val]))
    train = tuple(sorted(shuffled[n_test + n_val :]))
    out = {"train": Split("train", train), "test": Split("test", test)}
    if n_val:
        out["val"] = Split("val", val)
    return out


def split_kfold(participants, k: int = 5, seed: int = 0) -> list[dict[str, Split]]:
    """K-fold cross-validation by participant: fold ``i`` tests on the ``i``-th group.

    Every participant is in exactly one test fold; fold sizes differ by at most one.
    """
    names = _ordered(participants)
    if k < 2 or k > len(names):
        raise InputError(f"k must be in 2..{len(names)} (number of participants), got {k}")
    order = np.random.default_rng(seed).permutation(len(names))
    groups = [sorted(names[j] for j in order[i::k]) for i in range(k)]
    folds = []
    for i in range(k):
        test = tuple(groups[i])
        train = tuple(sorted(p for j, g in enumerate(groups) if j != i for p in g))
        folds.append({"train": Split("train", train), "test": Split("test", test)})
    return folds


def split_by_time(session_keys, test_fraction: float = 0.2) -> dict[str, Split]:
    """Participant-dependent split: the first ``1 − test_fraction`` of every session trains, the rest tests.

    Parameters
    ----------
    session_keys : iterable of str
        ``"P/S"`` keys of the sessions to split.
    """
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    keys = sorted(set(session_keys))
    if not keys:
        raise InputError("no sessions to split")
    participants = tuple(sorted({k.split("/")[0] for k in keys}))
    cut = 1.0 - test_fraction
    train = {k: (0.0, cut) for k in keys}
    test = {k: (cut, 1.0) for k in keys}
    return {"train": Split("train", participants, train), "test": Split("test", participants, test)}
