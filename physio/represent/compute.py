"""Computing a network's input representation from a stream of frames.

A :class:`RepresentationSpec` names one representation and its parameters:

* ``kind="nfd"`` — crop the region, bicubic-downsample to ``size × size`` and take the normalised
  frame difference (DeepMag eq. 14): ``(T-1, 3, size, size)``.
* ``kind="phase"`` — luminance, complex steerable pyramid (octave, 4 orientations), phase differences
  at level ``level`` resampled to ``size × size`` (eq. 19): ``(T-1, 4, size, size)`` radians.

:func:`iter_representation` streams: it takes frame chunks, keeps one frame of overlap between chunks,
and yields the representation chunk by chunk, so a video of any length is processed in bounded memory.
Standardisation (dividing by the session's standard deviation of ``X``, as rPPG-Toolbox does) is not
applied here; the cache stores the scale beside the raw values (:mod:`physio.represent.cache`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from physio.errors import InputError
from physio.represent.nfd import downsample_uint8, nfd
from physio.represent.pyramid import SteerablePyramid, phase_differences

__all__ = ["RepresentationSpec", "RepresentationStream", "iter_representation", "box_from_mask", "crop"]

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class RepresentationSpec:
    """Parameters of a cached/computed representation (see module docstring).

    Attributes
    ----------
    kind : "nfd" or "phase"
    size : int
        Output side in pixels (36 for NFD, 123 for phase in the paper).
    roi : str
        ``"full"`` (the whole frame, as in the paper), ``"mask:<name>"`` (the bounding box, over
        the whole session, of a stored cohort mask, e.g. ``mask:skin``, grown by ``margin``) or
        ``"detect:face"`` / ``"detect:torso"`` (the box ``physio rates`` crops at inference: the
        detector's per-frame boxes combined by :func:`physio.roi.crop.crop_box_union` with ``margin``),
        so a network can be trained on the very crop it will be fed (``physio rates`` uses margin 0.1
        for the face and 0 for the torso: train with the same).
    margin : float
        Fractional growth of a mask's bounding box on each side.
    level : int
        Pyramid level r0 (phase only; 0 = finest).
    standardize : bool
        Divide by the session's standard deviation of ``X`` when feeding a network.
    """

    kind: str = "nfd"
    size: int = 36
    roi: str = "full"
    margin: float = 0.1
    level: int = 2
    standardize: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("nfd", "phase"):
            raise InputError(f"representation kind must be 'nfd' or 'phase', got {self.kind!r}")
        if int(self.size) < 8:
            raise InputError(f"representation size must be ≥ 8, got {self.size}")
        if not (self.roi in ("full", "detect:face", "detect:torso") or self.roi.startswith("mask:")):
            raise InputError(
                f"representation roi must be 'full', 'mask:<name>', 'detect:face' or 'detect:torso', got {self.roi!r}"
            )

    @classmethod
    def from_dict(cls, d: dict | RepresentationSpec) -> RepresentationSpec:
        if isinstance(d, RepresentationSpec):
            return d
        valid = set(cls.__dataclass_fields__)
        unknown = set(d) - valid
        if unknown:
            raise InputError(f"unknown representation key(s) {sorted(unknown)}; valid: {sorted(valid)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def channels(self) -> int:
        return 3 if self.kind == "nfd" else 4

    @property
    def key(self) -> str:
        """Cache key: changes whenever a parameter that affects the values changes."""
        params = {k: v for k, v in self.to_dict().items() if k != "standardize"}
        digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
        return f"{self.kind}{self.size}-{digest}"


def box_from_mask(mask: np.ndarray, margin: float = 0.1) -> Box:
    """Bounding box ``(x0, y0, x1, y1)`` (exclusive ends) of a mask's union over time, grown by ``margin``."""
    m = np.asarray(mask).astype(bool)
    if m.ndim == 3:
        m = m.any(axis=0)
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        raise InputError("mask is empty: no region to crop")
    h, w = m.shape
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    dy, dx = int(round((y1 - y0) * margin)), int(round((x1 - x0) * margin))
    return int(max(0, x0 - dx)), int(max(0, y0 - dy)), int(min(w, x1 + dx)), int(min(h, y1 + dy))


def crop(frames: np.ndarray, box: Box | None) -> np.ndarray:
    """Crop ``(T, H, W, 3)`` frames to ``box`` (None: unchanged)."""
    if box is None:
        return frames
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= frames.shape[2] and 0 <= y0 < y1 <= frames.shape[1]):
        raise InputError(f"crop box {box} outside frames of {frames.shape[2]}x{frames.shape[1]}")
    return frames[:, y0:y1, x0:x1]


def _compute(spec: RepresentationSpec, frames: torch.Tensor, pyramid) -> torch.Tensor:
    """``(T, 3, H, W)`` float in [0, 1] → ``(T-1, C, S, S)`` float32."""
    if spec.kind == "nfd":
        small = downsample_frames(frames, spec.size)
        return nfd(small).float()

    pd = phase_differences(frames[None], pyramid, level=spec.level, size=spec.size, luminance=True)
    return pd.x[0].float()


class RepresentationStream:
    """Push-style representation: ``push(uint8 (t, H, W, 3))`` → float32 ``(t', C, S, S)`` or None.

    The output has one sample fewer than the input has frames (sample ``i`` describes frames ``i`` and
    ``i + 1``).  One frame is carried between chunks, so the result does not depend on chunk sizes.
    """

    def __init__(self, spec: RepresentationSpec, box: Box | None = None, device: str | torch.device = "cpu") -> None:
        self.spec, self.box, self.device = spec, box, device
        self._pyramid = None
        if spec.kind == "phase":
            self._pyramid = SteerablePyramid().to(device)
        self._carry: np.ndarray | None = None
        self._small: torch.Tensor | None = None  # NFD: the last downsampled frame

    def push(self, chunk: np.ndarray) -> np.ndarray | None:
        if self.spec.kind == "nfd":
            return self._push_nfd(chunk)
        c = crop(np.asarray(chunk), self.box)
        if self._carry is not None:
            c = np.concatenate([self._carry, c], axis=0)
        if len(c) < 2:
            self._carry = c
            return None
        x = torch.from_numpy(np.ascontiguousarray(c)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        with torch.no_grad():
            rep = _compute(self.spec, x, self._pyramid)
        self._carry = c[-1:]
        return rep.cpu().numpy()


    def _push_nfd(self, chunk: np.ndarray) -> np.ndarray | None:
        """NFD: each frame is downsampled once (the last one is carried, downsampled), straight from
        the uint8 crop in its channels-last layout; the 1/255 scaling follows the (linear) resampling,
        on the small frames.  Equal to :func:`_compute` on the concatenated frames up to float32
        rounding."""
        c = crop(np.asarray(chunk), self.box)
        if not len(c):
            return None
        with torch.no_grad():
            small = downsample_uint8(c, self.spec.size, self.device)  # a few frames of float at a time
            if self._small is not None:
                small = torch.cat([self._small, small])
            self._small = small[-1:]
            if len(small) < 2:
                return None
            return nfd(small).float().cpu().numpy()


def iter_representation(
    chunks: Iterable[np.ndarray],
    spec: RepresentationSpec,
    box: Box | None = None,
    device: str | torch.device = "cpu",
) -> Iterator[np.ndarray]:
    """Stream a representation: ``uint8 (t, H, W, 3)`` chunks → float32 ``(t', C, S, S)`` chunks
    (see :class:`RepresentationStream`)."""
    stream = RepresentationStream(spec, box, device)
    for chunk in chunks:
        rep = stream.push(chunk)
        if rep is not None:
            yield rep
