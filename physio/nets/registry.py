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

__all__ = ["NETS", "CHECKPOINT_FORMAT", "build_net", "load_checkpoint", "read_torch_file"]

NETS: dict[str, type[torch.nn.Module]] = {"pulse_cnn": PulseNet, "resp_cnn": RespNet}
"""Network name → class (``nn.Module`` taking the checkpoint's ``net_args`` as keywords)."""

CHECKPOINT_FORMAT = "physio-checkpoint"
"""The ``format`` key every physio checkpoint carries."""


def build_net(name: str, net_args: dict | None = None) -> torch.nn.Module:
    """A freshly initialised network ``name`` built with ``net_args``."""
    if name not in NETS:
        raise InputError(f"unknown net {name!r}; valid: {', '.join(sorted(NETS))}")
    return NETS[name](**(net_args or {}))


def read_torch_file(path: str | os.PathLike, what: str = "checkpoint", map_location="cpu"):
    """``torch.load(path, weights_only=True)``: tensors and plain data only, so a crafted file cannot run
    code; anything else (a pickle of other objects, a corrupt or truncated file) is a one-line
    :class:`InputError`.  The only way physio reads a ``.pt`` file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such {what}" if not p.exists() else f"{p}: is not a file")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types on bad or unsafe files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only" in first.lower() or "weights_only" in first.lower() or "unpickl" in first.lower():
            first = "holds objects other than tensors and plain data; refused without running it"
        raise InputError(f"{p}: not a physio {what} ({first[:160]})") from None


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a physio checkpoint (weights + provenance) safely (:func:`read_torch_file`)."""
    p = Path(path)
    ckpt = read_torch_file(p, "checkpoint", map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{p}: not a physio checkpoint")
    return ckpt
