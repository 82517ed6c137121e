"""Ground-truth physiological and nuisance signals of a synthetic session.

* :func:`pulse_simulate` — the blood-volume pulse ``p(t)`` from :func:`neurokit2.ppg_simulate`
  (heart-rate variability: neurokit's slow interval modulation plus beat-to-beat jitter), z-scored.
* :func:`resp_simulate` — breathing from :func:`neurokit2.rsp_simulate` (BreathMetrics model),
  zero-mean with unit robust peak-to-peak amplitude (inhalation positive).
* :func:`illumination_simulate` — the relative illumination variation ``i(t)`` of the dichromatic
  model: slow drift plus optional flicker.
* :func:`smooth_noise` — unit-variance band-limited Gaussian noise (used for natural head motion).
* :func:`camera_drift` — a consumer camera's slow auto-exposure and white-balance gain changes.

Every function takes the number of samples ``n`` and the rate ``fs`` so that sample ``k`` lies at
``k / fs`` seconds on the session's clock (frame ``j`` at ``j / fps``).
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np

from physio.errors import InputError, PhysioWarning
from physio.synth.participant import BR_RANGE_BPM, HR_RANGE_BPM, _as_generator

__all__ = ["pulse_simulate", "resp_simulate", "illumination_simulate", "smooth_noise", "camera_drift"]

_SIM_FS = 1000.0
"""Rate at which neurokit2 simulates before the signal is resampled onto the session's clock."""


def _check_n_fs(n: int, fs: float) -> None:
    if int(n) < 2:
        raise InputError(f"need at least 2 samples, got n={n}")
    if not (np.isfinite(fs) and fs > 0):
        raise InputError(f"fs must be positive, got {fs}")


def _quiet(fn, *args, **kwargs):
    """Call a neurokit2 simulator; anything it prints (it prints when it skips a setting) becomes a warning."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args, **kwargs)
    if buf.getvalue().strip():
        warnings.warn(f"neurokit2: {buf.getvalue().strip()}", PhysioWarning, stacklevel=3)
    return out


def pulse_simulate(
    n: int,
    fs: float,
    hr_bpm: float,
    rsa: float = 0.1,
    ibi_randomness: float = 0.1,
    rng=None,
    return_beats: bool = False,
):
    """Simulated blood-volume pulse, z-scored, sampled at ``k / fs`` for ``k < n``.

    Parameters
    ----------
    n : int
        Number of samples.
    fs : float
        Sampling rate (Hz).
    hr_bpm : float
        Mean heart rate, 45–150 bpm.
    rsa : float
        Strength of neurokit2's slow (0.05 Hz) beat-interval modulation, 0–1.  Reduced where it
        would make beats shorter than neurokit2's 300 ms plausibility limit (which neurokit2 would
        otherwise silently skip).
    ibi_randomness : float
        Beat-to-beat interval jitter, 0–1 (reduced likewise).
    rng : int, SeedSequence or Generator, optional
        Randomness (beat shapes, jitter, starting phase).
    return_beats : bool
        Also return the beat times: the systolic maxima of neurokit2's noiseless 1 kHz waveform, in
        seconds on the session's clock, those in ``[0, n / fs)`` (the ground truth of heart-rate
        variability; the same draw, so the pulse is unchanged by asking).

    Returns
    -------
    numpy.ndarray, or (numpy.ndarray, numpy.ndarray) with ``return_beats``
        ``(n,)`` float64, zero mean, unit standard deviation; larger = more blood (darker skin).
        With ``return_beats``, also the ``(B,)`` float64 beat times.
    """
    _check_n_fs(n, fs)
    if not HR_RANGE_BPM[0] <= hr_bpm <= HR_RANGE_BPM[1]:
        raise InputError(f"hr_bpm must be in {HR_RANGE_BPM}, got {hr_bpm}")
    import neurokit2 as nk  # noqa: PLC0415 - heavy import, only when simulating

    g = _as_generator(rng)
    period = 60.0 / hr_bpm
    rsa_eff = float(np.clip(min(rsa, 1.0 - 0.33 / period), 0.0, 1.0))
    min_period = period * (1.0 - 0.5 * rsa_eff)
    ibi_eff = float(np.clip(min(ibi_randomness, 1.0 - 0.33 / min_period), 0.0, 0.99))
    t0 = g.uniform(0, period)  # random phase of the first beat
    duration = int(math.ceil(n / fs + t0 + 3 * period + 1))
    x = _quiet(
        nk.ppg_simulate,
        duration=duration,
        sampling_rate=int(_SIM_FS),
        heart_rate=float(hr_bpm),
        frequency_modulation=rsa_eff,
        ibi_randomness=ibi_eff,
        drift=0,
        motion_amplitude=0,
        powerline_amplitude=0,
        burst_number=0,
        burst_amplitude=0,
        random_state=int(g.integers(2**31 - 1)),
    )
    t = t0 + np.arange(n) / fs
    p = np.interp(t, np.arange(len(x)) / _SIM_FS, x)
    p = p - p.mean()
    sd = p.std()
    p = p / sd if sd > 0 else p
    if not return_beats:
        return p
    return p, _systolic_times(x, t0, n / fs)


def _systolic_times(x: np.ndarray, t0: float, duration_s: float) -> np.ndarray:
    """Times (s, session clock) of the systolic maxima of a noiseless simulated PPG at :data:`_SIM_FS`.

    A systolic peak rises ~1.5 units above its onset; the diastolic bump after the dicrotic notch only
    ~0.03 above the notch, so a prominence of a third of the signal's range keeps exactly one peak a beat.
    """
    import scipy.signal  # noqa: PLC0415

    span = float(np.percentile(x, 99) - np.percentile(x, 1))
    idx, _ = scipy.signal.find_peaks(x, prominence=span / 3.0)
    t = idx / _SIM_FS - t0
    return t[(t >= 0) & (t < duration_s)].astype(np.float64)


def resp_simulate(n: int, fs: float, br_bpm: float, rng=None) -> np.ndarray:
    """Simulated breathing (chest/shoulder rise), zero mean, unit robust peak-to-peak.

    Parameters
    ----------
    n, fs : int, float
        Number of samples and rate (Hz).
    br_bpm : float
        Mean breathing rate, 8–30 breaths per minute.
    rng : int, SeedSequence or Generator, optional
        Randomness (breath-to-breath variability, starting phase).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` float64; inhalation positive; the 2nd–98th percentile range is 1.
    """
    _check_n_fs(n, fs)
    if not BR_RANGE_BPM[0] <= br_bpm <= BR_RANGE_BPM[1]:
        raise InputError(f"br_bpm must be in {BR_RANGE_BPM}, got {br_bpm}")
    import neurokit2 as nk  # noqa: PLC0415 - heavy import, only when simulating

    g = _as_generator(rng)
    period = 60.0 / br_bpm
    t0 = g.uniform(0, period)
    sim_fs = 100.0
    duration = int(math.ceil(max(n / fs + t0 + period + 1, 4 * period + 2)))
    x = _quiet(
        nk.rsp_simulate,
        duration=duration,
        sampling_rate=int(sim_fs),
        noise=0,
        respiratory_rate=float(br_bpm),
        method="breathmetrics",
        random_state=int(g.integers(2**31 - 1)),
    )
    t = t0 + np.arange(n) / fs
    r = np.interp(t, np.arange(len(x)) / sim_fs, x)
    r = r - r.mean()
    pp = np.percentile(r, 98) - np.percentile(r, 2)
    return r / pp if pp > 0 else r


def smooth_noise(n: int, fs: float, band_hz: tuple[float, float], rng=None) -> np.ndarray:
    """Gaussian noise band-limited to ``band_hz`` (smooth 8th-order edges), unit standard deviation.

    ``band_hz[0] = 0`` gives low-pass noise.  Shaped in the frequency domain, so any ``n`` works.
    """
    _check_n_fs(n, fs)
    lo, hi = float(band_hz[0]), float(band_hz[1])
    if not 0 <= lo < hi:
        raise InputError(f"band_hz must satisfy 0 <= low < high, got {band_hz}")
    g = _as_generator(rng)
    m = 2 * n  # pad so the circular wrap does not join the ends
    f = np.fft.rfftfreq(m, 1.0 / fs)
    h = 1.0 / np.sqrt(1.0 + (f / hi) ** 8)
    if lo > 0:
        h *= (f / lo) ** 4 / np.sqrt(1.0 + (f / lo) ** 8)
    spec = (g.standard_normal(len(f)) + 1j * g.standard_normal(len(f))) * h
    x = np.fft.irfft(spec, m)[:n]
    x = x - x.mean()
    sd = x.std()
    return x / sd if sd > 0 else x


def illumination_simulate(
    n: int,
    fs: float,
    drift: float = 0.005,
    flicker: float = 0.0,
    flicker_hz: float = 3.0,
    rng=None,
) -> np.ndarray:
    """Relative illumination variation ``i(t)`` (so the intensity is ``I0 · (1 + i(t))``).

    Parameters
    ----------
    drift : float
        Standard deviation of a slow (< 0.1 Hz) random drift, e.g. 0.005 = 0.5 %.
    flicker : float
        Amplitude of a sinusoidal flicker at ``flicker_hz`` (e.g. a beat between the lamp and the
        camera); 0 disables it.
    """
    _check_n_fs(n, fs)
    if drift < 0 or flicker < 0:
        raise InputError(f"drift and flicker must be >= 0, got {drift}, {flicker}")
    g = _as_generator(rng)
    i = drift * smooth_noise(n, fs, (0.0, 0.1), g)
    if flicker > 0:
        i = i + flicker * np.sin(2 * np.pi * flicker_hz * np.arange(n) / fs + g.uniform(0, 2 * np.pi))
    return i


CAMERA_DRIFT_BAND_HZ = (0.02, 0.3)
"""Band of the auto-exposure / white-balance drift: the control loops' slow hunting, below the pulse."""


def camera_drift(n: int, fs: float, ae: float, wb: float, rng=None) -> np.ndarray:
    """Per-frame, per-channel camera gain ``(n, 3)``: ``(1 + ae · a(t)) · (1 + wb · w_c(t))`` with ``a``
    and ``w_R``, ``w_B`` independent unit band-limited noises in :data:`CAMERA_DRIFT_BAND_HZ` (green is
    the white-balance reference, ``w_G = 0``): the slow hunting of a consumer camera's auto-exposure
    (``ae``, relative) and auto white balance (``wb``, relative, red and blue against green)."""
    _check_n_fs(n, fs)
    if ae < 0 or wb < 0:
        raise InputError(f"ae and wb must be >= 0, got {ae}, {wb}")
    g = _as_generator(rng)
    a = smooth_noise(n, fs, CAMERA_DRIFT_BAND_HZ, rng=g)
    w = np.stack([smooth_noise(n, fs, CAMERA_DRIFT_BAND_HZ, rng=g), np.zeros(n),
                  smooth_noise(n, fs, CAMERA_DRIFT_BAND_HZ, rng=g)], axis=1)
    return ((1.0 + ae * a)[:, None] * (1.0 + wb * w)).astype(np.float32)
