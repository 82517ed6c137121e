"""Heart-rate variability from a pulse waveform: beat times, inter-beat intervals, time-domain measures.

The pulse signal ``physio rates`` measures (the network's derivative or the rPPG trace) is detrended and
band-passed as for the rate, but with a wider pass band (:func:`hrv_band`: up to 4 Hz for adults instead of
2.5 Hz, keeping the pulse's second harmonic and so the sharp systolic upstroke; measured on simulated
pulses with known beats, the rate's band under-reads RMSSD by up to 13 %, this one by up to 10 %), then
interpolated to :data:`HRV_FS` by a cubic spline, its systolic peaks are found by
neurokit2's detector (Elgendi et al. 2013 by default, :func:`neurokit2.ppg_findpeaks`), and each peak is
refined to sub-sample precision by a parabola through the spline's three samples around it (at 30 fps
one frame is 33 ms, of the order of a resting RMSSD: beats on the frame grid would swamp it).

Intervals are screened before any measure is taken (the simplest faithful reading of the usual artefact
rules, documented in ``docs/rates.md``):

* an interval outside the subject's heart-rate band (:func:`physio.rates.waveform.band_for`) is a missed
  or an extra beat;
* an interval more than :data:`MAX_LOCAL_DEVIATION` away from the median of its neighbours (±5
  intervals) is an ectopic or mis-detected beat;
* an interval touching frames that were not usable (face lost, dark frames: bridged for the rate) is
  invented, not measured.

Then, over the accepted intervals (Task Force of the ESC/NASPE 1996): ``mean_hr_bpm`` = 60 000 / mean IBI;
``sdnn_ms`` = their standard deviation (ddof 1); ``rmssd_ms`` = RMS of the successive differences of
*consecutive* accepted intervals; ``pnn50_pct`` = % of those differences over 50 ms.  Per window (default
30 s, hop 10 s: ultra-short-term HRV) and over the whole video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from physio.errors import InputError
from physio.rates.waveform import waveform_from_signal

__all__ = ["HRV_FS", "HRV_WINDOW_S", "HRV_HOP_S", "MIN_IBI", "MAX_LOCAL_DEVIATION", "MIN_INTERVAL_FRACTION", "MIN_TRUSTED_IBI",
           "MIN_ACCEPTED_FRACTION", "hrv_band", "hrv_confidence", "detect_beats",
           "screen_ibi", "hrv_measures", "HrvResult", "hrv_analysis", "hrv_from_signal"]

HRV_FS = 250.0
"""Rate (Hz) the waveform is interpolated to before beat detection."""

HRV_WINDOW_S = 30.0
"""Window of the per-window measures, s."""

HRV_HOP_S = 10.0
"""Hop of the per-window measures, s."""

MIN_IBI = 3
"""Fewest accepted intervals a measure is given for (fewer: ``None``)."""

MAX_LOCAL_DEVIATION = 0.3
"""An interval further than this fraction from its neighbours' median is rejected."""

MIN_TRUSTED_IBI = 20
"""Fewer accepted intervals than this (≈ 20 s at rest) make the measures ``low`` confidence."""

MIN_ACCEPTED_FRACTION = 0.8
"""A smaller accepted fraction of the detected intervals makes the measures ``low`` confidence."""

MIN_INTERVAL_FRACTION = 0.6
"""Peaks closer than this fraction of the measured heart period are not two beats (a diastolic bump, noise)."""

_LOCAL = 5  # neighbours on each side for the local median


def hrv_band(band_hz: tuple[float, float], fs_hz: float) -> tuple[float, float]:
    """The pass band beats are detected in: the rate's lower edge, and an upper edge of at least 4 Hz
    (1.6 × the rate's upper edge for faster hearts), below 0.45 × the frame rate."""
    lo, hi = float(band_hz[0]), float(band_hz[1])
    return lo, max(hi, min(max(4.0, 1.6 * hi), 0.45 * float(fs_hz)))


def detect_beats(wave, fs_hz: float, method: str = "elgendi", min_interval_s: float = 0.3) -> np.ndarray:
    """Beat times (s from the first sample) of a pulse waveform sampled at ``fs_hz``.

    Parameters
    ----------
    wave : array_like, shape (T,)
        A band-passed pulse waveform (systolic peaks upward, as ``physio rates`` makes it).
    fs_hz : float
    method : str
        neurokit2's PPG peak detector (``"elgendi"``, ``"bishop"``, ``"charlton"``).
    min_interval_s : float
        Elgendi's minimum delay between peaks (neurokit2's default 0.3 s); :func:`hrv_analysis` sets it
        from the measured heart rate, so that a slow pulse's diastolic bump is not a second beat.

    Returns
    -------
    numpy.ndarray, shape (B,), float64, increasing
    """
    import neurokit2 as nk  # noqa: PLC0415 - heavy import, only when beats are wanted
    from scipy.interpolate import CubicSpline  # noqa: PLC0415

    x = np.asarray(wave, np.float64)
    if x.ndim != 1 or x.size < 4 or not np.isfinite(x).all():
        raise InputError(f"wave must be a finite 1-D signal of >= 4 samples, got shape {x.shape}")
    if not (np.isfinite(fs_hz) and fs_hz > 0):
        raise InputError(f"fs_hz must be > 0, got {fs_hz!r}")
    t = np.arange(x.size) / fs_hz
    tu = np.arange(0.0, t[-1], 1.0 / HRV_FS)
    xu = CubicSpline(t, x)(tu)
    if np.ptp(xu) == 0:
        return np.zeros(0)
    kw = {"mindelay": float(min_interval_s)} if method == "elgendi" else {}
    peaks = np.asarray(nk.ppg_findpeaks(xu, sampling_rate=int(HRV_FS), method=method, **kw)["PPG_Peaks"], int)
    peaks = peaks[(peaks > 0) & (peaks < xu.size - 1)]
    if not peaks.size:
        return np.zeros(0)
    # a parabola through the three samples around each peak: its vertex is the sub-sample peak
    a, b, c = xu[peaks - 1], xu[peaks], xu[peaks + 1]
    den = a - 2 * b + c
    off = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    return np.sort((peaks + np.clip(off, -0.5, 0.5)) / HRV_FS)


def screen_ibi(beats_s: np.ndarray, hr_band_bpm: tuple[float, float], invalid_s: np.ndarray | None = None):
    """Inter-beat intervals (ms) of ``beats_s`` and which of them to use (see the module notes).

    ``invalid_s``: ``(K, 2)`` time spans (s) of unusable frames; an interval overlapping one is rejected.
    Returns ``(ibi_ms (B-1,), ok (B-1,) bool)``.
    """
    b = np.asarray(beats_s, np.float64)
    ibi = np.diff(b) * 1000.0
    if not ibi.size:
        return ibi, np.zeros(0, bool)
    lo_ms, hi_ms = 60000.0 / hr_band_bpm[1], 60000.0 / hr_band_bpm[0]
    ok = (ibi >= lo_ms) & (ibi <= hi_ms)
    med = np.array([np.median(ibi[max(0, i - _LOCAL): i + _LOCAL + 1]) for i in range(ibi.size)])
    ok &= np.abs(ibi - med) <= MAX_LOCAL_DEVIATION * med
    if invalid_s is not None and len(invalid_s):
        spans = np.asarray(invalid_s, np.float64).reshape(-1, 2)
        start, end = b[:-1, None], b[1:, None]
        ok &= ~((start <= spans[None, :, 1]) & (end >= spans[None, :, 0])).any(axis=1)
    return ibi, ok


def hrv_measures(ibi_ms: np.ndarray, ok: np.ndarray) -> dict:
    """``mean_hr_bpm``, ``sdnn_ms``, ``rmssd_ms``, ``pnn50_pct`` and ``n_ibi`` of the accepted intervals
    (``None`` for a measure with fewer than :data:`MIN_IBI` intervals / successive pairs)."""
    ibi = np.asarray(ibi_ms, np.float64)
    ok = np.asarray(ok, bool)
    used = ibi[ok]
    pair = ok[1:] & ok[:-1]
    diffs = np.diff(ibi)[pair]
    out = {"n_ibi": int(used.size), "mean_hr_bpm": None, "sdnn_ms": None, "rmssd_ms": None, "pnn50_pct": None}
    if used.size >= MIN_IBI:
        out["mean_hr_bpm"] = round(float(60000.0 / used.mean()), 3)
        out["sdnn_ms"] = round(float(used.std(ddof=1)), 3)
    if diffs.size >= MIN_IBI - 1:
        out["rmssd_ms"] = round(float(np.sqrt(np.mean(diffs**2))), 3)
        out["pnn50_pct"] = round(float(100.0 * np.mean(np.abs(diffs) > 50.0)), 3)
    return out


@dataclass
class HrvResult:
    """Beats, intervals and measures of one pulse waveform (:func:`hrv_analysis`)."""

    beats_s: np.ndarray
    ibi_ms: np.ndarray
    ibi_ok: np.ndarray
    overall: dict
    windows: list[dict] = field(default_factory=list)
    method: str = "elgendi"

    def to_json(self) -> dict:
        return {**self.overall, "method": f"neurokit2 {self.method} peaks, cubic-spline {HRV_FS:g} Hz + parabolic",
                "beats_s": [round(float(t), 4) for t in self.beats_s],
                "ibi_ms": [round(float(v), 2) for v in self.ibi_ms],
                "ibi_used": [bool(v) for v in self.ibi_ok],
                "windows": self.windows}


def _invalid_spans(usable: np.ndarray, fs_hz: float) -> np.ndarray:
    """Time spans (s) of runs of unusable frames, each widened by half a frame."""
    bad = ~np.asarray(usable, bool)
    if not bad.any():
        return np.zeros((0, 2))
    edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    return np.stack([(starts - 0.5) / fs_hz, (ends + 0.5) / fs_hz], axis=1)


def hrv_analysis(wave, fs_hz: float, hr_band_bpm: tuple[float, float], usable: np.ndarray | None = None,
                 window_s: float = HRV_WINDOW_S, hop_s: float = HRV_HOP_S, method: str = "elgendi",
                 hr_bpm: float | None = None) -> HrvResult:
    """Beats, screened intervals and the time-domain measures, whole and per window, of a pulse waveform.

    ``hr_bpm`` (the measured rate): beats closer than :data:`MIN_INTERVAL_FRACTION` of its period are
    not both taken (without it: the shortest interval of the band).

    A window holds the intervals that start and end inside it; windows start every ``hop_s`` from 0 and
    the last one ends at the waveform's end (one window when the waveform is shorter than ``window_s``).
    Window entries: ``t_start_s``, ``t_end_s`` and :func:`hrv_measures`.
    """
    if window_s <= 0 or hop_s <= 0:
        raise InputError(f"window_s and hop_s must be > 0, got {window_s}, {hop_s}")
    shortest = 60.0 / hr_band_bpm[1] if hr_bpm is None else MIN_INTERVAL_FRACTION * 60.0 / hr_bpm
    beats = detect_beats(wave, fs_hz, method, min_interval_s=shortest)
    invalid = None if usable is None else _invalid_spans(usable, fs_hz)
    ibi, ok = screen_ibi(beats, hr_band_bpm, invalid)
    duration = len(wave) / fs_hz
    starts = [0.0] if duration <= window_s else list(np.arange(0.0, duration - window_s + 1e-9, hop_s))
    if duration > window_s and starts[-1] + window_s < duration - 1e-9:
        starts.append(duration - window_s)
    windows = []
    for t0 in starts:
        t1 = min(t0 + window_s, duration)
        inside = (beats[:-1] >= t0) & (beats[1:] <= t1) if beats.size > 1 else np.zeros(0, bool)
        entry = {"t_start_s": round(float(t0), 3), "t_end_s": round(float(t1), 3)}
        entry.update(hrv_measures(np.where(inside, ibi, np.nan), ok & inside))
        windows.append(entry)
    return HrvResult(beats_s=beats, ibi_ms=ibi, ibi_ok=ok, overall=hrv_measures(ibi, ok), windows=windows,
                     method=method)


def hrv_from_signal(signal, fs_hz: float, band_hz: tuple[float, float], *, derivative: bool,
                    detrend_lambda: float | None, usable: np.ndarray | None = None, **kwargs) -> HrvResult:
    """:func:`hrv_analysis` of a raw pulse signal (a network's derivative, or an rPPG trace), filtered in
    :func:`hrv_band` of the rate's band ``band_hz``; the heart-rate band of the interval screen is
    ``band_hz`` in bpm."""
    wave = waveform_from_signal(signal, fs_hz, hrv_band(band_hz, fs_hz), derivative=derivative,
                                detrend_lambda=detrend_lambda, filter_order=1)
    return hrv_analysis(wave, fs_hz, (60.0 * band_hz[0], 60.0 * band_hz[1]), usable=usable, **kwargs)


def hrv_confidence(result: HrvResult, hr_level: str) -> dict:
    """``level`` and ``reasons`` of the measures: the heart rate's confidence level (a beat series is no
    better than the pulse it comes from), lowered to ``low`` when fewer than :data:`MIN_TRUSTED_IBI`
    intervals were accepted or less than :data:`MIN_ACCEPTED_FRACTION` of them.  Measured on synthetic
    sessions (``docs/rates.md``): RMSSD is inflated by timing noise (≈ √(RMSSD² + 2σ²)), so it needs a
    cleaner pulse than the rate does."""
    reasons = [] if hr_level == "high" else [f"heart rate confidence is {hr_level}"]
    n, total = result.overall["n_ibi"], int(result.ibi_ms.size)
    if n < MIN_TRUSTED_IBI:
        reasons.append(f"{n} accepted beat intervals (< {MIN_TRUSTED_IBI})")
    if total and n / total < MIN_ACCEPTED_FRACTION:
        reasons.append(f"only {n} of {total} beat intervals accepted")
    level = hr_level if len(reasons) <= (hr_level != "high") else "low"
    return {"level": level, "reasons": reasons}
