"""The rate estimators by name: the one list `physio rates`, `physio evaluate` and the benchmarks use.

Kept free of heavy imports (no torch, no SciPy) so that building the command line costs nothing:
entries are ``"module:function"`` strings resolved on first use.  Adding an rPPG method is one
function in :mod:`physio.rates.rppg` (``f(rgb (T, 3), fs_hz, **kw) -> waveform (T,)``) plus one line in
:data:`RPPG_METHODS`; it is then accepted by ``physio rates --method``, ``physio evaluate --methods``
and :func:`physio.rates.rppg.rppg_pulse`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from physio.errors import InputError

__all__ = ["RPPG_METHODS", "PULSE_METHODS", "RESP_METHODS", "rppg_function", "check_method"]

RPPG_METHODS: dict[str, str] = {
    "pos": "physio.rates.rppg:rppg_pos",
    "chrom": "physio.rates.rppg:rppg_chrom",
    "green": "physio.rates.rppg:rppg_green",
}
"""Classical rPPG methods on the skin's mean colour: name → ``"module:function"``."""

PULSE_METHODS: tuple[str, ...] = ("cnn", *RPPG_METHODS)
"""Pulse estimators of `physio rates`: the network (``cnn``) or an rPPG method."""

RESP_METHODS: tuple[str, ...] = ("cnn", "motion")
"""Breathing estimators of `physio rates`: RespNet, or the torso's vertical motion."""


def rppg_function(name: str) -> Callable:
    """The function of rPPG method ``name`` (case-insensitive); :class:`InputError` listing the valid ones."""
    key = str(name).lower()
    if key not in RPPG_METHODS:
        raise InputError(f"unknown rPPG method {name!r}; valid: {', '.join(map(repr, RPPG_METHODS))}")
    module, _, attr = RPPG_METHODS[key].partition(":")
    return getattr(importlib.import_module(module), attr)


def check_method(name: str, valid: tuple[str, ...], what: str = "method") -> str:
    """``name`` if it is in ``valid``, else :class:`InputError` listing them."""
    if name not in valid:
        raise InputError(f"unknown {what} {name!r}; valid: {', '.join(valid)}")
    return name
