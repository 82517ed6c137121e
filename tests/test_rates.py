"""Tests for physio.rates.waveform: known rates from simulated physiology and exact spectra."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from physio import PULSE_BAND_HZ, RESP_BAND_HZ
from physio.rates import waveform as R
from physio.errors import InputError, PhysioWarning

nk = pytest.importorskip("neurokit2")

FS = 30  # Hz (int: neurokit2 simulators need an integer sampling rate)


def _ppg(hr_bpm: float, duration_s: float = 30, seed: int = 0) -> np.ndarray:
    # frequency_modulation/ibi_randomness = 0: the simulated mean rate is then exactly hr_bpm
    # (with the defaults, the realised mean rate of ppg_simulate drifts ~2 % below the nominal one).
    with warnings.catch_warnings():  # simulator-internal interpolation notice, irrelevant here
        warnings.simplefilter("ignore")
        return nk.ppg_simulate(
            duration=duration_s, sampling_rate=FS, heart_rate=hr_bpm,
            frequency_modulation=0.0, ibi_randomness=0.0, random_state=seed,
        )


def _sine(freq_hz: float, n: int, fs: float = FS, phase: float = 0.3, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq_hz * np.arange(n) / fs + phase)


# ------------------------------------------------------------------------------------- pulse
@pytest.mark.parametrize("hr_bpm", [55.0, 72.0, 110.0])
def test_ppg_rate_waveform_path(hr_bpm):
    wave = R.pulse_waveform(_ppg(hr_bpm), FS, derivative=False)
    assert R.rate_spectral(wave, FS) == pytest.approx(hr_bpm, abs=1.0)
    assert R.rate_peaks(wave, FS, "pulse") == pytest.approx(hr_bpm, abs=1.0)


def test_ppg_rate_derivative_path_matches():
    ppg = _ppg(72.0)
    for method in ("spectral", "peaks"):
        res = R.estimate_rate(np.diff(ppg), FS, "pulse", derivative=True, method=method)
        assert res.rate_per_min == pytest.approx(72.0, abs=1.0)
        assert res.method == method and res.source == "pulse" and res.derivative
    # the integrated derivative equals the waveform up to a constant, so both paths agree closely
    a = R.rate_spectral(R.pulse_waveform(np.diff(ppg), FS), FS)
    b = R.rate_spectral(R.pulse_waveform(ppg, FS, derivative=False), FS)
    assert a == pytest.approx(b, abs=0.1)


@pytest.mark.parametrize("hr_bpm", [45.0, 46.0])
def test_flattened_band_keeps_a_slow_pulse_off_its_harmonic(hr_bpm):
    # 45 bpm = 0.75 Hz sits near the 0.7 Hz edge, where the order-1 band-pass and the detrender pass
    # only ~0.48 of the amplitude (0.96 at the 1.5 Hz harmonic): the raw peak is the harmonic.
    ppg = _ppg(hr_bpm)
    raw = R.estimate_rate(ppg, FS, "pulse", derivative=False, with_series=False)  # rPPG-Toolbox's peak
    flat = R.estimate_rate(ppg, FS, "pulse", derivative=False, flatten_band=True)
    assert raw.rate_per_min == pytest.approx(2 * hr_bpm, abs=1.5)
    assert flat.rate_per_min == pytest.approx(hr_bpm, abs=0.5)
    assert R.reference_rate(ppg, FS).rate_per_min == flat.rate_per_min  # how every ground truth is measured
    assert all(abs(v - hr_bpm) < 2.0 for _, v in flat.series)


def test_filter_gain_matches_the_measured_response():
    lam = R.detrend_lambda_for_cutoff(0.478, FS)
    t = np.arange(3000) / FS
    for f in (0.75, 1.5, 2.4):
        x = np.sin(2 * np.pi * f * t)
        y = R.waveform_from_signal(x, FS, PULSE_BAND_HZ, derivative=False, detrend_lambda=lam)
        measured = np.std(y[600:-600]) / np.std(x[600:-600])
        assert measured == pytest.approx(R.filter_gain(f, FS, PULSE_BAND_HZ, lam), rel=0.02)


def test_estimate_rate_result_fields():
    res = R.estimate_rate(_ppg(72.0), FS, "pulse", derivative=False)
    assert res.waveform.shape == (int(30 * FS),)
    assert res.band_hz == PULSE_BAND_HZ and res.fs_hz == FS and res.window_s == 10.0
    assert res.detrend_lambda == pytest.approx(100.0, rel=1e-9)  # rPPG-Toolbox's λ at 30 fps
    # 30 s, 10 s windows, 1 s hop -> 21 windows centred at 5 .. 25 s
    t = [tc for tc, _ in res.series]
    assert len(t) == 21 and t[0] == pytest.approx(5.0) and t[-1] == pytest.approx(25.0)
    assert all(v == pytest.approx(72.0, abs=1.5) for _, v in res.series)
    quick = R.estimate_rate(_ppg(72.0), FS, "pulse", derivative=False, with_series=False)
    assert quick.series == [] and quick.rate_per_min == res.rate_per_min


def test_band_presets():
    assert R.band_for("pulse") == PULSE_BAND_HZ
    assert R.band_for("resp", "rppg-toolbox") == (0.13, 0.5)
    assert R.band_for("pulse", "rppg-toolbox") == (0.6, 3.3)
    assert R.band_for("pulse", (0.5, 4.0)) == (0.5, 4.0)
    res = R.estimate_rate(_ppg(72.0), FS, derivative=False, bands="rppg-toolbox")
    assert res.band_hz == (0.6, 3.3) and res.rate_per_min == pytest.approx(72.0, abs=1.0)


# ------------------------------------------------------------------------------ respiration
def test_resp_sinusoidal_exact():
    rsp = nk.rsp_simulate(duration=60, sampling_rate=FS, respiratory_rate=15, method="sinusoidal")
    for deriv, x in ((False, rsp), (True, np.diff(rsp))):
        res = R.estimate_rate(x, FS, "resp", derivative=deriv)
        assert res.rate_per_min == pytest.approx(15.0, abs=0.1)
        assert R.rate_peaks(res.waveform, FS, "resp") == pytest.approx(15.0, abs=0.1)


def test_resp_breathmetrics_within_half_breath():
    # Realistic, asymmetric breaths with random breath-to-breath durations (seed 0).
    rsp = nk.rsp_simulate(duration=60, sampling_rate=FS, respiratory_rate=15, random_state=0)
    for deriv, x in ((False, rsp), (True, np.diff(rsp))):
        wave = R.resp_waveform(x, FS, derivative=deriv)
        assert R.rate_spectral(wave, FS, RESP_BAND_HZ) == pytest.approx(15.0, abs=0.5)
        assert R.rate_peaks(wave, FS, "resp") == pytest.approx(15.0, abs=0.5)


def test_resp_default_lambda_keeps_breathing():
    # λ=100 at 30 fps high-passes at 0.48 Hz: a 10 breaths/min (0.167 Hz) waveform is crushed;
    # the default λ (cutoff 0.04 Hz) keeps it.
    x = np.diff(_sine(10 / 60, int(60 * FS)))
    kept = R.resp_waveform(x, FS)
    crushed = R.resp_waveform(x, FS, detrend_lambda=100.0)
    assert np.std(crushed) < 0.1 * np.std(kept)
    assert R.rate_spectral(kept, FS, RESP_BAND_HZ) == pytest.approx(10.0, abs=0.1)


# ------------------------------------------------------------------------------------ detrend
def test_detrend_matches_dense_formula_and_kills_lines():
    rng = np.random.default_rng(0)
    z = rng.normal(size=60).cumsum()
    n, lam = z.size, 7.0
    d2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        d2[i, i : i + 3] = (1, -2, 1)
    dense = (np.eye(n) - np.linalg.inv(np.eye(n) + lam**2 * d2.T @ d2)) @ z
    np.testing.assert_allclose(R.detrend_smoothness_priors(z, lam), dense, atol=1e-9)
    ramp = 3.0 + 0.5 * np.arange(500)  # second difference is 0: the trend is the ramp itself
    np.testing.assert_allclose(R.detrend_smoothness_priors(ramp, 100.0), 0.0, atol=1e-6)


def test_detrend_half_power_at_cutoff():
    assert R.detrend_lambda_for_cutoff(30 / math.pi * math.asin(0.05), 30.0) == pytest.approx(100.0)
    lam = R.detrend_lambda_for_cutoff(0.5, FS)
    x = _sine(0.5, 6000)
    out = R.detrend_smoothness_priors(x, lam)[1000:-1000]  # away from the edges
    gain = np.std(out) / np.std(x[1000:-1000])
    assert gain == pytest.approx(0.5, abs=0.01)  # amplitude response is 1/2 at the cutoff


# ------------------------------------------------------------------------------ sub-bin peak
@pytest.mark.parametrize("freq_hz", [1.2345, 0.9876, 2.0301])
def test_subbin_interpolation_beats_raw_bin(freq_hz):
    x = _sine(freq_hz, int(30 * FS))
    truth = 60 * freq_hz
    # rPPG-Toolbox grid (nfft = next power of two = 1024 here: 1.76 bpm bins), raw argmax bin
    toolbox = abs(R.rate_spectral(x, FS, freq_step_hz=None, interpolate=False) - truth)
    fine_raw = abs(R.rate_spectral(x, FS, interpolate=False) - truth)  # 0.005 Hz grid, raw bin
    fine = abs(R.rate_spectral(x, FS) - truth)  # default: fine grid + parabolic refinement
    assert fine < 0.1
    assert fine < fine_raw < toolbox
    assert abs(R.rate_spectral(x, FS, window="hann") - truth) < 0.01


def test_welch_spectrum():
    x = _sine(1.3, int(30 * FS)) + 0.3 * np.random.default_rng(1).normal(size=int(30 * FS))
    assert R.rate_spectral(x, FS, spectrum="welch") == pytest.approx(78.0, abs=0.5)


# ----------------------------------------------------------------------------- sliding window
def test_series_tracks_step_change():
    first = R.pulse_waveform(_ppg(60.0, 30, seed=1), FS, derivative=False)
    second = R.pulse_waveform(_ppg(90.0, 30, seed=2), FS, derivative=False)
    wave = np.concatenate([first, second])
    for method in ("spectral", "peaks"):
        series = R.rate_series(wave, FS, PULSE_BAND_HZ, window_s=10, hop_s=1, method=method)
        before = [v for t, v in series if t <= 24]
        after = [v for t, v in series if t >= 36]
        assert before and after
        assert np.allclose(before, 60.0, atol=1.5), before
        assert np.allclose(after, 90.0, atol=1.5), after
        hops = np.diff([t for t, _ in series])
        np.testing.assert_allclose(hops, 1.0)


def test_series_short_signal_shrinks_then_refuses():
    x = _sine(1.2, int(6 * FS))
    with pytest.warns(PhysioWarning, match="shorter than window_s"):
        series = R.rate_series(x, FS, PULSE_BAND_HZ, window_s=10)
    assert len(series) == 1 and series[0][0] == pytest.approx(3.0)
    assert series[0][1] == pytest.approx(72.0, abs=0.5)
    with pytest.raises(InputError, match="too short"):
        R.rate_series(x[:30], FS, PULSE_BAND_HZ, window_s=10)  # 1 s < 1/0.7 Hz
    with pytest.raises(InputError, match="shorter than one period"):
        R.rate_series(x, FS, RESP_BAND_HZ, window_s=5)  # 5 s < 1/0.16 Hz


# ---------------------------------------------------------------------------------------- SNR
def test_snr_hand_computation_on_bin_centred_sines():
    # n = 1024 = nfft: sines on bins 41 and 60 leak nothing into other bins (boxcar periodogram).
    n = 1024
    f1, f2 = 41 * FS / n, 60 * FS / n  # 72.07 bpm (signal) and 105.47 bpm (in-band noise)
    f3 = 137 * FS / n  # 4.01 Hz, out of band: not counted
    x = _sine(f1, n, amp=1.0) + _sine(f2, n, amp=0.5, phase=1.1) + _sine(f3, n, amp=3.0)
    expected = 10 * math.log10(1.0**2 / 0.5**2)  # 6.02 dB
    assert R.snr_db(x, FS, 60 * f1) == pytest.approx(expected, abs=1e-6)
    assert R.snr_db(x, FS, 60 * f1, convention="rppg-toolbox") == pytest.approx(2 * expected, abs=1e-6)


def test_snr_clean_beats_noisy():
    rng = np.random.default_rng(3)
    ppg = _ppg(72.0)
    clean = R.pulse_waveform(ppg, FS, derivative=False)
    noisy = R.pulse_waveform(ppg + 2.0 * ppg.std() * rng.normal(size=ppg.size), FS, derivative=False)
    s_clean, s_noisy = R.snr_db(clean, FS, 72.0), R.snr_db(noisy, FS, 72.0)
    assert s_clean > 10.0 and s_clean > s_noisy + 5.0


# ------------------------------------------------------------------------------------- errors
def test_errors():
    x = _sine(1.2, 300)
    with pytest.raises(InputError, match="too short"):
        R.rate_spectral(x[:20], FS)
    with pytest.raises(InputError, match="samples; need at least 9"):
        R.pulse_waveform(x[:5], FS)
    bad = x.copy()
    bad[17] = np.nan
    with pytest.raises(InputError, match="non-finite.*sample 17"):
        R.estimate_rate(bad, FS)
    for band in [(2.5, 0.7), (0.7, 15.0), (0.0, 2.0), (1.0,)]:
        with pytest.raises(InputError, match="band"):
            R.rate_spectral(x, FS, band)
    for fs in (0, -30, float("nan")):
        with pytest.raises(InputError, match="fs_hz"):
            R.rate_spectral(x, fs)
    with pytest.raises(InputError, match="valid: 'spectral', 'peaks'"):
        R.estimate_rate(x, FS, method="fft")
    with pytest.raises(InputError, match="valid: 'deepmag'"):
        R.estimate_rate(x, FS, bands="paper")
    with pytest.raises(InputError, match="valid: 'pulse', 'resp'"):
        R.estimate_rate(x, FS, source="ecg")
    with pytest.raises(InputError, match="valid: 'periodogram', 'welch'"):
        R.rate_spectral(x, FS, spectrum="music")
    with pytest.raises(InputError, match="need at least 2"):
        R.rate_peaks(np.zeros(300), FS)
    with pytest.raises(InputError, match="ref_rate_bpm"):
        R.snr_db(x, FS, 0.0)
    with pytest.raises(InputError, match=r"1-D"):
        R.rate_spectral(np.ones((300, 2)), FS)
    assert issubclass(InputError, ValueError)


def test_series_peaks_nan_window_warns():
    x = np.concatenate([_sine(1.2, int(20 * FS)), np.zeros(int(12 * FS))])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PhysioWarning)
        with pytest.raises(PhysioWarning, match="fewer than 2 peaks"):
            R.rate_series(x, FS, PULSE_BAND_HZ, method="peaks")
