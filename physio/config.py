"""Typed configuration for ``configs/*.yaml``: dataclasses, strict YAML loading, CLI overrides.

Unknown keys are errors (a typo must not silently fall back to a default).  Every field of a config
dataclass becomes a command-line flag ``--field-name`` of the command that uses it, so any config key
can be overridden from the command line; nested mappings are overridden with ``--set key.sub=value``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from pathlib import Path

import yaml

from physio.errors import InputError

__all__ = ["load_config", "config_from_dict", "add_config_flags", "apply_overrides", "config_to_dict"]


def config_to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(cls, data: dict, where: str = "config"):
    """Build dataclass ``cls`` from ``data``; unknown keys raise :class:`InputError`."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in data.items():
        t = hints[k]
        if dataclasses.is_dataclass(t) and isinstance(v, dict):
            v = config_from_dict(t, v, f"{where}.{k}")
        elif t in (tuple, tuple[float, float], tuple[int, ...], tuple[float, ...]) and isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from None


def load_config(cls, path: str | os.PathLike):
    """Load YAML file ``path`` into dataclass ``cls`` (strict)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such config file")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{p}: invalid YAML ({exc})") from None
    return config_from_dict(cls, data, str(p))


def _parse_value(text: str):
    """YAML scalar parsing, plus numbers YAML 1.1 leaves as strings (``1e-3``)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def add_config_flags(parser: argparse.ArgumentParser, cls) -> None:
    """Add ``--field-name VALUE`` for every field of ``cls`` (default None = keep the config's)."""
    group = parser.add_argument_group("config overrides (any key of the YAML config)")
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        group.add_argument(flag, dest=f"cfg_{f.name}", type=_parse_value, default=None, metavar="VALUE",
                           help=f"override '{f.name}'")
    group.add_argument("--set", dest="cfg_set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a nested key, e.g. --set net_args.hidden=64 (repeatable)")


def apply_overrides(cfg, args: argparse.Namespace):
    """Return a copy of ``cfg`` with the flags added by :func:`add_config_flags` applied."""
    data = dataclasses.asdict(cfg)
    for f in dataclasses.fields(cfg):
        v = getattr(args, f"cfg_{f.name}", None)
        if v is not None:
            data[f.name] = v
    for item in getattr(args, "cfg_set", []) or []:
        if "=" not in item:
            raise InputError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        parts = key.split(".")
        node = data
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {} if node.get(part) is None else node[part]
                if not isinstance(node[part], dict):
                    raise InputError(f"--set {key}: {part!r} is not a mapping")
            node = node[part]
        node[parts[-1]] = _parse_value(value)
    return config_from_dict(type(cfg), json.loads(json.dumps(data)), "overrides")
