"""Phase-based video motion magnification (Wadhwa et al. 2013) on the complex steerable pyramid.

For every frame of a block the luminance (Y of YIQ) is decomposed by
:class:`physio.represent.pyramid.SteerablePyramid` (octave or half-octave, 4 orientations).  In each
band the local phase is followed over time as the running sum of the frame-to-frame phase changes
``angle(c(t) conj(c(t-1)))`` (wrapped, so no 2-pi jumps), band-passed in time with a
:class:`~physio.magnify.temporal.TemporalFilter`, smoothed in space with a Gaussian weighted by the
local amplitude (``sigma`` pixels at each level; the weights keep noisy low-amplitude phase from
spreading), multiplied by ``alpha`` and added to the band's phase: ``c -> c exp(i alpha dphi)``.
The residuals (highpass, lowpass) and the chroma channels I, Q are left unchanged, so a motion of
``d`` pixels inside the pass band becomes ``(1 + alpha) d``.

Running-sum phases differ between blocks only by a constant per coefficient, which every band-pass
filter removes exactly, so block-wise processing reproduces whole-video processing up to the temporal
filter's own transient (see :meth:`TemporalFilter.margin_frames`).

Memory of :meth:`PhaseMagnifier.process` on a block of ``T`` frames of ``H x W``: about
``(48 + 4 K S) H W T`` bytes in float32, where ``S = 4/3`` (octave) or 2 (half-octave) is the
pyramid's total area relative to the frame and ``K`` the number of orientations (~70 bytes per pixel
per frame by default).  Frames go through the pyramid ``chunk`` at a time.  :meth:`PhaseMagnifier.stream`
(what ``physio magnify`` runs) keeps only the half-precision phase changes of the temporal window,
spilled to a temporary file when the window exceeds ``PHYSIO_WINDOW_RAM_MB``
(:mod:`physio.magnify.window`).

References
----------
.. [1] N. Wadhwa, M. Rubinstein, F. Durand and W. T. Freeman, "Phase-based video motion processing",
   ACM TOG 32(4), 2013.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from physio import PULSE_BAND_HZ
from physio.device import resolve_device
from physio.errors import InputError
from physio.magnify._checks import check_alpha, check_fps, check_frames, luminance
from physio.magnify.base import Magnifier
from physio.magnify.temporal import FILTER_KINDS, TemporalFilter, check_band
from physio.magnify.window import filter_rows, window_stream
from physio.represent.pyramid import BANDWIDTHS, SteerablePyramid

__all__ = ["PhaseMagnifier", "phase_magnify", "amplitude_weighted_blur"]


def _gauss1d(sigma: float, dtype, device) -> Tensor:
    half = max(1, math.ceil(3.0 * sigma))
    n = torch.arange(-half, half + 1, dtype=dtype, device=device)
    g = torch.exp(-(n**2) / (2.0 * sigma**2))
    return g / g.sum()


def _blur1d(x: Tensor, g: list[float], dim: int) -> Tensor:
    """Symmetric 1-D filter along ``dim`` (-1 or -2) with mirror padding, as shifted adds (on CPU
    several times faster than a single-channel convolution)."""
    n, p = x.shape[dim], len(g) // 2
    if n > p:
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        pad = (p, p, 0, 0) if dim == -1 else (0, 0, p, p)
        xp = F.pad(x.reshape(-1, 1, h, w), pad, mode="reflect")
        xp = xp.reshape(*lead, *xp.shape[-2:])
    else:  # tiny level: mirror indices (repeated reflection)
        idx = torch.arange(-p, n + p, device=x.device).abs()
        if n > 1:
            idx = torch.remainder(idx, 2 * (n - 1))
            idx = torch.where(idx > n - 1, 2 * (n - 1) - idx, idx)
        else:
            idx = torch.zeros_like(idx)
        xp = x.index_select(dim, idx)
    out = xp.narrow(dim, 0, n) * g[0]
    for j in range(1, len(g)):
        out.add_(xp.narrow(dim, j, n), alpha=g[j])
    return out


def _blur2d(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of the last two dims (truncated at 3 sigma, mirror padding)."""
    g = _gauss1d(sigma, torch.float64, "cpu").tolist()
    return _blur1d(_blur1d(x, g, -2), g, -1)


def amplitude_weighted_blur(phase: Tensor, amplitude: Tensor, sigma: float, eps: float = 1e-8) -> Tensor:
    """``G_sigma * (A phase) / (G_sigma * A)`` over the last two dims (Wadhwa et al. 2013, §3.2).

    Parameters
    ----------
    phase, amplitude : Tensor, shape (..., h, w), real
    sigma : float
        Gaussian standard deviation in pixels (0 returns ``phase`` unchanged).
    """
    if sigma <= 0:
        return phase
    return _blur2d(phase * amplitude, sigma) / (_blur2d(amplitude, sigma) + eps)


class PhaseMagnifier(Magnifier):
    """Phase-based motion magnification; see the module docstring.

    Parameters
    ----------
    alpha : float
        Amplification factor (a pass-band motion ``d`` becomes ``(1 + alpha) d``).
    band_hz : (float, float)
        Temporal pass band in Hz (default :data:`physio.PULSE_BAND_HZ`).
    temporal_filter : str
        One of :data:`physio.magnify.temporal.FILTER_KINDS` (default ``"fir"``, a windowed-sinc
        band-pass as in the authors' code; exactly seamless block by block).
    order : int
        Butterworth order.
    freq_hz : float, optional
        Centre frequency of the ``"int"``/``"dog"`` kernels (default ``sqrt(lo * hi)``).
    level : int, optional
        Pyramid height (number of band levels; default: as many as the frame allows).
    orientations : int
        Orientations per level (4).
    bandwidth : {"octave", "half-octave"}
    sigma : float
        Amplitude-weighted spatial smoothing of the filtered phase, pixels at each level (0: none).
    chunk : int
        Frames per pyramid batch.
    device : str or torch.device, optional
    tol : float
        Seam tolerance of the recursive filters.
    """

    name = "phase"
    _default_alpha = 10.0
    _default_filter = "fir"
    _filter_kinds = FILTER_KINDS

    def __init__(
        self,
        alpha: float | None = None,
        band_hz=PULSE_BAND_HZ,
        temporal_filter: str | None = None,
        order: int = 1,
        freq_hz: float | None = None,
        level: int | None = None,
        orientations: int = 4,
        bandwidth: str = "octave",
        sigma: float = 2.0,
        chunk: int = 16,
        device=None,
        tol: float = 1e-4,
    ) -> None:
        who = self.name
        self.alpha = check_alpha(self._default_alpha if alpha is None else alpha, who)
        kind = temporal_filter or self._default_filter
        if kind not in self._filter_kinds:
            raise InputError(f"{who}: temporal_filter must be one of {', '.join(self._filter_kinds)}, got {kind!r}")
        self._filter = TemporalFilter(kind, tuple(band_hz), order=order, freq_hz=freq_hz, tol=tol)
        self.band_hz = self._filter.band_hz
        self.temporal_filter = kind
        self.order = order
        self.freq_hz = None if freq_hz is None else float(freq_hz)
        if level is not None and (not isinstance(level, int) or isinstance(level, bool) or level < 1):
            raise InputError(f"{who}: level (pyramid height) must be an int >= 1, got {level!r}")
        self.level = level
        if bandwidth not in BANDWIDTHS:
            raise InputError(f"{who}: bandwidth must be one of {', '.join(BANDWIDTHS)}, got {bandwidth!r}")
        self.orientations = int(orientations)
        self.bandwidth = bandwidth
        if not (math.isfinite(float(sigma)) and float(sigma) >= 0):
            raise InputError(f"{who}: sigma must be >= 0 pixels, got {sigma!r}")
        self.sigma = float(sigma)
        if not isinstance(chunk, int) or chunk < 1:
            raise InputError(f"{who}: chunk must be an int >= 1, got {chunk!r}")
        self.chunk = chunk
        self.device = resolve_device(device)
        self._pyramid = SteerablePyramid(height=level, orientations=self.orientations, bandwidth=bandwidth)

    def margin_frames(self, fps: float) -> int:
        if self.temporal_filter not in ("int", "dog"):
            check_band(self.band_hz, fps, f"{self.name}: band_hz")
        return self._filter.margin_frames(fps)

    # -- the two passes ------------------------------------------------------------------------
    def _reconstruct(self, y: Tensor, filtered: list[Tensor]) -> Tensor:
        out = torch.empty_like(y)
        for i in range(0, y.shape[0], self.chunk):
            pyr = self._pyramid.build(y[i : i + self.chunk])
            offsets = []
            for r, band in enumerate(pyr.levels):
                d = filtered[r][i : i + len(band)]
                d = amplitude_weighted_blur(d, band.abs(), self.sigma) if self.sigma > 0 else d
                offsets.append(d * self.alpha)
            out[i : i + len(pyr.levels[0])] = self._pyramid.reconstruct(pyr, offsets)
        return out

    def process(self, frames: Tensor, fps: float) -> Tensor:
        """Magnify a block ``(T, 3, H, W)`` in [0, 1] at ``fps``; returns the same shape (unclipped)."""
        check_frames(frames, self.name)
        fps = self._check_fps(fps)
        x = frames.to(self.device)
        # The phase changes of every band (the stream's analysis, in pyramid batches of ``chunk``
        # frames), their running sum, band-passed, then the synthesis (physio.magnify.window).
        self._stream_setup(*x.shape[-2:], x)
        parts = [self._analyse(x[i : i + self.chunk]) for i in range(0, len(x), self.chunk)]
        phases = []
        for r in range(len(parts[0])):
            run = torch.cumsum(torch.cat([p[r] for p in parts]), dim=0)
            # The running sums are defined up to a constant per coefficient, which the (DC-free)
            # filters remove; subtracting the block mean first just keeps float32 round-off small.
            phases.append(self._filter(run.sub_(run.mean(0, keepdim=True)), fps))
        del parts
        return self._synthesise(x, phases)

    def _check_fps(self, fps: float) -> float:
        fps = check_fps(fps, self.name)
        if self.temporal_filter in ("int", "dog"):
            self._filter.kernel(fps)  # validates the centre frequency against fps
        else:
            check_band(self.band_hz, fps, f"{self.name}: band_hz")
        return fps

    # -- streaming -------------------------------------------------------------------------------------
    rereads = True
    """The stream can decode the frames again for the synthesis (``again``) instead of keeping them."""

    window_dtype = torch.float16
    """Storage of the phase changes in the stream's window (filtered in float32).  The FIR window is
    ``2 × 129 + 32`` frames at 30 fps: 1.9 GB of float32 phase changes at 640 × 480, 0.95 GB in half
    precision.  The changes are small angles (their relative rounding is 2^-11), so the magnified
    video moves by at most a grey level in a few pixels (measured in ``docs/reliability.md``)."""

    def stream(self, chunks, fps: float, progress=None, block_frames: int | None = None, again=None) -> Iterator[np.ndarray]:
        """Stream a video (``uint8 (t, H, W, 3)`` chunks) in memory bounded by the temporal window.

        The stream keeps, per frame of the window (``2 × margin + block_frames`` frames), the phase
        *changes* of every band (float32, ``4/3 × orientations × H × W`` values a frame) and filters
        their running sum (:meth:`TemporalFilter.rows` with ``cumulative``: the sums are defined up to a
        constant per coefficient, which the DC-free filters remove, as in :meth:`process`); the pyramid
        of each output frame is rebuilt for the synthesis, as :meth:`process` does.  The result equals
        :func:`physio.magnify.base.blocked_stream` with the same ``block_frames`` to rounding error.
        """
        fps = self._check_fps(fps)
        yield from window_stream(self, chunks, fps, self.margin_frames(fps), block_frames, progress, again)

    def _stream_setup(self, h: int, w: int, x: Tensor) -> None:
        self._prev = None  # the last band coefficients seen (the phase change of the next frame)

    def _analyse(self, x: Tensor) -> list[Tensor]:
        levels = self._pyramid.build(luminance(x)).levels
        out = []
        for r, band in enumerate(levels):
            before = torch.cat([band[:1] if self._prev is None else self._prev[r], band[:-1]])
            out.append(torch.angle(band * before.conj()))
        self._prev = [b[-1:] for b in levels]
        return out

    def _filter_rows(self, window, fps, start, stop):
        return filter_rows(self._filter, window, fps, start, stop, cumulative=True)

    def _synthesise(self, x: Tensor, filtered: list[Tensor]) -> Tensor:
        y = luminance(x)
        return x + self._reconstruct(y, filtered).sub_(y)  # a change of Y alone: the same in R, G, B


def phase_magnify(frames: Tensor, fps: float, **kwargs) -> Tensor:
    """Functional form: ``PhaseMagnifier(**kwargs).process(frames, fps)``."""
    return PhaseMagnifier(**kwargs).process(frames, fps)
