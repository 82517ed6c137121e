"""Saving and loading trained learned-magnifier weights, with their model cards.

A weights file (``models/oh2018.pt`` …) is a ``torch.save`` dict::

    {"format": "physio-learned-magnifier", "version": 1, "arch": "lwmm-m1", "arch_args": {...},
     "state_dict": {...}, "card": {...}}

The *card* records what a user needs to trust the weights: training data and steps, wall time,
hardware, losses (including which perceptual loss stood in for VGG-16) and benchmark scores; a
Markdown rendering sits beside the ``.pt`` file.  Training checkpoints (``last.pt`` of
``physio train-magnifier``) load too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from torch import nn

from physio.atomic import atomic_torch_save, atomic_write_text
from physio.errors import InputError
from physio.magnify.learned.catalog import LEARNED
from physio.magnify.learned.nets import ARCHS, build_net
from physio.nets.registry import read_torch_file
from physio.nets.weights import models_dir

__all__ = ["WEIGHTS_FORMAT", "MODEL_FILES", "models_dir", "default_weights_path", "save_weights", "load_weights",
           "write_model_card"]

WEIGHTS_FORMAT = "physio-learned-magnifier"
MODEL_FILES = {name: entry.file for name, entry in LEARNED.items()}
"""Shipped weights file of each architecture, in :func:`models_dir`."""


def default_weights_path(arch: str) -> Path:
    if arch not in MODEL_FILES:
        raise InputError(f"unknown learned magnifier architecture {arch!r}; valid: {', '.join(MODEL_FILES)}")
    return models_dir() / MODEL_FILES[arch]


def save_weights(path: str | os.PathLike, net: nn.Module, arch: str, arch_args: dict | None = None,
                 card: dict | None = None) -> Path:
    """Write ``net``'s weights and ``card`` to ``path`` (atomic) and the card as ``path.md``."""
    p = Path(path)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    obj = {"format": WEIGHTS_FORMAT, "version": 1, "arch": arch, "arch_args": dict(arch_args or {}),
           "state_dict": state, "card": dict(card or {})}
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(obj, p)
    write_model_card(p.with_suffix(".md"), arch, obj["card"])
    return p


def load_weights(path: str | os.PathLike, map_location="cpu") -> tuple[nn.Module, dict]:
    """Build the network stored in ``path`` (weights file or training checkpoint) → ``(net, info)``.

    ``info`` holds ``arch``, ``arch_args``, ``card`` (may be empty) and ``path``.  The network is in
    ``eval()`` mode on ``map_location``.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: weights file not found")
    obj = read_torch_file(p, "learned-magnifier weights file", map_location)
    if not isinstance(obj, dict):
        raise InputError(f"{p}: not a physio learned-magnifier weights file")
    if obj.get("format") == WEIGHTS_FORMAT:
        arch, args, state, card = obj["arch"], obj.get("arch_args", {}), obj["state_dict"], obj.get("card", {})
    elif "model" in obj and "config" in obj:  # training checkpoint
        cfg = obj["config"]
        arch, args, state = cfg["arch"], cfg.get("arch_args", {}), obj["model"]
        card = {"checkpoint_step": obj.get("step"), "training_config": cfg}
    else:
        raise InputError(f"{p}: not a physio learned-magnifier weights file (format={obj.get('format')!r})")
    if arch not in ARCHS:
        raise InputError(f"{p}: unknown architecture {arch!r}")
    if "shared_encoder" not in args and any(k.startswith("stream_b.") for k in state):
        args = {**args, "shared_encoder": False}  # LW-MM saved before the shared encoder became the default
    net = build_net(arch, args)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise InputError(f"{p}: weights do not fit architecture {arch} {args}: {str(exc)[:300]}") from None
    net.to(map_location).eval()
    return net, {"arch": arch, "arch_args": args, "card": card, "path": str(p)}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return "`" + json.dumps(v, default=str) + "`"
    return str(v)


def _is_table(v) -> bool:
    return (isinstance(v, list) and len(v) > 1 and all(isinstance(r, dict) for r in v)
            and all(list(r) == list(v[0]) for r in v))


def write_model_card(path: str | os.PathLike, arch: str, card: dict) -> Path:
    """Render ``card`` (nested dict) as Markdown at ``path`` (atomic)."""
    p = Path(path)
    lines = [f"# Model card: {arch}", ""]
    for key, val in card.items():
        if isinstance(val, dict):
            lines += [f"## {key}", ""]
            for k, v in val.items():
                if _is_table(v):  # a list of records with the same keys: a Markdown table
                    cols = list(v[0])
                    lines += [f"- **{k}**:", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                    lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in v]
                    lines.append("")
                else:
                    lines.append(f"- **{k}**: {_fmt(v)}")
            lines.append("")
        else:
            lines.append(f"- **{key}**: {_fmt(val)}")
    lines.append("")
    atomic_write_text(p, "\n".join(lines))
    return p
