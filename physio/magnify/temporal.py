"""Temporal filters shared by the classical magnifiers, vectorised along dim 0 of torch tensors.

Every filter maps a tensor ``x`` of shape ``(T, ...)`` (time first; any trailing shape: pixels,
channels, pyramid bands) to a tensor of the same shape, on the same device and dtype.  The frame rate
``fps`` is in frames per second and every frequency is in Hz.

Band-pass filters (Eulerian and phase-based magnification)

* ``"ideal"`` – :func:`ideal_bandpass`: zero every DFT bin of the block outside ``[lo, hi]`` (Wu et
  al. 2012, colour EVM; circular, as in MIT's code).
* ``"fir"`` – :func:`fir_bandpass`: a Hamming-windowed sinc band-pass (Wadhwa et al.'s default
  temporal filter), ``2 ceil(fir_periods fps / lo) + 1`` taps: close to ideal, and with finite
  support, so exactly seamless block by block.
* ``"butter"`` – :func:`butter_bandpass` with ``zero_phase=True``: a Butterworth band-pass of order
  ``order`` run forward then backward (``filtfilt``; squared magnitude response, no phase lag).
* ``"butter-causal"`` – the same Butterworth run forward only (real-time style, with phase lag).
* ``"iir"`` – :func:`iir_bandpass`: difference of two first-order low-passes (Wu et al. 2012, §4).

Second-order filters (video acceleration magnification, Zhang et al. 2017), centred on one frequency
``f_c`` (by default the geometric mean of the band, ``sqrt(0.7 * 2.5) ≈ 1.32 Hz`` for pulse):

* ``"int"`` – :func:`int_kernel`: the negated second difference ``(-0.5, 1, -0.5)`` with taps a
  quarter period apart (``ceil(fps / (4 f_c))`` frames, as in the authors' code);
* ``"dog"`` – :func:`dog_kernel`: a difference of Gaussians (``sigma/2`` minus ``2 sigma``), a
  zero-sum approximation of the negated second derivative of a Gaussian, with ``sigma`` chosen so that
  its response peaks at ``f_c``.

Both kernels are scaled to a gain of exactly 1 at ``f_c`` (the authors' code normalises their L1 norm
instead), so that an amplification factor ``alpha`` means the same for every method: a sinusoidal
motion at ``f_c`` grows ``(1 + alpha)``-fold.

Seams.  A magnifier run block by block (:func:`physio.magnify.base.magnify_stream`) needs a margin of
context frames at least as long as the filter's memory.  :meth:`TemporalFilter.margin_frames` gives it:
the exact half-length for the finite kernels; for the recursive filters the number of frames after
which the (forward-backward) impulse response's remaining L1 mass falls below ``tol`` of its total,
and at least ``min_periods`` periods of the band's low edge; for the ideal filter ``ideal_periods``
periods of the low edge.  The ideal filter's impulse response (a difference of sincs) decays only as
``1/t`` and its DFT bins depend on the block length, so block-wise ideal filtering is only
*approximately* seamless (the filtered signal differs by ~5-15 % of its range near a seam, measured in
``docs/magnification-classical.md``); all the other filters are seamless to within ``tol``.

References
----------
.. [1] H.-Y. Wu, M. Rubinstein, E. Shih, J. Guttag, F. Durand and W. T. Freeman, "Eulerian video
   magnification for revealing subtle changes in the world", ACM TOG 31(4), 2012.
.. [2] N. Wadhwa, M. Rubinstein, F. Durand and W. T. Freeman, "Phase-based video motion processing",
   ACM TOG 32(4), 2013.
.. [3] Y. Zhang, S. L. Pintea and J. C. van Gemert, "Video acceleration magnification", CVPR 2017.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import signal
from torch import Tensor

from physio.errors import InputError

__all__ = [
    "FILTER_KINDS",
    "BANDPASS_KINDS",
    "SECOND_ORDER_KINDS",
    "TemporalFilter",
    "check_band",
    "ideal_bandpass",
    "butter_sos",
    "sos_filter",
    "butter_bandpass",
    "iir_bandpass",
    "fir_bandpass",
    "fir_taps",
    "int_kernel",
    "dog_kernel",
    "fir_filter",
    "centre_frequency",
    "MATRIX_MAX_FRAMES",
]

BANDPASS_KINDS = ("ideal", "fir", "butter", "butter-causal", "iir")
SECOND_ORDER_KINDS = ("int", "dog")
FILTER_KINDS = BANDPASS_KINDS + SECOND_ORDER_KINDS


def check_band(band_hz, fps: float, name: str = "band_hz") -> tuple[float, float]:
    """Validate ``(lo, hi)`` in Hz against ``fps``: ``0 < lo < hi < fps / 2``; returns floats."""
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps!r}")
    try:
        lo, hi = (float(v) for v in band_hz)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be two frequencies (lo, hi) in Hz, got {band_hz!r}") from None
    nyq = fps / 2.0
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo < hi):
        raise InputError(f"{name} must satisfy 0 < lo < hi, got ({lo:g}, {hi:g}) Hz")
    if hi >= nyq:
        raise InputError(f"{name} upper edge {hi:g} Hz must be below the Nyquist frequency {nyq:g} Hz (fps {fps:g})")
    return lo, hi


def centre_frequency(band_hz) -> float:
    """Geometric centre ``sqrt(lo * hi)`` of a band (Hz): 1.32 Hz for pulse, 0.28 Hz for respiration."""
    lo, hi = (float(v) for v in band_hz)
    return math.sqrt(lo * hi)


def _time_first(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise InputError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name}: expected a real floating-point tensor, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[0] < 1:
        raise InputError(f"{name}: expected shape (T, ...) with T >= 1, got {tuple(x.shape)}")
    return x


# ------------------------------------------------------------------------------------------------
# ideal (FFT) band-pass
# ------------------------------------------------------------------------------------------------
def ideal_bandpass(x: Tensor, fps: float, band_hz) -> Tensor:
    """Ideal band-pass along dim 0: keep DFT bins with ``lo <= f <= hi`` Hz, zero the rest.

    The DFT treats the ``T`` samples as one period of a periodic signal (as MIT's implementation
    does), so content that completes whole cycles in the block is passed or removed exactly; other
    content leaks near the bins at the band's edges, and the jump between the last and first sample
    rings near both ends.  Bins are ``fps / T`` apart: the block must be long enough to resolve the band.

    Parameters
    ----------
    x : Tensor, shape (T, ...)
    fps : float
    band_hz : (float, float)

    Returns
    -------
    Tensor, shape (T, ...), same dtype and device.
    """
    _time_first(x, "ideal_bandpass: x")
    lo, hi = check_band(band_hz, fps)
    t = x.shape[0]
    spec = torch.fft.rfft(x, dim=0)
    freqs = torch.fft.rfftfreq(t, d=1.0 / fps, device=x.device, dtype=torch.float64)
    keep = ((freqs >= lo) & (freqs <= hi)).to(spec.real.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return torch.fft.irfft(spec * keep, n=t, dim=0).contiguous()


# ------------------------------------------------------------------------------------------------
# Butterworth (second-order sections, run in torch)
# ------------------------------------------------------------------------------------------------
def butter_sos(band_hz, fps: float, order: int = 1) -> np.ndarray:
    """Second-order sections ``(n_sections, 6)`` of a Butterworth band-pass (``scipy.signal.butter``)."""
    lo, hi = check_band(band_hz, fps)
    if not isinstance(order, int) or not 1 <= order <= 8:
        raise InputError(f"Butterworth order must be an int in [1, 8], got {order!r}")
    return signal.butter(order, [lo, hi], btype="bandpass", fs=fps, output="sos")


def _sos_zi(sos: np.ndarray) -> np.ndarray:
    return signal.sosfilt_zi(sos)  # (n_sections, 2): steady state for a unit step


def sos_filter(x: Tensor, sos: np.ndarray, zi: Tensor | None = None) -> Tensor:
    """Causal IIR filtering along dim 0 with second-order sections (transposed direct form II).

    Parameters
    ----------
    x : Tensor, shape (T, ...)
    sos : ndarray, shape (n_sections, 6)
        ``[b0, b1, b2, a0, a1, a2]`` per section with ``a0 = 1`` (as from :func:`butter_sos`).
    zi : Tensor, shape (n_sections, 2, ...), optional
        Initial states (default zero).

    Returns
    -------
    Tensor, shape (T, ...): the same as ``scipy.signal.sosfilt(sos, x, axis=0, zi=zi)[0]``.
    """
    _time_first(x, "sos_filter: x")
    sos = np.asarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6 or not np.allclose(sos[:, 3], 1.0):
        raise InputError(f"sos_filter: sos must be (n_sections, 6) with a0 = 1, got shape {sos.shape}")
    y = x
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos.tolist()):
        if zi is None:
            z1 = torch.zeros_like(x[0])
            z2 = torch.zeros_like(x[0])
        else:
            z1 = zi[s, 0].to(x.dtype).expand_as(x[0]).clone()
            z2 = zi[s, 1].to(x.dtype).expand_as(x[0]).clone()
        out = torch.empty_like(y)
        for t in range(y.shape[0]):
            xt, yt = y[t], out[t]
            torch.add(z1, xt, alpha=b0, out=yt)
            z2.add_(xt, alpha=b1).sub_(yt, alpha=a1)  # new z1, kept in z2's buffer
            torch.mul(xt, b2, out=z1).sub_(yt, alpha=a2)  # new z2, kept in z1's buffer
            z1, z2 = z2, z1
        y = out
    return y


def _odd_extend(x: Tensor, n: int) -> Tensor:
    if n <= 0:
        return x
    left = 2 * x[:1] - x[1 : n + 1].flip(0)
    right = 2 * x[-1:] - x[-n - 1 : -1].flip(0)
    return torch.cat([left, x, right], dim=0)


def butter_bandpass(
    x: Tensor, fps: float, band_hz, order: int = 1, zero_phase: bool = True, padlen: int | None = None
) -> Tensor:
    """Butterworth band-pass along dim 0.

    ``zero_phase=True`` runs the filter forward and backward (magnitude ``|H|^2``, no lag) after an
    odd extension of ``padlen`` frames at both ends, with the initial states set to the steady state of
    the first sample — the same result as ``scipy.signal.sosfiltfilt(sos, x, axis=0, padlen=padlen)``.
    ``zero_phase=False`` runs it forward only, starting from the steady state of the first frame.

    Parameters
    ----------
    x : Tensor, shape (T, ...)
    fps : float
    band_hz : (float, float)
    order : int
        Butterworth order of the low-pass prototype (the band-pass has ``2 * order`` poles).
    zero_phase : bool
    padlen : int, optional
        Odd-extension length (zero-phase only); default ``min(T - 1, max(3 (2 n_sections + 1),
        round(fps / lo)))``, i.e. at least one period of the low edge.
    """
    _time_first(x, "butter_bandpass: x")
    sos = butter_sos(band_hz, fps, order)
    zi = torch.as_tensor(_sos_zi(sos), device=x.device, dtype=torch.float64)
    zi = zi.reshape(*zi.shape, *([1] * (x.ndim - 1)))
    if not zero_phase:
        return sos_filter(x, sos, zi * x[:1].to(torch.float64))
    t = x.shape[0]
    if padlen is None:
        padlen = max(3 * (2 * len(sos) + 1), int(round(fps / float(band_hz[0]))))
    padlen = max(0, min(int(padlen), t - 1))
    ext = _odd_extend(x, padlen)
    y = sos_filter(ext, sos, zi * ext[:1].to(torch.float64))
    y = sos_filter(y.flip(0), sos, zi * y[-1:].to(torch.float64)).flip(0)
    return y[padlen : padlen + t].contiguous()


# ------------------------------------------------------------------------------------------------
# Wu et al.'s IIR band-pass: difference of two first-order low-passes
# ------------------------------------------------------------------------------------------------
def _ema_rate(f_hz: float, fps: float) -> float:
    return 1.0 - math.exp(-2.0 * math.pi * f_hz / fps)


def iir_bandpass(x: Tensor, fps: float, band_hz) -> Tensor:
    """Causal band-pass: first-order low-pass at ``hi`` minus first-order low-pass at ``lo``.

    Each low-pass is ``y[t] = y[t-1] + r (x[t] - y[t-1])`` with ``r = 1 - exp(-2 pi f / fps)``, both
    started at ``x[0]`` (so the output starts at 0), as in Wu et al.'s real-time filter.
    """
    _time_first(x, "iir_bandpass: x")
    lo, hi = check_band(band_hz, fps)
    r_hi, r_lo = _ema_rate(hi, fps), _ema_rate(lo, fps)
    a = x[0].clone()
    b = x[0].clone()
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        a.mul_(1 - r_hi).add_(x[t], alpha=r_hi)
        b.mul_(1 - r_lo).add_(x[t], alpha=r_lo)
        torch.sub(a, b, out=out[t])
    return out


# ------------------------------------------------------------------------------------------------
# second-order (acceleration) kernels
# ------------------------------------------------------------------------------------------------
def _gain_at(kernel: np.ndarray, f_hz: float, fps: float) -> float:
    n = np.arange(len(kernel)) - (len(kernel) - 1) / 2
    return float(abs(np.sum(kernel * np.exp(-2j * np.pi * f_hz / fps * n))))


def _check_freq(freq_hz: float, fps: float) -> float:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps!r}")
    f = float(freq_hz)
    if not (math.isfinite(f) and 0 < f < fps / 2):
        raise InputError(f"centre frequency must be in (0, {fps / 2:g}) Hz (below Nyquist at fps {fps:g}), got {f:g}")
    return f


def int_kernel(fps: float, freq_hz: float) -> np.ndarray:
    """The INT second-order kernel of Zhang et al. (2017), centred, unit gain at ``freq_hz``.

    Taps ``(-0.5, 1, -0.5)`` spaced ``s = ceil(fps / (4 freq_hz))`` frames apart (a quarter period),
    i.e. the negated second difference, so a sinusoid at ``freq_hz`` passes in phase.  Length
    ``2 s + 1``; sums to 0.  Response ``(1 - cos(2 pi f s / fps)) / (1 - cos(2 pi freq_hz s / fps))``.
    """
    f = _check_freq(freq_hz, fps)
    s = max(1, math.ceil(fps / (4.0 * f) - 1e-9))
    k = np.zeros(2 * s + 1)
    k[0], k[s], k[2 * s] = -0.5, 1.0, -0.5
    return k / _gain_at(k, f, fps)


def dog_kernel(fps: float, freq_hz: float, truncate: float = 4.0) -> np.ndarray:
    """The difference-of-Gaussians second-order kernel, centred, peak response and unit gain at ``freq_hz``.

    ``G(sigma / 2) - G(2 sigma)`` (each sampled Gaussian normalised to sum 1, so the kernel sums to 0),
    truncated at ``truncate * 2 sigma``.  The continuous response ``exp(-sigma1^2 w^2 / 2) -
    exp(-sigma2^2 w^2 / 2)`` peaks at ``w^2 = 2 ln(sigma2^2/sigma1^2) / (sigma2^2 - sigma1^2)``, which
    gives ``sigma = sqrt(8 ln 16 / 15) / w_c`` frames for ``w_c = 2 pi freq_hz / fps``.
    """
    f = _check_freq(freq_hz, fps)
    w = 2.0 * math.pi * f / fps
    sigma = math.sqrt(8.0 * math.log(16.0) / 15.0) / w
    s1, s2 = sigma / 2.0, 2.0 * sigma
    half = max(1, math.ceil(truncate * s2))
    n = np.arange(-half, half + 1, dtype=np.float64)
    g1 = np.exp(-(n**2) / (2 * s1**2))
    g2 = np.exp(-(n**2) / (2 * s2**2))
    k = g1 / g1.sum() - g2 / g2.sum()
    return k / _gain_at(k, f, fps)


def _reflect_index(n: int, pad: int, device) -> Tensor:
    """Indices of a length-``n`` signal extended by ``pad`` on both sides by mirror reflection
    (``... 2 1 | 0 1 2 ... n-1 | n-2 n-3 ...``), valid for any ``pad`` (repeats as needed)."""
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def fir_filter(x: Tensor, kernel) -> Tensor:
    """Centred (zero-phase for symmetric kernels) FIR filtering along dim 0, mirror-padded ends.

    ``y[t] = sum_j kernel[j] x[t + j - (L - 1) / 2]`` for an odd-length kernel ``L``; long kernels
    are applied by FFT convolution.
    """
    _time_first(x, "fir_filter: x")
    k = np.asarray(kernel, dtype=np.float64).ravel()
    if k.size % 2 != 1:
        raise InputError(f"fir_filter: kernel length must be odd, got {k.size}")
    half = k.size // 2
    t = x.shape[0]
    ext = x.index_select(0, _reflect_index(t, half, x.device))
    taps = np.count_nonzero(k)
    if taps <= 32:
        out = torch.zeros_like(x)
        for j, c in enumerate(k.tolist()):
            if c != 0.0:
                out.add_(ext[j : j + t], alpha=c)
        return out
    n = ext.shape[0] + k.size - 1
    kt = torch.as_tensor(k[::-1].copy(), dtype=x.dtype, device=x.device)
    spec = torch.fft.rfft(ext, n=n, dim=0) * torch.fft.rfft(kt, n=n).reshape(-1, *([1] * (x.ndim - 1)))
    full = torch.fft.irfft(spec, n=n, dim=0)
    return full[k.size - 1 : k.size - 1 + t].contiguous()


def fir_taps(fps: float, band_hz, periods: float = 3.0) -> np.ndarray:
    """Hamming-windowed sinc band-pass, ``2 ceil(periods fps / lo) + 1`` taps, zero gain at DC and
    unit gain at the middle of the band."""
    lo, hi = check_band(band_hz, fps)
    half = int(math.ceil(periods * fps / lo))
    k = signal.firwin(2 * half + 1, [lo, hi], pass_zero=False, fs=fps, window="hamming")
    w = signal.get_window("hamming", 2 * half + 1, fftbins=False)
    k = k - k.sum() * w / w.sum()  # exactly zero gain at DC (firwin leaves ~1e-3)
    return k / _gain_at(k, 0.5 * (lo + hi), fps)


def fir_bandpass(x: Tensor, fps: float, band_hz, periods: float = 3.0) -> Tensor:
    """Windowed-sinc FIR band-pass along dim 0 (:func:`fir_taps`), centred, mirror-padded ends."""
    return fir_filter(x, fir_taps(fps, band_hz, periods))


# ------------------------------------------------------------------------------------------------
# one object per configured filter
# ------------------------------------------------------------------------------------------------
MATRIX_MAX_FRAMES = 1024
"""Longest block filtered as a (T, T) matrix product (see :meth:`TemporalFilter.__call__`)."""


@functools.lru_cache(maxsize=32)
def _filter_matrix(filt: TemporalFilter, t: int, fps: float) -> np.ndarray:
    eye = torch.eye(t, dtype=torch.float64)
    m = filt.apply_direct(eye, fps).numpy()
    return m


def _l1_tail_length(h: np.ndarray, tol: float) -> int:
    a = np.abs(h)
    total = a.sum()
    if total == 0:
        return 0
    tail = np.cumsum(a[::-1])[::-1]  # tail[n] = sum_{k >= n} |h[k]|
    below = np.nonzero(tail <= tol * total)[0]
    return int(below[0]) if below.size else len(h)


@dataclass(frozen=True)
class TemporalFilter:
    """A configured temporal filter: ``TemporalFilter("butter", (0.7, 2.5))(x, fps)``.

    Parameters
    ----------
    kind : str
        One of :data:`FILTER_KINDS`: ``"ideal"``, ``"fir"``, ``"butter"``, ``"butter-causal"``, ``"iir"``,
        ``"int"``, ``"dog"``.
    band_hz : (float, float)
        Pass band in Hz.  The second-order kinds use its geometric centre unless ``freq_hz`` is given.
    order : int
        Butterworth order (``"butter"``, ``"butter-causal"``).
    freq_hz : float, optional
        Centre frequency of ``"int"``/``"dog"`` (default ``sqrt(lo * hi)``).
    tol : float
        Seam tolerance used by :meth:`margin_frames` for the recursive filters (fraction of the impulse
        response's L1 mass left outside the margin).
    min_periods, ideal_periods : float
        Lower bound on the margin of the recursive filters, and the margin of the ideal filter, in
        periods of the band's low edge.
    fir_periods : float
        Half-length of the ``"fir"`` kernel in periods of the low edge.
    """

    kind: str = "ideal"
    band_hz: tuple[float, float] = (0.7, 2.5)
    order: int = 1
    freq_hz: float | None = None
    tol: float = 1e-4
    min_periods: float = 1.0
    ideal_periods: float = 3.0
    fir_periods: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in FILTER_KINDS:
            raise InputError(f"unknown temporal filter {self.kind!r}; valid: {', '.join(FILTER_KINDS)}")
        try:
            lo, hi = (float(v) for v in self.band_hz)
        except (TypeError, ValueError):
            raise InputError(f"band_hz must be two frequencies (lo, hi) in Hz, got {self.band_hz!r}") from None
        if not (0 < lo < hi and math.isfinite(hi)):
            raise InputError(f"band_hz must satisfy 0 < lo < hi, got ({lo:g}, {hi:g}) Hz")
        object.__setattr__(self, "band_hz", (lo, hi))
        if not isinstance(self.order, int) or not 1 <= self.order <= 8:
            raise InputError(f"Butterworth order must be an int in [1, 8], got {self.order!r}")
        if self.freq_hz is not None and not (math.isfinite(float(self.freq_hz)) and float(self.freq_hz) > 0):
            raise InputError(f"freq_hz must be a positive frequency, got {self.freq_hz!r}")
        if not 0 < self.tol < 1:
            raise InputError(f"tol must be in (0, 1), got {self.tol!r}")

    @property
    def centre_hz(self) -> float:
        """Centre frequency: ``freq_hz`` or the band's geometric centre."""
        return float(self.freq_hz) if self.freq_hz is not None else centre_frequency(self.band_hz)

    def kernel(self, fps: float) -> np.ndarray:
        """The FIR kernel of ``"int"``/``"dog"``."""
        if self.kind == "int":
            return int_kernel(fps, self.centre_hz)
        if self.kind == "dog":
            return dog_kernel(fps, self.centre_hz)
        if self.kind == "fir":
            return fir_taps(fps, self.band_hz, self.fir_periods)
        raise InputError(f"temporal filter {self.kind!r} has no finite kernel")

    def __call__(self, x: Tensor, fps: float) -> Tensor:
        """Filter ``x`` (T, ...) along dim 0 at frame rate ``fps``.

        Every kind is linear in ``x`` (the recursive ones start from the steady state of the first
        sample, which is proportional to it), so for ``T <= MATRIX_MAX_FRAMES`` the filter is applied as
        one ``(T, T)`` matrix product (the filter's response to the identity, cached): the same result
        to rounding error, and on CPU much faster than a loop over time or a strided FFT.
        """
        _time_first(x, f"TemporalFilter({self.kind!r}): x")
        t = x.shape[0]
        if 1 < t <= MATRIX_MAX_FRAMES and x[0].numel() >= t:
            m = _filter_matrix(self, t, float(fps))
            m = torch.tensor(m, device=x.device, dtype=x.dtype)
            return (m @ x.reshape(t, -1)).reshape(x.shape)
        return self.apply_direct(x, fps)

    def rows(self, frames, fps: float, start: int, stop: int, cumulative: bool = False) -> Tensor:
        """``self(torch.stack(frames), fps)[start:stop]`` without stacking the window or computing the other
        rows: with the matrix form, the rows are accumulated frame by frame (``frames``: a sequence of
        equally shaped tensors, one per time point).  Same result to rounding error.

        ``cumulative``: filter the running sum ``frames[0] + … + frames[j]`` instead (e.g. phase from phase
        changes), by the matrix ``M U`` (``U`` the lower-triangular ones), without forming the sums."""
        t = len(frames)
        # Half-precision storage (a long window kept in 16 bits) is filtered in float32.
        dtype = torch.float32 if frames[0].dtype in (torch.float16, torch.bfloat16) else frames[0].dtype
        if 1 < t <= MATRIX_MAX_FRAMES and frames[0].numel() >= t:
            m = _filter_matrix(self, t, float(fps))[start:stop]
            if cumulative:
                m = np.cumsum(m[:, ::-1], axis=1)[:, ::-1]
            m = torch.tensor(np.ascontiguousarray(m), device=frames[0].device, dtype=dtype)
            out = frames[0].new_zeros((stop - start, frames[0].numel()), dtype=dtype)
            for j, f in enumerate(frames):
                out.addr_(m[:, j], f.reshape(-1).to(dtype))
            return out.reshape(stop - start, *frames[0].shape)
        x = torch.stack(list(frames)).to(dtype)
        return self(torch.cumsum(x, 0) if cumulative else x, fps)[start:stop]

    def matrix(self, t: int, fps: float) -> np.ndarray:
        """The ``(T, T)`` matrix ``M`` with ``filter(x) = M @ x`` for ``T = t`` samples (float64)."""
        return _filter_matrix(self, int(t), float(fps)).copy()

    def apply_direct(self, x: Tensor, fps: float) -> Tensor:
        """Filter by FFT, recursion or convolution over time (no matrix)."""
        if self.kind == "ideal":
            return ideal_bandpass(x, fps, self.band_hz)
        if self.kind == "butter":
            return butter_bandpass(x, fps, self.band_hz, self.order, zero_phase=True)
        if self.kind == "butter-causal":
            return butter_bandpass(x, fps, self.band_hz, self.order, zero_phase=False)
        if self.kind == "iir":
            return iir_bandpass(x, fps, self.band_hz)
        return fir_filter(x, self.kernel(fps))

    def impulse_response(self, fps: float, n: int) -> np.ndarray:
        """One-sided effective impulse response, ``n`` samples from lag 0 (recursive kinds only)."""
        lo, hi = check_band(self.band_hz, fps)
        imp = np.zeros(n)
        imp[0] = 1.0
        if self.kind in ("butter", "butter-causal"):
            h = signal.sosfilt(butter_sos(self.band_hz, fps, self.order), imp)
            if self.kind == "butter":  # forward-backward: autocorrelation of h, one side
                h = np.correlate(h, h, mode="full")[n - 1 :]
            return h
        if self.kind == "iir":
            r_hi, r_lo = _ema_rate(hi, fps), _ema_rate(lo, fps)
            k = np.arange(n)
            return r_hi * (1 - r_hi) ** k - r_lo * (1 - r_lo) ** k
        raise InputError(f"impulse_response is defined for recursive filters, not {self.kind!r}")

    def margin_frames(self, fps: float) -> int:
        """Context frames per side for block-wise filtering to match whole-video filtering.

        Exact half-length for ``"fir"``, ``"int"``, ``"dog"``; for the recursive kinds the L1-``tol`` length of
        the impulse response, and at least ``min_periods`` periods of the low edge; for ``"ideal"``
        ``ideal_periods`` periods of the low edge (approximate, see the module notes).
        """
        if self.kind in SECOND_ORDER_KINDS or self.kind == "fir":
            return len(self.kernel(fps)) // 2
        lo, _ = check_band(self.band_hz, fps)
        period = fps / lo
        if self.kind == "ideal":
            return int(math.ceil(self.ideal_periods * period))
        n = int(math.ceil(60.0 * period)) + 64
        tail = _l1_tail_length(self.impulse_response(fps, n), self.tol)
        return int(max(tail, math.ceil(self.min_periods * period)))

    def response(self, freq_hz, fps: float) -> np.ndarray:
        """Magnitude response at ``freq_hz`` (Hz, array-like), for documentation and tests."""
        f = np.atleast_1d(np.asarray(freq_hz, dtype=np.float64))
        if self.kind == "ideal":
            lo, hi = check_band(self.band_hz, fps)
            return ((f >= lo) & (f <= hi)).astype(float)
        if self.kind in ("butter", "butter-causal"):
            _, h = signal.sosfreqz(butter_sos(self.band_hz, fps, self.order), worN=f, fs=fps)
            return np.abs(h) ** (2 if self.kind == "butter" else 1)
        if self.kind == "iir":
            lo, hi = check_band(self.band_hz, fps)
            z = np.exp(-2j * np.pi * f / fps)
            r_hi, r_lo = _ema_rate(hi, fps), _ema_rate(lo, fps)
            return np.abs(r_hi / (1 - (1 - r_hi) * z) - r_lo / (1 - (1 - r_lo) * z))
        k = self.kernel(fps)
        n = np.arange(len(k)) - (len(k) - 1) / 2
        return np.abs(np.exp(-2j * np.pi * np.outer(f, n) / fps) @ k)
