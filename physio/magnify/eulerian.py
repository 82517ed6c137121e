"""Eulerian video magnification (Wu et al. 2012), colour and motion modes, in torch (CPU or CUDA).

Colour mode (pulse)
    Convert RGB to YIQ, blur and downsample every frame ``level`` times (Gaussian pyramid, 5-tap
    binomial kernel), band-pass each pixel of that level over time (ideal FFT filter by default),
    multiply by ``alpha`` (the chroma channels I, Q also by ``chroma_attenuation``), upsample back to
    full size and add to the frame.  MIT's settings for ``face.mp4``: level 4, ideal filter,
    50–60 bpm, alpha 50, chroma attenuation 1.

Motion mode (respiration, small motions)
    Laplacian pyramid of every YIQ frame, each level band-passed over time (zero-phase Butterworth by
    default; ``"iir"`` is Wu et al.'s real-time filter) and amplified by its own factor

    .. math:: \\alpha_l = \\min\\bigl(\\alpha,\\; \\max(0, (1 + \\alpha) \\lambda_l / \\lambda_c - 1)\\bigr)

    which is the paper's bound ``(1 + alpha) delta < lambda / 8`` with ``delta = lambda_c / (8 (1 +
    alpha))`` (eq. 14): levels whose representative wavelength ``lambda_l = 4 * 2**l`` pixels (level 0
    = full resolution) is below the cut-off ``lambda_c`` are amplified less.  As in the authors' code
    the lowpass residual is not amplified, nor (unless ``amplify_finest``) the finest level.  Chroma
    is attenuated by ``chroma_attenuation`` (0.1 by default, as for MIT's baby).

The magnified frames are returned unclipped (the streaming driver clips when converting to uint8).

References
----------
.. [1] H.-Y. Wu, M. Rubinstein, E. Shih, J. Guttag, F. Durand and W. T. Freeman, "Eulerian video
   magnification for revealing subtle changes in the world", ACM TOG 31(4), 2012.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from physio import PULSE_BAND_HZ
from physio.device import resolve_device
from physio.errors import InputError
from physio.magnify._checks import (
    apply_rgb_matrix,
    check_alpha,
    check_fps,
    check_frames,
    chroma_matrix,
)
from physio.magnify.base import Magnifier
from physio.magnify.temporal import BANDPASS_KINDS, TemporalFilter, check_band
from physio.magnify.window import filter_rows, window_stream

__all__ = [
    "EulerianMagnifier",
    "evm_magnify",
    "pyr_down",
    "pyr_up",
    "gaussian_level",
    "laplacian_pyramid",
    "laplacian_collapse",
    "level_alphas",
    "max_levels",
    "MODES",
]

MODES = ("color", "motion")

def _binomial(x: Tensor, scale: float) -> Tensor:
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype, device=x.device)
    return (k[:, None] * k[None, :] * (scale / 256.0)).view(1, 1, 5, 5)


def _pad(x: Tensor, p: int) -> Tensor:
    h, w = x.shape[-2:]
    return F.pad(x, (p, p, p, p), mode="reflect" if min(h, w) > p else "replicate")


def pyr_down(x: Tensor) -> Tensor:
    """Blur (5 x 5 binomial, mirrored ends) and keep even rows/columns of the last two dims:
    (..., H, W) -> (..., ceil(H/2), ceil(W/2)).

    On the CPU (no autograd, float32/64, both sides > 2) this is OpenCV's ``pyrDown`` image by image —
    the same kernel and mirror (reflect-101), ~20x faster than a one-channel ``conv2d``; equal to the
    convolution to float rounding (tests/test_magnify_classical.py)."""
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    if (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and min(h, w) > 2
            and not (x.requires_grad and torch.is_grad_enabled())):
        flat = x.detach().reshape(-1, h, w).contiguous().numpy()
        out = np.empty((len(flat), (h + 1) // 2, (w + 1) // 2), flat.dtype)
        for i, img in enumerate(flat):
            out[i] = cv2.pyrDown(img)
        return torch.from_numpy(out).reshape(*lead, *out.shape[-2:])
    y = F.conv2d(_pad(x.reshape(-1, 1, h, w), 2), _binomial(x, 1.0), stride=2)
    return y.reshape(*lead, *y.shape[-2:])


def pyr_up(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Expand the last two dims to ``size`` = (H, W), each in ``[2m - 1, 2m]`` for input size ``m``.

    Zero insertion followed by the binomial blur (x 4), computed as a transposed convolution of the
    mirror-padded input: even outputs ``(x[i-1] + 6 x[i] + x[i+1]) / 8``, odd ``(x[i] + x[i+1]) / 2``
    along each axis.
    """
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    hh, ww = int(size[0]), int(size[1])
    if not (2 * h - 1 <= hh <= 2 * h and 2 * w - 1 <= ww <= 2 * w):
        raise InputError(f"pyr_up: cannot expand {h}x{w} to {hh}x{ww}")
    if (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and min(h, w) >= 3
            and not (x.requires_grad and torch.is_grad_enabled())):
        return _pyr_up_cv(x.detach().reshape(-1, h, w).contiguous(), hh, ww).reshape(*lead, hh, ww)
    return _pyr_up_conv(x.reshape(-1, h, w), hh, ww).reshape(*lead, hh, ww)


def _pyr_up_conv(x: Tensor, hh: int, ww: int) -> Tensor:
    """:func:`pyr_up` of (N, h, w) as one transposed convolution (any device, differentiable)."""
    h, w = x.shape[-2:]
    y = F.conv_transpose2d(_pad(x.reshape(-1, 1, h, w), 1), _binomial(x, 4.0), stride=2, padding=2)
    return y[:, 0, 2 : 2 + hh, 2 : 2 + ww]


def _pyr_up_cv(x: Tensor, hh: int, ww: int) -> Tensor:
    """:func:`pyr_up` of (N, h, w) on the CPU with OpenCV's ``pyrUp`` (~4x faster than the transposed
    convolution).  OpenCV's ``pyrUp`` is the same kernel with the same mirrored start, but it ends the
    output differently (e.g. ``(x[m-2] + 7 x[m-1]) / 8``, ``x[m-1]`` instead of the mirror's
    ``(2 x[m-2] + 6 x[m-1]) / 8``, ``(x[m-2] + x[m-1]) / 2``): the last two rows and columns are
    recomputed from a 3-row / 3-column strip by the convolution, so the result is the convolution's
    to float rounding (tests/test_magnify_classical.py)."""
    h, w = x.shape[-2:]
    flat = x.numpy()
    out = np.empty((len(flat), hh, ww), flat.dtype)
    for i, img in enumerate(flat):
        out[i] = cv2.pyrUp(img, dstsize=(ww, hh))
    y = torch.from_numpy(out)
    y[:, -2:, :] = _pyr_up_conv(x[:, -3:, :], 6 - (2 * h - hh), ww)[:, -2:, :]
    y[:, :, -2:] = _pyr_up_conv(x[:, :, -3:], hh, 6 - (2 * w - ww))[:, :, -2:]
    return y


def _sizes(h: int, w: int, levels: int) -> list[tuple[int, int]]:
    sizes = [(h, w)]
    for _ in range(levels):
        ph, pw = sizes[-1]
        sizes.append(((ph + 1) // 2, (pw + 1) // 2))
    return sizes


def max_levels(h: int, w: int, min_size: int = 4) -> int:
    """Most pyramid levels for an h x w image whose coarsest level keeps ``min_size`` pixels."""
    n = 0
    while min(_sizes(h, w, n)[-1]) > 1 and min(_sizes(h, w, n + 1)[-1]) >= min_size:
        n += 1
    return n


def gaussian_level(x: Tensor, level: int) -> Tensor:
    """Level ``level`` of the Gaussian pyramid of (N, C, H, W) (``level`` pyr_down steps)."""
    for _ in range(level):
        x = pyr_down(x)
    return x


def _expand_to(x: Tensor, sizes: list[tuple[int, int]]) -> Tensor:
    """Expand a level back through ``sizes`` (coarse to fine, excluding x's own size)."""
    for size in sizes:
        x = pyr_up(x, size)
    return x


def laplacian_pyramid(x: Tensor, levels: int) -> tuple[list[Tensor], Tensor]:
    """Laplacian pyramid: ``levels`` band images (finest first) and the lowpass residual.

    ``laplacian_collapse(*laplacian_pyramid(x, n))`` equals ``x`` to rounding error.
    """
    bands = []
    g = x
    for _ in range(levels):
        down = pyr_down(g)
        bands.append(g - pyr_up(down, g.shape[-2:]))
        g = down
    return bands, g


def laplacian_collapse(bands: list[Tensor], residual: Tensor) -> Tensor:
    """Inverse of :func:`laplacian_pyramid`."""
    x = residual
    for band in reversed(bands):
        x = band + pyr_up(x, band.shape[-2:])
    return x


def level_alphas(alpha: float, levels: int, lambda_c: float, amplify_finest: bool = False) -> list[float]:
    """Per-level factors of motion EVM: ``min(alpha, max(0, (1 + alpha) 4 2**l / lambda_c - 1))``.

    Level 0 (finest) gets 0 unless ``amplify_finest``.
    """
    if not (math.isfinite(lambda_c) and lambda_c > 0):
        raise InputError(f"lambda_c must be a positive wavelength in pixels, got {lambda_c!r}")
    out = []
    for lev in range(levels):
        a = min(alpha, max(0.0, (1.0 + alpha) * 4.0 * 2.0**lev / lambda_c - 1.0))
        out.append(0.0 if (lev == 0 and not amplify_finest) else float(a))
    return out


class EulerianMagnifier(Magnifier):
    """Eulerian video magnification; see the module docstring.

    Parameters
    ----------
    alpha : float, optional
        Amplification factor (default 50 in colour mode, 10 in motion mode).
    band_hz : (float, float)
        Temporal pass band in Hz (default :data:`physio.PULSE_BAND_HZ`).
    mode : {"color", "motion"}
    level : int, optional
        Colour mode: the Gaussian level amplified (default 4).  Motion mode: the number of Laplacian
        levels (default: as many as keep the residual at least 4 pixels).
    temporal_filter : {"ideal", "fir", "butter", "butter-causal", "iir"}, optional
        Default ``"ideal"`` (colour) or ``"butter"`` (motion).
    order : int
        Butterworth order.
    chroma_attenuation : float, optional
        Factor on the I and Q change (default 1 in colour mode, 0.1 in motion mode).
    lambda_c : float
        Motion mode: spatial cut-off wavelength in pixels (default 16, as in MIT's examples).
    amplify_finest : bool
        Motion mode: also amplify the finest Laplacian level (the authors' code zeroes it).
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"`` or None/"auto".
    tol : float
        Seam tolerance of the recursive filters (see :class:`TemporalFilter`).

    Examples
    --------
    >>> mag = EulerianMagnifier(alpha=50, band_hz=(50 / 60, 1.0), mode="color", level=4)
    >>> out = mag.process(torch.rand(40, 3, 64, 48), fps=30.0)
    >>> tuple(out.shape)
    (40, 3, 64, 48)
    """

    name = "evm"

    def __init__(
        self,
        alpha: float | None = None,
        band_hz=PULSE_BAND_HZ,
        mode: str = "color",
        level: int | None = None,
        temporal_filter: str | None = None,
        order: int = 1,
        chroma_attenuation: float | None = None,
        lambda_c: float = 16.0,
        amplify_finest: bool = False,
        device=None,
        tol: float = 1e-4,
    ) -> None:
        mode = {"colour": "color"}.get(mode, mode)
        if mode not in MODES:
            raise InputError(f"evm: mode must be one of {', '.join(MODES)}, got {mode!r}")
        colour = mode == "color"
        self.mode = mode
        self.alpha = check_alpha((50.0 if colour else 10.0) if alpha is None else alpha, "evm")
        kind = temporal_filter or ("ideal" if colour else "butter")
        if kind not in BANDPASS_KINDS:
            raise InputError(f"evm: temporal_filter must be one of {', '.join(BANDPASS_KINDS)}, got {kind!r}")
        self._filter = TemporalFilter(kind, tuple(band_hz), order=order, tol=tol)
        self.band_hz = self._filter.band_hz
        self.temporal_filter = kind
        self.order = order
        if level is not None and (not isinstance(level, int) or isinstance(level, bool) or level < 1):
            raise InputError(f"evm: level must be an int >= 1, got {level!r}")
        self.level = (4 if colour else None) if level is None else level
        ca = (1.0 if colour else 0.1) if chroma_attenuation is None else float(chroma_attenuation)
        if not (math.isfinite(ca) and ca >= 0):
            raise InputError(f"evm: chroma_attenuation must be >= 0, got {chroma_attenuation!r}")
        self.chroma_attenuation = ca
        if not (math.isfinite(float(lambda_c)) and float(lambda_c) > 0):
            raise InputError(f"evm: lambda_c must be a positive wavelength in pixels, got {lambda_c!r}")
        self.lambda_c = float(lambda_c)
        self.amplify_finest = bool(amplify_finest)
        self.device = resolve_device(device)

    def margin_frames(self, fps: float) -> int:
        check_band(self.band_hz, fps, "evm: band_hz")
        return self._filter.margin_frames(fps)

    def _levels_for(self, h: int, w: int) -> int:
        most = max_levels(h, w, 1 if self.mode == "color" else 4)
        lev = self.level if self.level is not None else most
        if lev > most or lev < 1:
            raise InputError(
                f"evm: level {lev} too deep for {h}x{w} frames (at most {most} in {self.mode} mode)"
            )
        return lev

    def process(self, frames: Tensor, fps: float) -> Tensor:
        """Magnify a block ``(T, 3, H, W)`` in [0, 1] at ``fps``; returns the same shape (unclipped)."""
        check_frames(frames, "evm")
        fps = check_fps(fps, "evm")
        check_band(self.band_hz, fps, "evm: band_hz")
        x = frames.to(self.device)
        # The decomposition's filtered components, band-passed over the block, then the synthesis: the
        # same two halves the bounded-window stream uses (physio.magnify.window).  Every step is linear
        # and acts per pixel or per channel, so the YIQ chroma attenuation is applied to the (small)
        # change as one RGB matrix instead of converting whole frames.
        self._stream_setup(*x.shape[-2:], x)
        return self._synthesise(x, [self._filter(c, fps) for c in self._analyse(x)])


    # -- streaming -------------------------------------------------------------------------------------
    rereads = True
    """The stream can decode the frames again for the synthesis (``again``) instead of keeping them."""

    def stream(self, chunks, fps: float, progress=None, block_frames: int | None = None, again=None) -> Iterator[np.ndarray]:
        """Stream a video (``uint8 (t, H, W, 3)`` chunks) through the magnifier in bounded memory.

        The temporal filter acts only on the decomposition's filtered components (colour mode: the
        small Gaussian level; motion mode: the Laplacian levels with a non-zero factor, which leaves
        out the full-resolution finest level), so the stream keeps just those for the temporal window
        and the original frames as ``uint8`` until they are emitted (:func:`physio.magnify.window.window_stream`;
        ``block_frames`` output frames per step, default :data:`physio.magnify.window.DEFAULT_CORE`).
        The result equals :func:`physio.magnify.base.blocked_stream` with the same ``block_frames``.
        """
        fps = check_fps(fps, "evm")
        check_band(self.band_hz, fps, "evm: band_hz")
        yield from window_stream(self, chunks, fps, self.margin_frames(fps), block_frames, progress, again)

    # the two halves of :meth:`process`, per frame, for the stream (see physio.magnify.window)
    def _stream_setup(self, h: int, w: int, x: Tensor) -> None:
        self._lev = self._levels_for(h, w)
        self._sizes = _sizes(h, w, self._lev)
        self._colour = chroma_matrix(self.chroma_attenuation, x)
        if self.mode == "motion":
            self._alphas = level_alphas(self.alpha, self._lev, self.lambda_c, self.amplify_finest)

    def _analyse(self, x: Tensor) -> list[Tensor]:
        """The components the temporal filter acts on, for a batch of frames ``(B, 3, H, W)``."""
        if self.mode == "color":
            return [gaussian_level(x, self._lev)]
        bands, _ = laplacian_pyramid(x, self._lev)
        return [b for b, a in zip(bands, self._alphas) if a]

    def _filter_rows(self, window, fps, start, stop):
        return filter_rows(self._filter, window, fps, start, stop)

    def _synthesise(self, x: Tensor, filtered: list[Tensor]) -> Tensor:
        """Magnified frames from the original batch and its filtered components."""
        if self.mode == "color":
            return _expand_to(apply_rgb_matrix(self._colour * self.alpha, filtered[0]), self._sizes[-2::-1]).add_(x)
        it = iter(filtered)
        bands = []
        for lev, a in enumerate(self._alphas):
            size = self._sizes[lev]
            bands.append(next(it).mul(a) if a else x.new_zeros((len(x), 3, *size)))
        low = x.new_zeros((len(x), 3, *self._sizes[self._lev]))
        return apply_rgb_matrix(self._colour, laplacian_collapse(bands, low)).add_(x)


def evm_magnify(frames: Tensor, fps: float, **kwargs) -> Tensor:
    """Functional form: ``EulerianMagnifier(**kwargs).process(frames, fps)``."""
    return EulerianMagnifier(**kwargs).process(frames, fps)
