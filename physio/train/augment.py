"""Training-time augmentations of cached representations (``augment:`` in a training config).

The published recipe for networks trained on synthetic video (Ou et al. 2023: real-world video and
signal noise added to SCAMPS cut the cross-dataset HR MAE from 6.9 to 2.0 bpm) degrades the training
input the way real cameras and real references do.  physio trains on cached representations
(:mod:`physio.represent.cache`: the normalised frame difference ``x(t) = (c(t+1) − c(t)) / (c(t+1) + c(t))``
of a 36 × 36 crop, per-session RMS-standardised), so each augmentation is written as what the
corresponding camera effect does *to that representation*.  ``x`` is, to first order, the change of
``log c`` over one frame, which makes every effect below exact or first-order exact:

``noise``
    Sensor noise: independent zero-mean Gaussian added to every cell, σ drawn from ``sigma``
    (standardised units: 1 = the session's RMS of ``x``).
``blur``
    Defocus / motion blur: a spatial Gaussian over the cells, σ drawn from ``sigma`` (cells).
``colour``
    A static colour cast or offset: ``c → c + o`` scales the channel's ``x`` by ``c / (c + o)``; each
    channel's ``x`` is multiplied by a gain drawn log-uniformly from ``scale``.  (A pure gain
    ``c → g·c`` leaves ``x`` unchanged, so brightness jitter is this and ``illumination``.)
``illumination``
    Auto-exposure and white-balance drift: ``c → g(t)·c`` adds ``Δlog g`` to every cell of a channel.
    A common (exposure) and a per-channel (white balance, ×0.5) slow series — a few sinusoids at
    frequencies drawn from ``hz`` — are added, their RMS drawn from ``amplitude``.
``compression``
    A temporal-residual codec (the skip/quantise decision of H.264's inter blocks): the per-cell
    integral of ``x`` (the log intensity) is encoded block by block (``block`` × ``block`` cells) against
    the previously *decoded* frame; a block whose mean residual is under ``threshold`` is skipped (the
    decoded frame keeps the old values, so small changes build up until they cross the threshold),
    otherwise its residual is quantised with step ``step``.  ``x`` is the frame difference of the
    decoded integral.
``frame_drop``
    A dropped frame repeated by the camera: at a fraction ``rate`` of the time points, frame ``t + 1``
    equals frame ``t``, so ``x(t) = 0`` and ``x(t + 1)`` carries both steps.
``label_lag``
    A video-to-reference synchronisation error: the labels of a block are read ``k`` frames late or
    early, ``k`` uniform in ``−frames … frames`` (handled by :class:`physio.train.data.BlockDataset`).

Each entry has a probability ``p`` of being applied to a block (each block draws independently) and
its own ranges; every key is optional and an empty ``augment:`` turns augmentation off.  Validation
data are never augmented.  The randomness comes from torch's generator (seeded by the loop, per
DataLoader worker by torch), so a resumed run continues the same sequence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from physio.errors import InputError

__all__ = ["AUGMENT_DEFAULTS", "Augmenter", "parse_augment"]

AUGMENT_DEFAULTS: dict[str, dict] = {
    "noise": {"p": 0.5, "sigma": [0.05, 0.5]},
    "blur": {"p": 0.3, "sigma": [0.3, 1.5]},
    "colour": {"p": 0.5, "scale": [0.8, 1.25]},
    "illumination": {"p": 0.5, "amplitude": [0.02, 0.3], "hz": [0.02, 0.4]},
    "compression": {"p": 0.3, "block": 6, "threshold": [0.0, 0.3], "step": [0.0, 0.15]},
    "frame_drop": {"p": 0.2, "rate": [0.0, 0.05]},
    "label_lag": {"p": 0.5, "frames": 2},
}
"""Every augmentation and its parameters; a config entry overrides the keys it gives."""

_RANGES = {"noise": ("sigma",), "blur": ("sigma",), "colour": ("scale",), "illumination": ("amplitude", "hz"),
           "compression": ("threshold", "step"), "frame_drop": ("rate",)}


def _range(name: str, key: str, v) -> tuple[float, float]:
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(a, (int, float)) for a in v)):
        raise InputError(f"augment.{name}.{key} must be a [low, high] pair of numbers, got {v!r}")
    lo, hi = float(v[0]), float(v[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi < lo:
        raise InputError(f"augment.{name}.{key} must satisfy 0 ≤ low ≤ high, got {v!r}")
    return lo, hi


def parse_augment(spec: Mapping | None) -> dict[str, dict]:
    """Validate an ``augment:`` mapping and fill in defaults; returns ``{name: params}`` of the enabled ones.

    A value may be ``true`` (the defaults), ``false``/``null`` (off) or a mapping overriding defaults.
    """
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise InputError(f"augment must be a mapping of augmentation names, got {spec!r}")
    out: dict[str, dict] = {}
    for name, v in spec.items():
        if name not in AUGMENT_DEFAULTS:
            raise InputError(f"unknown augmentation {name!r}; valid: {', '.join(AUGMENT_DEFAULTS)}")
        if v is None or v is False:
            continue
        if v is True:
            v = {}
        if not isinstance(v, Mapping):
            raise InputError(f"augment.{name} must be true, false or a mapping, got {v!r}")
        unknown = set(v) - set(AUGMENT_DEFAULTS[name])
        if unknown:
            raise InputError(f"augment.{name}: unknown key(s) {', '.join(sorted(unknown))}; "
                             f"valid: {', '.join(AUGMENT_DEFAULTS[name])}")
        params = {**AUGMENT_DEFAULTS[name], **v}
        p = params["p"]
        if not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise InputError(f"augment.{name}.p must be in [0, 1], got {p!r}")
        for key in _RANGES.get(name, ()):
            params[key] = _range(name, key, params[key])
        if name == "colour" and params["scale"][0] <= 0:
            raise InputError("augment.colour.scale must be > 0")
        if name == "frame_drop" and params["rate"][1] > 1:
            raise InputError("augment.frame_drop.rate must be ≤ 1")
        if name == "compression" and (not isinstance(params["block"], int) or params["block"] < 1):
            raise InputError(f"augment.compression.block must be an integer ≥ 1, got {params['block']!r}")
        if name == "label_lag" and (not isinstance(params["frames"], int) or params["frames"] < 0):
            raise InputError(f"augment.label_lag.frames must be an integer ≥ 0, got {params['frames']!r}")
        if p > 0:
            out[name] = params
    return out


def _blockwise_mean(z: np.ndarray, b: int) -> np.ndarray:
    """Mean of ``z`` (C, S, S) over ``b`` × ``b`` cell blocks, broadcast back to (C, S, S)."""
    c, h, w = z.shape
    hb, wb = -(-h // b), -(-w // b)
    pad = np.pad(z, ((0, 0), (0, hb * b - h), (0, wb * b - w)), mode="edge")
    m = pad.reshape(c, hb, b, wb, b).mean(axis=(2, 4))
    return np.repeat(np.repeat(m, b, axis=1), b, axis=2)[:, :h, :w]


def compress(x: np.ndarray, block: int, threshold: float, step: float) -> np.ndarray:
    """The ``compression`` model on a block ``x`` (T, C, S, S); see the module docstring."""
    z = np.cumsum(x, axis=0)
    dec = np.zeros_like(z[0])
    out = np.empty_like(z)
    for t in range(len(z)):
        r = z[t] - dec
        send = np.abs(_blockwise_mean(r, block)) >= threshold if threshold > 0 else np.ones(r.shape, bool)
        q = np.round(r / step) * step if step > 0 else r
        dec = dec + np.where(send, q, 0.0)
        out[t] = dec
    return np.diff(out, axis=0, prepend=np.zeros_like(out[:1])).astype(x.dtype)


def drop_frames(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Frame ``t + 1`` repeats frame ``t`` where ``mask[t]``: ``x(t)`` moves into ``x(t + 1)``."""
    y = x.copy()
    for t in np.flatnonzero(mask):
        if t + 1 < len(y):
            y[t + 1] += y[t]
        y[t] = 0.0
    return y


@dataclass
class Augmenter:
    """Applies the enabled augmentations of a parsed ``augment:`` mapping to one block."""

    spec: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.spec)

    def max_lag(self) -> int:
        return int(self.spec["label_lag"]["frames"]) if "label_lag" in self.spec else 0

    def draw_lag(self, rng: np.random.Generator) -> int:
        s = self.spec.get("label_lag")
        if not s or rng.random() >= s["p"] or s["frames"] == 0:
            return 0
        return int(rng.integers(-s["frames"], s["frames"] + 1))

    def __call__(self, x: np.ndarray, rng: np.random.Generator, fps: float = 30.0) -> np.ndarray:
        """Augment ``x`` (T, C, S, S) float32; returns a new array (``x`` is not modified)."""
        s = self.spec
        x = np.array(x, dtype=np.float32, copy=True)
        t, c = x.shape[:2]

        def on(name: str) -> bool:
            return name in s and rng.random() < s[name]["p"]

        if on("frame_drop"):
            x = drop_frames(x, rng.random(t) < rng.uniform(*s["frame_drop"]["rate"]))
        if on("compression"):
            p = s["compression"]
            x = compress(x, p["block"], rng.uniform(*p["threshold"]), rng.uniform(*p["step"]))
        if on("blur"):
            sig = rng.uniform(*s["blur"]["sigma"])
            if sig > 0:
                x = gaussian_filter1d(gaussian_filter1d(x, sig, axis=2, mode="nearest"), sig, axis=3, mode="nearest")
        if on("colour"):
            lo, hi = s["colour"]["scale"]
            x *= np.exp(rng.uniform(math.log(lo), math.log(hi), size=c)).astype(np.float32)[None, :, None, None]
        if on("illumination"):
            p = s["illumination"]
            tt = np.arange(t) / fps

            def series() -> np.ndarray:
                f = rng.uniform(*p["hz"], size=3)
                ph = rng.uniform(0, 2 * np.pi, size=3)
                w = rng.normal(size=3)
                # the added term is Δ log g per frame: the derivative of log g = Σ w sin(2π f t + φ),
                # scaled by its stationary RMS (not the block's: a block may be one sample long)
                k = w * 2 * np.pi * f
                d = (k[:, None] * np.cos(2 * np.pi * f[:, None] * tt[None] + ph[:, None])).sum(axis=0)
                return d / (np.sqrt(np.sum(k ** 2) / 2) + 1e-12)

            amp = rng.uniform(*p["amplitude"])
            common = series()
            add = np.stack([common + 0.5 * series() for _ in range(c)], axis=1) * (amp / 1.118)
            x += add.astype(np.float32)[:, :, None, None]
        if on("noise"):
            x += rng.normal(0.0, rng.uniform(*s["noise"]["sigma"]), size=x.shape).astype(np.float32)
        return x
