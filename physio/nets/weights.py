"""Shipped and user-trained network weights: finding, loading and describing them.

Shipped weights live in the repository's ``models/`` folder (``pulse_cnn.pt``, ``resp_cnn.pt`` …),
each with a model card (``<name>.md``) that records the training command, data, wall time and
scores.  ``PHYSIO_MODELS`` overrides the folder.  A name without a path (``"pulse_cnn"``) means the
shipped file; anything with a suffix or a slash is a path.  Nothing is ever downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from physio.errors import InputError
from physio.nets.registry import build_net, load_checkpoint

__all__ = ["models_dir", "resolve_model", "load_net"]


def models_dir() -> Path:
    """The folder holding shipped weights."""
    env = os.environ.get("PHYSIO_MODELS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "models"


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """``"pulse_cnn"`` → ``models/pulse_cnn.pt``; a path is returned as it is (must exist)."""
    s = str(name_or_path)
    p = Path(s) if ("/" in s or s.endswith(".pt")) else models_dir() / f"{s}.pt"
    if not p.exists():
        raise InputError(
            f"model {s!r} not found at {p}" + ("" if "/" in s else f" (shipped models are in {models_dir()})")
        )
    return p


def load_net(name_or_path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Load a checkpoint written by :func:`physio.train.loop.train`; returns ``(net in eval mode, checkpoint)``.

    The checkpoint carries the network's name and arguments, the representation it was trained on
    and its provenance; the optimizer state is dropped.
    """
    ckpt = load_checkpoint(resolve_model(name_or_path), map_location="cpu")
    net = build_net(ckpt["net"], ckpt.get("net_args"))
    net.load_state_dict(ckpt["state_dict"])
    ckpt.pop("optimizer", None)
    return net.to(device).eval(), ckpt
