"""Argument checks shared by the classical magnifiers (private)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from physio.errors import InputError
from physio.represent.pyramid import rgb_to_yiq, yiq_to_rgb

# The NTSC matrices, taken from the one definition in physio.represent.pyramid (columns = images of
# the RGB basis vectors).
_RGB_TO_YIQ = rgb_to_yiq(torch.eye(3, dtype=torch.float64)[:, :, None, None])[..., 0, 0].T.contiguous()
_YIQ_TO_RGB = yiq_to_rgb(torch.eye(3, dtype=torch.float64)[:, :, None, None])[..., 0, 0].T.contiguous()


def check_frames(frames: object, who: str) -> Tensor:
    """``frames`` must be a real float tensor ``(T, 3, H, W)`` with T >= 1."""
    if not isinstance(frames, Tensor):
        raise InputError(f"{who}: frames: expected a torch.Tensor, got {type(frames).__name__}")
    if not frames.is_floating_point():
        raise InputError(f"{who}: frames: expected a float tensor in [0, 1], got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[1] != 3 or frames.shape[0] < 1:
        raise InputError(f"{who}: frames: expected shape (T, 3, H, W) with T >= 1, got {tuple(frames.shape)}")
    return frames


def check_alpha(alpha: object, who: str) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"{who}: alpha must be a number, got {alpha!r}") from None
    if not math.isfinite(a) or a < 0:
        raise InputError(f"{who}: alpha must be a finite number >= 0, got {alpha!r}")
    return a


def check_fps(fps: object, who: str) -> float:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"{who}: fps must be a positive number, got {fps!r}")
    return float(fps)


def luminance(x: Tensor) -> Tensor:
    """Y of YIQ: (T, 3, H, W) -> (T, 1, H, W)."""
    return torch.einsum("j,tjhw->thw", _RGB_TO_YIQ[0].to(x.device, x.dtype), x)[:, None]


def chroma_matrix(chroma_attenuation: float, like: Tensor) -> Tensor:
    """3 x 3 RGB matrix that scales the I and Q components of a change by ``chroma_attenuation``:
    ``M^-1 diag(1, c, c) M`` with ``M`` the RGB -> YIQ matrix."""
    d = torch.diag(torch.tensor([1.0, chroma_attenuation, chroma_attenuation], dtype=torch.float64))
    return (_YIQ_TO_RGB @ d @ _RGB_TO_YIQ).to(like.device, like.dtype)


def apply_rgb_matrix(m: Tensor, x: Tensor) -> Tensor:
    """Apply a 3 x 3 colour matrix on dim 1 of (T, 3, H, W)."""
    return torch.einsum("ij,tjhw->tihw", m, x)
