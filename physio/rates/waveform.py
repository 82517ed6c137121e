"""Rates from waveforms: detrend, band-pass, spectral peak or peak intervals, SNR.

The pipeline follows rPPG-Toolbox's post-processing so numbers are comparable:
a predicted *derivative* signal (what DeepMag/DeepPhys nets output) is integrated by a
cumulative sum, detrended with the smoothness-priors method (Tarvainen et al. 2002),
band-passed with a zero-phase Butterworth filter, and the rate is read from the periodogram
peak inside the band (or from peak intervals).  See ``docs/rates.md`` for where physio matches
and where it departs from rPPG-Toolbox.

All rates are per minute (``*_bpm`` for pulse, breaths/min for respiration); all frequencies in Hz;
sampling rates ``fs_hz`` in Hz (frames per second for video).

References
----------
Tarvainen, Ranta-aho & Karjalainen (2002), "An advanced detrending method with application to
HRV analysis", IEEE TBME 49(2):172-175.
Chen & McDuff (2020), "DeepMag: Source-specific change magnification using gradient ascent",
ACM TOG 40(1).
Liu et al. (2023), "rPPG-Toolbox: Deep remote PPG toolbox", NeurIPS Datasets & Benchmarks.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.signal
import scipy.sparse
import scipy.sparse.linalg

from physio import PULSE_BAND_HZ, RESP_BAND_HZ
from physio.errors import InputError, PhysioWarning

__all__ = [
    "BANDS_HZ",
    "peak_snr_db",
    "series_quality",
    "RateResult",
    "band_for",
    "detrend_smoothness_priors",
    "detrend_lambda_for_cutoff",
    "bandpass_zero_phase",
    "filter_gain",
    "waveform_from_signal",
    "pulse_waveform",
    "resp_waveform",
    "rate_spectral",
    "rate_peaks",
    "rate_series",
    "snr_db",
    "estimate_rate",
    "reference_rate",
]

Source = Literal["pulse", "resp"]

BANDS_HZ: dict[str, dict[str, tuple[float, float]]] = {
    "deepmag": {"pulse": PULSE_BAND_HZ, "resp": RESP_BAND_HZ},
    "rppg-toolbox": {"pulse": (0.6, 3.3), "resp": (0.13, 0.5)},
    "mtts-can": {"pulse": (0.75, 2.5), "resp": (0.08, 0.5)},
    "child": {"pulse": (1.0, 2.5), "resp": (0.25, 0.67)},
    "infant": {"pulse": (100 / 60, 3.0), "resp": (0.5, 1.0)},
}
"""Named band presets (Hz) per source: the DeepMag paper (default), rPPG-Toolbox's
``post_process.py`` / BigSmall respiration bands, MTTS-CAN's ``predict_vitals.py``, and the subject
bands of ``physio rates --subject``: child (ages ~1–12: HR 60–150 bpm, BR 15–40 /min) and infant
(HR 100–180 bpm, BR 30–60 /min).  The adult bands are the DeepMag ones (HR 42–150, BR 9.6–30)."""

RPPG_TOOLBOX_LAMBDA = 100.0
"""Smoothness-priors λ used by rPPG-Toolbox and MTTS-CAN (at 30 fps)."""

_DETREND_CUTOFF_HZ: dict[str, float] = {
    # Cutoff of λ=100 at 30 fps (rPPG-Toolbox), so the default reproduces λ=100 exactly at 30 fps.
    "pulse": 30.0 / math.pi * math.asin(1.0 / (2.0 * math.sqrt(RPPG_TOOLBOX_LAMBDA))),
    # λ=100 at 30 fps would cut at 0.48 Hz, i.e. through the breathing band; use band low edge / 4.
    "resp": RESP_BAND_HZ[0] / 4.0,
}
_DEFAULT_WINDOW_S: dict[str, float] = {"pulse": 10.0, "resp": 30.0}
_MIN_SAMPLES = 9  # rPPG-Toolbox skips windows shorter than 9 frames (filtfilt pad length)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _check_fs(fs_hz: float) -> float:
    try:
        fs = float(fs_hz)
    except (TypeError, ValueError):
        raise InputError(f"fs_hz must be a number, got {fs_hz!r}") from None
    if not math.isfinite(fs) or fs <= 0:
        raise InputError(f"fs_hz must be finite and > 0, got {fs_hz!r}")
    return fs


def _check_band(band_hz, fs_hz: float, name: str = "band_hz") -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in band_hz)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (low_hz, high_hz), got {band_hz!r}") from None
    nyquist = fs_hz / 2.0
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 < lo < hi < nyquist):
        raise InputError(
            f"{name}={band_hz!r} invalid: need 0 < low < high < Nyquist ({nyquist:g} Hz at fs={fs_hz:g} Hz)"
        )
    return lo, hi


def _check_signal(signal, name: str = "signal", min_samples: int = _MIN_SAMPLES) -> np.ndarray:
    x = np.asarray(signal)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise InputError(f"{name} must be 1-D (T,) or (T, 1), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise InputError(f"{name} must be real numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise InputError(f"{name} has {idx.size} non-finite values (NaN/inf), first at sample {idx[0]}")
    if x.size < min_samples:
        raise InputError(f"{name} has {x.size} samples; need at least {min_samples}")
    return x


def _min_samples_for_band(band_hz: tuple[float, float], fs_hz: float) -> int:
    """One period of the band's lower edge, and never fewer than 9 samples."""
    return max(_MIN_SAMPLES, int(math.ceil(fs_hz / band_hz[0])))


def _check_long_enough(x: np.ndarray, fs_hz: float, band_hz: tuple[float, float], name: str) -> None:
    need = _min_samples_for_band(band_hz, fs_hz)
    if x.size < need:
        raise InputError(
            f"{name} too short: {x.size} samples ({x.size / fs_hz:.2f} s at {fs_hz:g} Hz); need at least "
            f"{need} (one period of the band's lower edge {band_hz[0]:g} Hz)"
        )


def band_for(source: str, bands: str | tuple[float, float] = "deepmag") -> tuple[float, float]:
    """Resolve a band: a preset name from :data:`BANDS_HZ` or an explicit ``(low_hz, high_hz)``.

    Parameters
    ----------
    source : {"pulse", "resp"}
        Which signal the band is for.
    bands : str or tuple of float
        ``"deepmag"`` (pulse 0.7–2.5 Hz, resp 0.16–0.5 Hz), ``"rppg-toolbox"`` (0.6–3.3, 0.13–0.5),
        ``"mtts-can"`` (0.75–2.5, 0.08–0.5), or an explicit pair in Hz.

    Returns
    -------
    tuple of float
        ``(low_hz, high_hz)``.
    """
    if source not in ("pulse", "resp"):
        raise InputError(f"unknown source {source!r}; valid: 'pulse', 'resp'")
    if isinstance(bands, str):
        if bands not in BANDS_HZ:
            raise InputError(f"unknown band preset {bands!r}; valid: {', '.join(map(repr, BANDS_HZ))}")
        return BANDS_HZ[bands][source]
    try:
        lo, hi = (float(v) for v in bands)
    except (TypeError, ValueError):
        raise InputError(f"bands must be a preset name or (low_hz, high_hz), got {bands!r}") from None
    return lo, hi


# --------------------------------------------------------------------------------------------
# detrend and filter
# --------------------------------------------------------------------------------------------
def detrend_lambda_for_cutoff(cutoff_hz: float, fs_hz: float) -> float:
    """Smoothness-priors λ whose detrending high-pass passes half the amplitude at ``cutoff_hz``.

    Away from the signal ends the detrender is the zero-phase filter with gain
    ``λ²|D₂(ω)|² / (1 + λ²|D₂(ω)|²)``, ``|D₂(ω)| = 4 sin²(ω/2)``, ``ω = 2π f / fs``; the gain is
    1/2 (-6 dB) where ``4 sin²(π f/fs) = 1/λ``.  λ=100 at 30 fps (rPPG-Toolbox) gives 0.478 Hz;
    below the cutoff the gain falls as ``(f/cutoff)⁴``.

    Parameters
    ----------
    cutoff_hz : float
        Half-amplitude frequency, Hz, in (0, fs/2).
    fs_hz : float
        Sampling rate, Hz.

    Returns
    -------
    float
        λ (use with :func:`detrend_smoothness_priors`).
    """
    fs = _check_fs(fs_hz)
    if not (0.0 < cutoff_hz < fs / 2.0):
        raise InputError(f"cutoff_hz={cutoff_hz!r} must be in (0, fs/2={fs / 2:g})")
    return 1.0 / (4.0 * math.sin(math.pi * cutoff_hz / fs) ** 2)


def detrend_smoothness_priors(signal, lambda_: float = RPPG_TOOLBOX_LAMBDA) -> np.ndarray:
    """Remove a slow trend with the smoothness-priors method (Tarvainen et al. 2002).

    ``z_detrended = z - (I + λ² D₂ᵀ D₂)⁻¹ z`` with ``D₂`` the (T-2, T) second-difference matrix —
    the same operator as rPPG-Toolbox's ``_detrend`` (which squares λ too), solved as a sparse
    banded system in O(T) instead of inverting a dense T×T matrix.

    Parameters
    ----------
    signal : array_like, shape (T,)
        Input samples, T >= 3.
    lambda_ : float
        Regularisation λ > 0 (rPPG-Toolbox: 100 at 30 fps).  See :func:`detrend_lambda_for_cutoff`.

    Returns
    -------
    numpy.ndarray, shape (T,), float64
    """
    z = _check_signal(signal, "signal", min_samples=3)
    if not (math.isfinite(lambda_) and lambda_ > 0):
        raise InputError(f"lambda_ must be finite and > 0, got {lambda_!r}")
    n = z.size
    ones = np.ones(n)
    d2 = scipy.sparse.diags([ones[: n - 2], -2 * ones[: n - 2], ones[: n - 2]], [0, 1, 2], shape=(n - 2, n))
    system = (scipy.sparse.identity(n) + (lambda_**2) * (d2.T @ d2)).tocsc()
    trend = scipy.sparse.linalg.spsolve(system, z)
    return z - trend


def bandpass_zero_phase(signal, fs_hz: float, band_hz: tuple[float, float], order: int = 1) -> np.ndarray:
    """Zero-phase Butterworth band-pass (forward-backward, second-order sections).

    Parameters
    ----------
    signal : array_like, shape (T,)
    fs_hz : float
        Sampling rate, Hz.
    band_hz : (float, float)
        Pass band edges, Hz, ``0 < low < high < fs/2``.
    order : int
        Butterworth order per pass (rPPG-Toolbox/MTTS-CAN: 1); the forward-backward pass doubles it.

    Returns
    -------
    numpy.ndarray, shape (T,), float64
    """
    fs = _check_fs(fs_hz)
    band = _check_band(band_hz, fs)
    if int(order) != order or order < 1:
        raise InputError(f"order must be a positive integer, got {order!r}")
    sos = scipy.signal.butter(int(order), band, btype="bandpass", fs=fs, output="sos")
    x = _check_signal(signal, "signal", min_samples=_MIN_SAMPLES)
    padlen = min(x.size - 1, 3 * (2 * len(sos) + 1))
    return scipy.signal.sosfiltfilt(sos, x, padlen=padlen)


def filter_gain(
    freqs_hz, fs_hz: float, band_hz: tuple[float, float], detrend_lambda: float | None = None, filter_order: int = 1
) -> np.ndarray:
    """Amplitude gain of :func:`waveform_from_signal`'s filtering (detrend, then zero-phase band-pass).

    ``|H_bp(f)|²`` (forward-backward Butterworth) times the smoothness-priors detrender's
    ``λ²|D₂|² / (1 + λ²|D₂|²)`` (see :func:`detrend_lambda_for_cutoff`); ``cumsum`` is not included.

    Parameters
    ----------
    freqs_hz : array_like
        Frequencies, Hz.
    fs_hz : float
    band_hz : (float, float)
    detrend_lambda : float or None
        None: no detrending.
    filter_order : int
        Butterworth order per pass.

    Returns
    -------
    numpy.ndarray, same shape as ``freqs_hz``
    """
    fs = _check_fs(fs_hz)
    band = _check_band(band_hz, fs)
    f = np.asarray(freqs_hz, dtype=np.float64)
    sos = scipy.signal.butter(int(filter_order), band, btype="bandpass", fs=fs, output="sos")
    _, h = scipy.signal.sosfreqz(sos, worN=f.ravel(), fs=fs)
    gain = np.abs(h).reshape(f.shape) ** 2
    if detrend_lambda is not None:
        x = (detrend_lambda * 4.0 * np.sin(np.pi * f / fs) ** 2) ** 2
        gain = gain * x / (1.0 + x)
    return gain


def waveform_from_signal(
    signal,
    fs_hz: float,
    band_hz: tuple[float, float],
    *,
    derivative: bool = True,
    detrend_lambda: float | None = RPPG_TOOLBOX_LAMBDA,
    filter_order: int = 1,
) -> np.ndarray:
    """Derivative or waveform -> clean band-limited waveform.

    ``cumsum`` (if ``derivative``) -> smoothness-priors detrend (if ``detrend_lambda`` is not None)
    -> zero-phase Butterworth band-pass.

    Parameters
    ----------
    signal : array_like, shape (T,)
        Network output (a derivative, e.g. a frame-difference pulse prediction) or a waveform.
    fs_hz : float
        Sampling rate, Hz.
    band_hz : (float, float)
        Pass band, Hz.
    derivative : bool
        Integrate first (``np.cumsum``), as rPPG-Toolbox does for ``DiffNormalized`` outputs.
    detrend_lambda : float or None
        Smoothness-priors λ; None skips detrending.
    filter_order : int
        Butterworth order per pass.

    Returns
    -------
    numpy.ndarray, shape (T,), float64
    """
    fs = _check_fs(fs_hz)
    band = _check_band(band_hz, fs)
    x = _check_signal(signal, "signal")
    if derivative:
        x = np.cumsum(x)
    if detrend_lambda is not None:
        x = detrend_smoothness_priors(x, detrend_lambda)
    return bandpass_zero_phase(x, fs, band, order=filter_order)


def _default_lambda(source: str, fs_hz: float) -> float:
    return detrend_lambda_for_cutoff(_DETREND_CUTOFF_HZ[source], fs_hz)


def pulse_waveform(
    signal,
    fs_hz: float,
    band_hz: tuple[float, float] = PULSE_BAND_HZ,
    *,
    derivative: bool = True,
    detrend_lambda: float | None = None,
    filter_order: int = 1,
) -> np.ndarray:
    """Pulse waveform from a predicted pulse derivative (or waveform), shape (T,) -> (T,).

    ``detrend_lambda=None`` picks the λ with the same cutoff (0.478 Hz) as rPPG-Toolbox's λ=100 at
    30 fps, so it equals 100 at 30 fps and scales with ``fs_hz``.  See :func:`waveform_from_signal`.
    """
    fs = _check_fs(fs_hz)
    lam = _default_lambda("pulse", fs) if detrend_lambda is None else detrend_lambda
    return waveform_from_signal(
        signal, fs, band_hz, derivative=derivative, detrend_lambda=lam, filter_order=filter_order
    )


def resp_waveform(
    signal,
    fs_hz: float,
    band_hz: tuple[float, float] = RESP_BAND_HZ,
    *,
    derivative: bool = True,
    detrend_lambda: float | None = None,
    filter_order: int = 1,
) -> np.ndarray:
    """Respiration waveform from a predicted respiration derivative (or waveform), (T,) -> (T,).

    ``detrend_lambda=None`` picks λ with a 0.04 Hz cutoff (a quarter of the band's 0.16 Hz edge;
    ≈ 14,000 at 30 fps).  rPPG-Toolbox and MTTS-CAN use λ=100, whose 0.48 Hz cutoff at 30 fps
    attenuates breathing at 0.25 Hz ~14-fold; pass ``detrend_lambda=100`` to reproduce them.
    """
    fs = _check_fs(fs_hz)
    lam = _default_lambda("resp", fs) if detrend_lambda is None else detrend_lambda
    return waveform_from_signal(
        signal, fs, band_hz, derivative=derivative, detrend_lambda=lam, filter_order=filter_order
    )


# --------------------------------------------------------------------------------------------
# rate estimators
# --------------------------------------------------------------------------------------------
def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _spectrum(
    x: np.ndarray, fs: float, *, spectrum: str, window: str, freq_step_hz: float | None, welch_segment_s: float
) -> tuple[np.ndarray, np.ndarray]:
    n = x.size
    if freq_step_hz is None:
        nfft_min = n
    else:
        if not (math.isfinite(freq_step_hz) and freq_step_hz > 0):
            raise InputError(f"freq_step_hz must be > 0, got {freq_step_hz!r}")
        nfft_min = max(2 * n, int(math.ceil(fs / freq_step_hz)))
    if spectrum == "periodogram":
        return scipy.signal.periodogram(x, fs=fs, window=window, nfft=_next_pow2(nfft_min), detrend="constant")
    if spectrum == "welch":
        nperseg = min(n, max(_MIN_SAMPLES, int(round(welch_segment_s * fs))))
        nfft = _next_pow2(max(nfft_min, nperseg))
        return scipy.signal.welch(x, fs=fs, window=window, nperseg=nperseg, noverlap=nperseg // 2, nfft=nfft)
    raise InputError(f"unknown spectrum {spectrum!r}; valid: 'periodogram', 'welch'")


def rate_spectral(
    wave,
    fs_hz: float,
    band_hz: tuple[float, float] = PULSE_BAND_HZ,
    *,
    spectrum: str = "periodogram",
    window: str = "boxcar",
    freq_step_hz: float | None = 0.005,
    interpolate: bool = True,
    welch_segment_s: float = 8.0,
    response=None,
) -> float:
    """Rate (per minute) at the spectral peak inside the band.

    Parameters
    ----------
    wave : array_like, shape (T,)
        Waveform (not a derivative), ideally from :func:`pulse_waveform` / :func:`resp_waveform`.
    fs_hz : float
        Sampling rate, Hz.
    band_hz : (float, float)
        Search band, Hz; the peak is the largest bin with ``low <= f <= high``.
    spectrum : {"periodogram", "welch"}
        Single periodogram of the whole signal, or Welch (50 % overlap, ``welch_segment_s`` segments).
    window : str
        Taper (any ``scipy.signal.get_window`` name).  ``"boxcar"`` (default, rPPG-Toolbox)
        weights the whole window equally, so a drifting rate gives its average; ``"hann"`` has
        less leakage (sub-bin error ~0.001 bpm on a pure tone vs ~0.01 bpm over 30 s and ~0.1 bpm
        over 10 s for boxcar) but favours the middle of the window.
        ``freq_step_hz=None, interpolate=False`` reproduces rPPG-Toolbox's FFT HR.
    freq_step_hz : float or None
        Zero-pad so the bin spacing is at most this and nfft >= 2·T (then round nfft up to a
        power of two); the padding is what makes the parabolic refinement accurate.
        None: nfft = next power of two >= T, exactly rPPG-Toolbox's grid (with so little
        padding, interpolation can be worse than the raw bin).
    interpolate : bool
        Refine the peak by fitting a parabola through the log-power of the peak bin and its two
        neighbours (sub-bin accuracy); the result is clipped to the band.
    welch_segment_s : float
        Welch segment length, s (shortened to the signal).
    response : callable or None
        ``response(freqs) -> amplitude gain`` of the filtering that made ``wave`` (e.g.
        :func:`filter_gain`); the power is divided by its square before the peak search, so the
        band-pass rejects out-of-band content without re-weighting the band (see
        :func:`estimate_rate`'s ``flatten_band``).  None: the power as it is (rPPG-Toolbox).

    Returns
    -------
    float
        Rate in cycles per minute (bpm for pulse, breaths/min for respiration).
    """
    fs = _check_fs(fs_hz)
    band = _check_band(band_hz, fs)
    x = _check_signal(wave, "wave")
    _check_long_enough(x, fs, band, "wave")
    try:
        scipy.signal.get_window(window, 8)
    except (ValueError, TypeError):
        raise InputError(f"unknown window {window!r}; use a scipy.signal.get_window name, e.g. 'hann'") from None
    freqs, power = _spectrum(
        x, fs, spectrum=spectrum, window=window, freq_step_hz=freq_step_hz, welch_segment_s=welch_segment_s
    )
    if response is not None:
        power = power / np.maximum(np.asarray(response(freqs), dtype=np.float64), 1e-6) ** 2
    in_band = np.flatnonzero((freqs >= band[0]) & (freqs <= band[1]))
    if in_band.size == 0:
        raise InputError(f"no frequency bin inside band {band} Hz (T={x.size}, fs={fs:g} Hz)")
    k = int(in_band[np.argmax(power[in_band])])
    f_peak = float(freqs[k])
    if interpolate and 0 < k < freqs.size - 1 and np.all(power[k - 1 : k + 2] > 0):
        y0, y1, y2 = np.log(power[k - 1 : k + 2])
        curvature = y0 - 2.0 * y1 + y2
        if curvature < 0:
            delta = float(np.clip(0.5 * (y0 - y2) / curvature, -0.5, 0.5))
            f_peak = float(np.clip(f_peak + delta * (freqs[1] - freqs[0]), band[0], band[1]))
    return 60.0 * f_peak


def _peak_indices(x: np.ndarray, fs: float, source: str) -> np.ndarray:
    if source not in ("pulse", "resp"):
        raise InputError(f"unknown source {source!r}; valid: 'pulse', 'resp'")
    if np.ptp(x) == 0:
        return np.zeros(0, dtype=int)
    import neurokit2 as nk  # deferred: neurokit2 import is slow and only this estimator needs it

    try:
        if source == "pulse":
            peaks = nk.ppg_findpeaks(x, sampling_rate=fs, method="elgendi")["PPG_Peaks"]
        else:
            peaks = nk.rsp_findpeaks(x, sampling_rate=fs, method="khodadad2018")["RSP_Peaks"]
    except IndexError:  # neurokit2's detectors index an empty array when nothing crosses threshold
        return np.zeros(0, dtype=int)
    return np.asarray(peaks, dtype=int)


def _rate_from_peaks(peaks: np.ndarray, fs: float) -> float:
    if peaks.size < 2:
        return float("nan")
    return 60.0 * fs / float(np.mean(np.diff(peaks)))


def rate_peaks(wave, fs_hz: float, source: Source = "pulse") -> float:
    """Rate (per minute) from the mean interval between detected peaks.

    Peaks come from neurokit2: ``ppg_findpeaks(method="elgendi")`` for pulse,
    ``rsp_findpeaks(method="khodadad2018")`` for respiration; rate = 60 · fs / mean(Δpeak), the
    rPPG-Toolbox "Peak" definition (which uses ``scipy.signal.find_peaks``).

    Parameters
    ----------
    wave : array_like, shape (T,)
        Band-passed waveform (not a derivative).
    fs_hz : float
        Sampling rate, Hz.
    source : {"pulse", "resp"}
        Chooses the peak detector.

    Returns
    -------
    float
        Rate per minute.

    Raises
    ------
    InputError
        Bad input, or fewer than two peaks found.
    """
    fs = _check_fs(fs_hz)
    x = _check_signal(wave, "wave")
    peaks = _peak_indices(x, fs, source)
    if peaks.size < 2:
        raise InputError(
            f"rate_peaks: found {peaks.size} {source} peak(s) in {x.size / fs:.1f} s; need at least 2"
        )
    return _rate_from_peaks(peaks, fs)


def rate_series(
    wave,
    fs_hz: float,
    band_hz: tuple[float, float] = PULSE_BAND_HZ,
    window_s: float = 10.0,
    hop_s: float = 1.0,
    method: str = "spectral",
    *,
    source: Source = "pulse",
    response=None,
) -> list[tuple[float, float]]:
    """Rate over sliding windows of an already band-passed waveform.

    Windows of ``window_s`` start every ``hop_s`` seconds (``[k·hop, k·hop + window)``); the last
    partial window is dropped.  If the signal is shorter than ``window_s`` but at least one period
    of the band's lower edge long, a single whole-signal window is used and a
    :class:`~physio.errors.PhysioWarning` says so; shorter signals raise :class:`InputError`.
    With ``method="peaks"`` a window with fewer than two peaks gives NaN (and one warning).

    Parameters
    ----------
    wave : array_like, shape (T,)
    fs_hz : float
    band_hz : (float, float)
        Band for the spectral peak and for the minimum-length rule.
    window_s, hop_s : float
        Window length and hop, seconds.  ``window_s`` must cover one period of ``band_hz[0]``.
    method : {"spectral", "peaks"}
    source : {"pulse", "resp"}
        Peak detector for ``method="peaks"``.
    response : callable or None
        Passed to :func:`rate_spectral`.

    Returns
    -------
    list of (float, float)
        ``(t_center_s, rate_per_min)`` per window; ``t_center_s`` is the window centre measured
        from the first sample (sample k at ``k / fs_hz``).
    """
    fs = _check_fs(fs_hz)
    band = _check_band(band_hz, fs)
    x = _check_signal(wave, "wave")
    if method not in ("spectral", "peaks"):
        raise InputError(f"unknown method {method!r}; valid: 'spectral', 'peaks'")
    if not (math.isfinite(window_s) and math.isfinite(hop_s) and window_s > 0 and hop_s > 0):
        raise InputError(f"window_s and hop_s must be > 0, got window_s={window_s!r}, hop_s={hop_s!r}")
    min_len = _min_samples_for_band(band, fs)
    win = int(round(window_s * fs))
    hop = max(1, int(round(hop_s * fs)))
    if win < min_len:
        raise InputError(
            f"window_s={window_s:g} s ({win} samples) shorter than one period of the band's lower edge "
            f"{band[0]:g} Hz ({min_len} samples)"
        )
    if x.size < win:
        _check_long_enough(x, fs, band, "wave")
        warnings.warn(
            f"signal is {x.size / fs:.2f} s, shorter than window_s={window_s:g} s; using one window",
            PhysioWarning,
            stacklevel=2,
        )
        win = x.size
    starts = range(0, x.size - win + 1, hop)
    out: list[tuple[float, float]] = []
    n_nan = 0
    for s in starts:
        seg = x[s : s + win]
        if method == "spectral":
            value = rate_spectral(seg, fs, band, response=response)
        else:
            value = _rate_from_peaks(_peak_indices(seg, fs, source), fs)
            n_nan += math.isnan(value)
        out.append(((s + win / 2.0) / fs, value))
    if n_nan:
        warnings.warn(f"{n_nan}/{len(out)} windows had fewer than 2 peaks (rate NaN)", PhysioWarning, stacklevel=2)
    return out


# --------------------------------------------------------------------------------------------
# SNR
# --------------------------------------------------------------------------------------------
def snr_db(
    wave,
    fs_hz: float,
    ref_rate_bpm: float,
    band_hz: tuple[float, float] = PULSE_BAND_HZ,
    *,
    deviation_bpm: float = 6.0,
    convention: Literal["power", "rppg-toolbox"] = "power",
) -> float:
    """Signal-to-noise ratio of a waveform around a reference rate (rPPG-Toolbox definition).

    On the boxcar periodogram with ``nfft`` = next power of two >= T (no detrend), the signal
    power ``S`` is the sum of bins within ±``deviation_bpm`` of ``f₀ = ref/60`` and of ``2 f₀``;
    the noise power ``N`` is the sum of the other bins inside ``band_hz``.  Then
    ``SNR = 10·log10(S/N)`` (``convention="power"``) or ``20·log10(S/N)``
    (``convention="rppg-toolbox"``: its ``mag2db`` applied to a power ratio, i.e. twice the value).

    Parameters
    ----------
    wave : array_like, shape (T,)
        Band-passed predicted waveform.
    fs_hz : float
    ref_rate_bpm : float
        Reference (ground-truth) rate, per minute.
    band_hz : (float, float)
        Band over which noise is counted, Hz.
    deviation_bpm : float
        Half-width of each harmonic window, per minute.
    convention : {"power", "rppg-toolbox"}

    Returns
    -------
    float
        SNR in dB; ``inf`` if no power lies outside the harmonic windows (rPPG-Toolbox returns 0).
    """
    fs = _check_fs(fs_hz)
    band = _check_band(band_hz, fs)
    x = _check_signal(wave, "wave")
    if not (math.isfinite(ref_rate_bpm) and ref_rate_bpm > 0):
        raise InputError(f"ref_rate_bpm must be finite and > 0, got {ref_rate_bpm!r}")
    if convention not in ("power", "rppg-toolbox"):
        raise InputError(f"unknown convention {convention!r}; valid: 'power', 'rppg-toolbox'")
    freqs, power = scipy.signal.periodogram(x, fs=fs, nfft=_next_pow2(x.size), detrend=False)
    f0, dev = ref_rate_bpm / 60.0, deviation_bpm / 60.0
    harmonic = (np.abs(freqs - f0) <= dev) | (np.abs(freqs - 2 * f0) <= dev)
    noise = (freqs >= band[0]) & (freqs <= band[1]) & ~harmonic
    s, n = float(power[harmonic].sum()), float(power[noise].sum())
    if s <= 0:
        raise InputError(f"no power within ±{deviation_bpm:g} bpm of {ref_rate_bpm:g} bpm or its harmonic")
    if n <= 0:
        return float("inf")
    factor = 10.0 if convention == "power" else 20.0
    return factor * math.log10(s / n)


QUALITY_DEVIATION_PER_MIN: dict[str, float] = {"pulse": 6.0, "resp": 2.0}
"""Half-width of the peak (and harmonic) window of :func:`peak_snr_db`, per minute."""


def peak_snr_db(wave, fs_hz: float, rate_per_min: float, band_hz: tuple[float, float], source: Source = "pulse") -> float:
    """How clearly a waveform shows its own rate: :func:`snr_db` around ``rate_per_min`` (the estimate, not
    a reference; ±6 bpm for the pulse, ±2 breaths/min for respiration).  NaN where it cannot be
    measured (no power at the peak, an invalid rate)."""
    try:
        return snr_db(wave, fs_hz, rate_per_min, band_hz, deviation_bpm=QUALITY_DEVIATION_PER_MIN[source])
    except InputError:
        return float("nan")


def series_quality(result: RateResult) -> list[float]:
    """:func:`peak_snr_db` of each window of ``result.series`` (the same windows :func:`rate_series` used)."""
    wave, fs = result.waveform, result.fs_hz
    win = min(int(round(result.window_s * fs)), wave.size)
    out = []
    for t, value in result.series:
        s = max(0, int(round(t * fs - win / 2.0)))
        out.append(peak_snr_db(wave[s : s + win], fs, value, result.band_hz, result.source))
    return out


# --------------------------------------------------------------------------------------------
# high level
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RateResult:
    """Outcome of :func:`estimate_rate`.

    Attributes
    ----------
    rate_per_min : float
        Whole-signal rate (bpm for pulse, breaths/min for respiration).
    series : list of (float, float)
        ``(t_center_s, rate_per_min)`` over sliding windows (see :func:`rate_series`).
    waveform : numpy.ndarray, shape (T,)
        Detrended, band-passed waveform.
    source, method : str
        ``"pulse"``/``"resp"``; ``"spectral"``/``"peaks"``.
    band_hz : (float, float)
    fs_hz, window_s, hop_s, detrend_lambda : float
    derivative : bool
        Whether the input was integrated.
    """

    rate_per_min: float
    series: list[tuple[float, float]]
    waveform: np.ndarray = field(repr=False)
    source: str
    method: str
    band_hz: tuple[float, float]
    fs_hz: float
    window_s: float
    hop_s: float
    detrend_lambda: float
    derivative: bool


def estimate_rate(
    signal,
    fs_hz: float,
    source: Source = "pulse",
    *,
    derivative: bool = True,
    method: str = "spectral",
    bands: str | tuple[float, float] = "deepmag",
    window_s: float | None = None,
    hop_s: float = 1.0,
    detrend_lambda: float | None = None,
    filter_order: int = 1,
    with_series: bool = True,
    flatten_band: bool = False,
) -> RateResult:
    """Whole-signal rate and sliding-window series from a network output or a waveform.

    Parameters
    ----------
    signal : array_like, shape (T,)
        Predicted derivative (``derivative=True``) or waveform.
    fs_hz : float
        Sampling rate (video fps), Hz.
    source : {"pulse", "resp"}
    derivative : bool
        Integrate with ``cumsum`` first.
    method : {"spectral", "peaks"}
    bands : str or (float, float)
        Preset name (``"deepmag"``, ``"rppg-toolbox"``, ``"mtts-can"``) or explicit band in Hz.
    window_s : float or None
        Series window; None: 10 s for pulse, 30 s for respiration (a 10 s window holds only
        1.6 cycles at 0.16 Hz).
    hop_s : float
        Series hop, s.
    detrend_lambda : float or None
        None: source default (see :func:`pulse_waveform`, :func:`resp_waveform`).
    filter_order : int
        Butterworth order per pass.
    with_series : bool
        Compute the sliding-window series (False: ``series`` is empty; faster, no short-signal warning).
    flatten_band : bool
        Spectral method: divide the power by the squared gain of the detrend + band-pass
        (:func:`filter_gain`) before the peak search.  Inside the band that gain still slopes
        (0.48 at 0.75 Hz, 0.96 at 1.5 Hz for 0.7–2.5 Hz at 30 fps), enough for a 45 bpm pulse's
        second harmonic to beat its fundamental in a clean reference PPG.  physio flattens when it
        measures a *reference* signal (ground truth); estimates from video keep the slope
        (False, rPPG-Toolbox's FFT peak), which damps noise at the band edges (``docs/rates.md``).

    Returns
    -------
    RateResult
    """
    fs = _check_fs(fs_hz)
    band = _check_band(band_for(source, bands), fs, name=f"{source} band")
    if method not in ("spectral", "peaks"):
        raise InputError(f"unknown method {method!r}; valid: 'spectral', 'peaks'")
    x = _check_signal(signal, "signal")
    _check_long_enough(x, fs, band, "signal")
    lam = _default_lambda(source, fs) if detrend_lambda is None else float(detrend_lambda)
    wave = waveform_from_signal(x, fs, band, derivative=derivative, detrend_lambda=lam, filter_order=filter_order)
    response = None
    if flatten_band and method == "spectral":
        response = functools.partial(filter_gain, fs_hz=fs, band_hz=band, detrend_lambda=lam, filter_order=filter_order)
    if method == "spectral":
        rate = rate_spectral(wave, fs, band, response=response)
    else:
        rate = rate_peaks(wave, fs, source)
    win_s = _DEFAULT_WINDOW_S[source] if window_s is None else float(window_s)
    series = (
        rate_series(wave, fs, band, window_s=win_s, hop_s=hop_s, method=method, source=source, response=response)
        if with_series
        else []
    )
    return RateResult(
        rate_per_min=rate,
        series=series,
        waveform=wave,
        source=source,
        method=method,
        band_hz=band,
        fs_hz=fs,
        window_s=win_s,
        hop_s=float(hop_s),
        detrend_lambda=lam,
        derivative=bool(derivative),
    )


def reference_rate(
    signal, fs_hz: float, source: Source = "pulse", *, derivative: bool = False, bands="deepmag", **kwargs
) -> RateResult:
    """Rate of a clean *reference* signal (ground truth): :func:`estimate_rate` with ``flatten_band=True``.

    Every place that scores against a reference (``physio evaluate``, ``physio compare``,
    ``physio rates --truth``, the validation metric of ``physio train``) measures it through this
    function, so a slow pulse's reference is not read at its harmonic (``docs/rates.md``).
    """
    return estimate_rate(signal, fs_hz, source, derivative=derivative, bands=bands, flatten_band=True, **kwargs)
