"""Normalised frame difference (DeepMag colour-change representation, Chen & McDuff 2020, §3.2).

Frames are float tensors ``(B, T, C, H, W)`` (a leading batch dimension is optional: ``(T, C, H, W)``
works too), holding non-negative linear intensities in any unit (``[0, 1]`` or ``[0, 255]``).
Time is always dimension ``-4``.

Pipeline of the paper: ``downsample_frames`` (bicubic, L x L, L = 36) -> ``nfd`` (eq. 14) -> network
-> ... -> ``nfd_inverse`` (eq. 16) -> ``upsample_frames`` (the operator U of eq. 17).

References
----------
.. [1] W. Chen and D. McDuff, "DeepMag: Source-specific change magnification using gradient ascent",
   ACM TOG 40(1), 2020, eqs. 11-17.
.. [2] W. Chen and D. McDuff, "DeepPhys: Video-based physiological measurement using convolutional
   attention networks", ECCV 2018.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from physio.errors import InputError

__all__ = [
    "NFD_EPS",
    "NFD",
    "nfd",
    "downsample_uint8",
    "nfd_inverse",
    "nfd_standardize",
    "appearance_standardize",
    "downsample_frames",
    "upsample_frames",
]

NFD_EPS: float = 1e-7
"""Default denominator guard of :func:`nfd` (same value as rPPG-Toolbox's ``diff_normalize_data``)."""


def _check_frames(x: object, name: str, min_ndim: int = 4, max_ndim: int = 5) -> Tensor:
    if not isinstance(x, Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point()):
        raise InputError(f"{name}: expected a real floating-point tensor, got dtype {x.dtype}")
    if not (min_ndim <= x.ndim <= max_ndim):
        shape = "(B, T, C, H, W) or (T, C, H, W)" if min_ndim == 4 else "(..., C, H, W)"
        raise InputError(f"{name}: expected shape {shape}, got {tuple(x.shape)} ({x.ndim}-D)")
    return x


def _size2(size: int | tuple[int, int], name: str = "size") -> tuple[int, int]:
    out = (size, size) if isinstance(size, int) else tuple(size)
    if len(out) != 2 or not all(isinstance(s, int) and s >= 1 for s in out):
        raise InputError(f"{name}: expected a positive int or (h, w), got {size!r}")
    return out  # type: ignore[return-value]


def nfd(frames: Tensor, eps: float = NFD_EPS) -> Tensor:
    r"""Normalised frame difference, eq. 14 of DeepMag.

    .. math:: X(t) = \frac{C(t+1) - C(t)}{C(t+1) + C(t) + \varepsilon}

    The guard :math:`\varepsilon > 0` keeps black pixels finite (``0 / eps = 0``) and, because the
    frames are non-negative, keeps ``|X| < 1`` strictly.  It equals the unguarded eq. 14 applied to
    the frames shifted by :math:`\varepsilon/2`, which is what makes :func:`nfd_inverse` exact.

    Parameters
    ----------
    frames : Tensor, shape (B, T, C, H, W) or (T, C, H, W)
        Non-negative intensities, T >= 2; usually the output of :func:`downsample_frames`.
    eps : float
        Denominator guard, in the units of ``frames``; must be > 0.

    Returns
    -------
    Tensor, shape (B, T-1, C, H, W) or (T-1, C, H, W)
        Dimensionless, in (-1, 1); same dtype and device as ``frames``.

    Raises
    ------
    InputError
        Wrong type/ndim, fewer than 2 frames, negative intensities or ``eps <= 0``.
    """
    _check_frames(frames, "nfd: frames")
    if frames.shape[-4] < 2:
        raise InputError(f"nfd: frames: expected at least 2 frames (dim -4), got {frames.shape[-4]}")
    if not eps > 0:
        raise InputError(f"nfd: eps: expected > 0, got {eps}")
    low = frames.detach().amin()
    if low < 0:
        raise InputError(f"nfd: frames: expected non-negative intensities, got minimum {low.item():.4g}")
    a, b = frames[..., 1:, :, :, :], frames[..., :-1, :, :, :]
    return (a - b) / (a + b + eps)


def nfd_inverse(x: Tensor, c0: Tensor, eps: float = NFD_EPS) -> Tensor:
    r"""Rebuild frames from normalised frame differences, eq. 16 of DeepMag.

    .. math:: \tilde C(t+1) = \frac{1 + X(t)}{1 - X(t)}\,\tilde C(t),\qquad \tilde C(1) = C(1)

    applied to :math:`C + \varepsilon/2` so that it inverts :func:`nfd` with the same ``eps`` exactly.
    The recursion is vectorised as a cumulative product over time, computed in float64 (the relative
    error of a float32 product would grow like ``T * 1e-7``) and returned in ``x``'s dtype.
    Pixels with ``|X|`` close to 1 (a pixel turning on from black) are ill-conditioned: the
    rounding error of ``X`` is amplified by ``1 / (1 - |X|)``.

    Parameters
    ----------
    x : Tensor, shape (B, T-1, C, H, W) or (T-1, C, H, W)
        Normalised frame differences, all in (-1, 1) (e.g. magnified ones).
    c0 : Tensor, shape (B, C, H, W) or (C, H, W)
        First frame C(1), non-negative, in the units wanted for the output.
    eps : float
        The guard used by :func:`nfd`.

    Returns
    -------
    Tensor, shape (B, T, C, H, W) or (T, C, H, W)
        Frames; ``out[..., 0, :, :, :] == c0``.

    Raises
    ------
    InputError
        Shapes that do not match, values of ``x`` outside (-1, 1), negative ``c0``.
    """
    _check_frames(x, "nfd_inverse: x")
    _check_frames(c0, "nfd_inverse: c0", 3, 4)
    if c0.shape != x.shape[:-4] + x.shape[-3:]:
        raise InputError(
            f"nfd_inverse: c0: expected shape {tuple(x.shape[:-4] + x.shape[-3:])} "
            f"(x without its time dim), got {tuple(c0.shape)}"
        )
    big = x.detach().abs().amax() if x.numel() else torch.zeros(())
    if big >= 1:
        raise InputError(f"nfd_inverse: x: expected values in (-1, 1), got max |x| = {big.item():.6g}")
    if c0.numel() and c0.detach().amin() < 0:
        raise InputError("nfd_inverse: c0: expected non-negative intensities")
    x64 = x.to(torch.float64)
    ratio = torch.cumprod((1 + x64) / (1 - x64), dim=-4)
    d0 = (c0.to(torch.float64) + eps / 2).unsqueeze(-4)
    d = torch.cat([d0, d0 * ratio], dim=-4)
    return (d - eps / 2).to(x.dtype)


def nfd_standardize(x: Tensor) -> tuple[Tensor, Tensor]:
    """Divide normalised frame differences by their per-video standard deviation.

    This is the ``DiffNormalized`` preprocessing of rPPG-Toolbox (one scalar per video, over time,
    channels and pixels).  A video whose std is 0 (static clip) keeps scale 1.

    Parameters
    ----------
    x : Tensor, shape (B, T-1, C, H, W) or (T-1, C, H, W)
        Output of :func:`nfd`.

    Returns
    -------
    standardized : Tensor, same shape as ``x``
        ``x / scale``.
    scale : Tensor, shape (B, 1, 1, 1, 1) or (1, 1, 1, 1)
        Population std (``unbiased=False``); undo with ``standardized * scale``.
    """
    _check_frames(x, "nfd_standardize: x")
    scale = x.std(dim=(-4, -3, -2, -1), correction=0, keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return x / scale, scale


def appearance_standardize(frames: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Standardise appearance frames per video, ``(C - mean) / std`` (DeepPhys attention branch).

    Mean and std are scalars per video over time, channels and pixels, as rPPG-Toolbox's
    ``Standardized`` preprocessing.  A constant video keeps std 1.

    Parameters
    ----------
    frames : Tensor, shape (B, T, C, H, W) or (T, C, H, W)
        Intensities, usually the output of :func:`downsample_frames`.

    Returns
    -------
    standardized : Tensor, same shape as ``frames``
    mean, std : Tensor, shape (B, 1, 1, 1, 1) or (1, 1, 1, 1)
        Undo with ``standardized * std + mean``.
    """
    _check_frames(frames, "appearance_standardize: frames")
    dims = (-4, -3, -2, -1)
    mean = frames.mean(dim=dims, keepdim=True)
    std = frames.std(dim=dims, correction=0, keepdim=True)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return (frames - mean) / std, mean, std


_WEIGHTS: dict = {}
_WEIGHTS_MAX = 32


def resize_matrix(n_in: int, n_out: int, antialias: bool, axis: int = -2, dtype=torch.float32, device=None) -> Tensor:
    """The ``(n_out, n_in)`` matrix of PyTorch's bicubic resampling along ``axis`` (−2: rows, −1:
    columns; ``align_corners=False``, Keys a = −0.75, edge samples replicated; widened by the scale
    factor when shrinking with ``antialias``): ``interpolate`` applied to the identity laid along that
    axis, so it *is* that operator (bicubic resampling is linear and separable).  The identity is laid
    over 8 samples of the other axis: PyTorch 2.13's antialiased path resamples a one-sample-wide image
    differently (measured: up to 0.33 of a unit sample).  Cached per size pair, axis, dtype and device."""
    if axis not in (-2, -1):
        raise InputError(f"resize_matrix: axis must be -2 or -1, got {axis}")
    key = (int(n_in), int(n_out), bool(antialias), axis, dtype, str(device))
    w = _WEIGHTS.get(key)
    if w is None:
        eye = torch.eye(n_in, dtype=torch.float64)
        if axis == -2:
            grid = eye[:, None, :, None].expand(n_in, 1, n_in, 8)
            out = F.interpolate(grid, size=(n_out, 8), mode="bicubic", align_corners=False, antialias=antialias)
            w = out[:, 0, :, 0]
        else:
            grid = eye[:, None, None, :].expand(n_in, 1, 8, n_in)
            out = F.interpolate(grid, size=(8, n_out), mode="bicubic", align_corners=False, antialias=antialias)
            w = out[:, 0, 0, :]
        w = w.T.contiguous().to(device=device, dtype=dtype)
        if len(_WEIGHTS) >= _WEIGHTS_MAX:
            _WEIGHTS.pop(next(iter(_WEIGHTS)))
        _WEIGHTS[key] = w
    return w


def _resize(frames: Tensor, size: tuple[int, int], antialias: bool) -> Tensor:
    """Bicubic resampling of the last two axes to ``size``: ``W_y · X · W_xᵀ`` with the matrices of
    :func:`resize_matrix` — the same operator as ``F.interpolate(mode="bicubic")`` (equal to float
    rounding, tested) at a fraction of its time on the CPU (two matrix products instead of a
    per-pixel kernel: 463×514 → 36×36, 3.4 → 0.4 s for 900 frames; the upsampling back, 2.7 → 0.6 s)."""
    h, w = frames.shape[-2:]
    if not frames.is_floating_point():
        raise InputError(f"resize: frames must be floating point, got {frames.dtype}")
    wy = resize_matrix(h, size[0], antialias, -2, frames.dtype, frames.device)
    wx = resize_matrix(w, size[1], antialias, -1, frames.dtype, frames.device)
    if frames.ndim == 4 and not frames.is_contiguous() and frames.is_contiguous(memory_format=torch.channels_last):
        # channels-last (e.g. a permuted view of uint8 HWC frames): contract in that layout, no NCHW copy
        # of the input (a copy of a 64-frame 640x480 chunk is ~190 MB: measured +146 MB peak in rates)
        n, c = frames.shape[:2]
        x = frames.permute(0, 2, 3, 1)  # (n, h, w, c), contiguous
        y = torch.matmul(wy, x.reshape(n, h, w * c)).reshape(n * size[0], w, c)  # rows
        y = torch.matmul(wx, y).reshape(n, size[0], size[1], c)  # columns
        return y.permute(0, 3, 1, 2)
    return torch.matmul(torch.matmul(wy, frames), wx.T)


def downsample_frames(frames: Tensor, size: int | tuple[int, int] = 36, clamp: bool = True) -> Tensor:
    """Bicubic downsampling of every frame to ``size`` x ``size`` pixels (DeepMag: L = 36).

    Uses ``torch.nn.functional.interpolate(mode="bicubic", antialias=True, align_corners=False)``:
    Keys cubic (a = -0.75) widened by the scale factor when shrinking, like MATLAB's ``imresize``
    (plain ``cv2.INTER_CUBIC`` does not low-pass before decimating and aliases).  The aspect ratio is
    not kept: crop to the ROI first.

    Parameters
    ----------
    frames : Tensor, shape (..., C, H, W)
        Float intensities (any number of leading dims, e.g. (B, T)).
    size : int or (int, int)
        Output L (square) or (h, w), pixels.
    clamp : bool
        Clip the bicubic overshoot below 0 (intensities are non-negative; :func:`nfd` requires it).

    Returns
    -------
    Tensor, shape (..., C, h, w)
    """
    _check_frames(frames, "downsample_frames: frames", 3, 8)
    out = _resize(frames, _size2(size), antialias=True)
    return out.clamp_min(0) if clamp else out


FLOAT_BYTES = 32 << 20
"""Bytes of float32 frames made at once by :func:`downsample_uint8` (a 1080p face box is ~20 MB a frame
in float32: converting a whole 10-frame chunk at once was the peak of ``physio rates`` on 1080p video)."""


def downsample_uint8(frames, size: int | tuple[int, int] = 36, device: str | torch.device = "cpu",
                     max_bytes: int = FLOAT_BYTES) -> Tensor:
    """:func:`downsample_frames` of ``uint8 (t, H, W, 3)`` frames (a numpy array or a view of one),
    returned as float32 ``(t, 3, h, w)`` intensities in [0, 1].

    The frames are converted to float a few at a time (at most ``max_bytes``) in their channels-last
    layout and resampled there; the 1/255 scaling follows the (linear) resampling, on the small frames.
    Equal to ``downsample_frames(to_tensor(frames))`` up to float32 rounding (tested)."""
    import numpy as np  # noqa: PLC0415

    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or not len(arr):
        raise InputError(f"downsample_uint8: frames must be (t, H, W, 3) with t >= 1, got shape {arr.shape}")
    step = max(1, int(max_bytes) // max(1, 4 * arr[0].size))
    parts = []
    with torch.no_grad():
        for i in range(0, len(arr), step):
            x = torch.from_numpy(np.ascontiguousarray(arr[i : i + step])).to(device)
            parts.append(downsample_frames(x.permute(0, 3, 1, 2).float(), size))
    out = parts[0] if len(parts) == 1 else torch.cat(parts)
    return out.div_(255.0)


def upsample_frames(frames: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Bicubic upsampling (operator U of DeepMag eq. 17), same kernel as :func:`downsample_frames`.

    Parameters
    ----------
    frames : Tensor, shape (..., C, h, w)
    size : int or (int, int)
        Output (H, W) in pixels, usually the original frame size.

    Returns
    -------
    Tensor, shape (..., C, H, W)
        Not clamped: eq. 17 uses ``U(C~) - U(C)``, where overshoot cancels.
    """
    _check_frames(frames, "upsample_frames: frames", 3, 8)
    return _resize(frames, _size2(size), antialias=False)


class NFD(nn.Module):
    """Module form of :func:`nfd` (no parameters).

    Parameters
    ----------
    eps : float
        Denominator guard, see :func:`nfd`.
    """

    def __init__(self, eps: float = NFD_EPS) -> None:
        super().__init__()
        if not eps > 0:
            raise InputError(f"NFD: eps: expected > 0, got {eps}")
        self.eps = eps

    def forward(self, frames: Tensor) -> Tensor:
        """(B, T, C, H, W) -> (B, T-1, C, H, W); see :func:`nfd`."""
        return nfd(frames, self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"
