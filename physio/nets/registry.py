"""The networks by name, and reading the checkpoints they are stored in.

:data:`NETS` maps the names used in configs and checkpoints to their classes; adding a network is one
module in :mod:`physio.nets` plus one line here.  :func:`load_checkpoint` is the only reader of
physio checkpoints: a file that is not one is refused with a one-line :class:`InputError`.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from physio.errors import InputError
from physio.nets.pulse import PulseNet
from physio.nets.resp import RespNet

__all__ = ["NETS", "CHECKPOINT_FORMAT", "build_net", "load_checkpoint"]

NETS: dict[str, type[torch.nn.Module]] = {"pulse_cnn": PulseNet, "resp_cnn": RespNet}
"""Network name → class (``nn.Module`` taking the checkpoint's ``net_args`` as keywords)."""

CHECKPOINT_FORMAT = "physio-checkpoint"
"""The ``format`` key every physio checkpoint carries."""


def build_net(name: str, net_args: dict | None = None) -> torch.nn.Module:
    """A freshly initialised network ``name`` built with ``net_args``."""
    if name not in NETS:
        raise InputError(f"unknown net {name!r}; valid: {', '.join(sorted(NETS))}")
    return NETS[name](**(net_args or {}))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a physio checkpoint (weights + provenance)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such checkpoint")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many types on bad files
        raise InputError(f"{p}: not a readable checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{p}: not a physio checkpoint")
    return ckpt
