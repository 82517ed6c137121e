"""Tests for physio.rates.rppg: GREEN/CHROM/POS on synthetic skin-colour traces with known pulse rate."""

from __future__ import annotations

import numpy as np
import pytest

from physio.rates import waveform as R
from physio.rates import rppg
from physio.errors import InputError

nk = pytest.importorskip("neurokit2")

FS = 30  # Hz
DURATION_S = 30
HR_BPM = 72.0
SKIN_DC = np.array([180.0, 120.0, 95.0])  # mean skin colour, 0..255 scale
PULSE_STRENGTH = np.array([0.33, 0.77, 0.53])  # relative pulsatility per channel (de Haan & van Leest 2014)


def _rgb_trace(illum_amp: float, seed: int = 0, pulse_amp: float = 0.003) -> np.ndarray:
    """Skin trace (T, 3): DC · (1 + a·p(t)·strengths) · (1 + i(t)) + sensor noise.

    p(t) is a unit-variance PPG at 72 bpm; i(t) is an illumination change common to all channels
    (light intensity scales every reflected channel alike): a 1.6 Hz (96 bpm) flicker of relative
    amplitude ``illum_amp`` plus a slow 0.07 Hz drift of 3 %.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(DURATION_S * FS) / FS
    ppg = nk.ppg_simulate(duration=DURATION_S, sampling_rate=FS, heart_rate=HR_BPM,
                          frequency_modulation=0.0, ibi_randomness=0.0, random_state=seed)
    p = (ppg - ppg.mean()) / ppg.std()
    illum = illum_amp * np.sin(2 * np.pi * 1.6 * t) + 0.03 * np.sin(2 * np.pi * 0.07 * t)
    clean = SKIN_DC * (1.0 + pulse_amp * p[:, None] * PULSE_STRENGTH) * (1.0 + illum[:, None])
    return clean + rng.normal(0.0, 0.05, clean.shape)


def _rate(rgb: np.ndarray, method: str) -> float:
    wave = R.pulse_waveform(rppg.rppg_pulse(rgb, FS, method), FS, derivative=False)
    return R.rate_spectral(wave, FS)


@pytest.mark.parametrize("method", ["green", "chrom", "pos"])
def test_recovers_hr_without_illumination_change(method):
    assert _rate(_rgb_trace(illum_amp=0.0), method) == pytest.approx(HR_BPM, abs=1.0)


def test_chrom_pos_reject_common_illumination_that_fools_green():
    # The 96 bpm flicker (1 %) is ~4x the green pulse (0.77 x 0.3 %): GREEN locks on to it.
    rgb = _rgb_trace(illum_amp=0.01)
    assert _rate(rgb, "green") == pytest.approx(96.0, abs=1.0)
    assert _rate(rgb, "chrom") == pytest.approx(HR_BPM, abs=1.0)
    assert _rate(rgb, "pos") == pytest.approx(HR_BPM, abs=1.0)
    for method in ("chrom", "pos"):
        wave = R.pulse_waveform(rppg.rppg_pulse(rgb, FS, method), FS, derivative=False)
        assert R.snr_db(wave, FS, HR_BPM) > 3.0


def test_pos_annihilates_pure_intensity_change():
    t = np.arange(300) / FS
    illum = 0.2 * np.sin(2 * np.pi * 1.2 * t) + 0.1 * t / t[-1]
    rgb = SKIN_DC * (1.0 + illum[:, None])  # no pulse: colour direction constant
    np.testing.assert_allclose(rppg.rppg_pos(rgb, FS), 0.0, atol=1e-12)


@pytest.mark.parametrize("method", ["green", "chrom", "pos"])
def test_scale_invariance(method):
    rgb = _rgb_trace(illum_amp=0.005, seed=3)
    np.testing.assert_allclose(rppg.rppg_pulse(rgb / 255.0, FS, method), rppg.rppg_pulse(rgb, FS, method),
                               rtol=1e-9, atol=1e-12)


def test_dispatch_and_output_shape():
    rgb = _rgb_trace(illum_amp=0.0)
    assert rppg.rppg_pulse(rgb, FS, "POS").shape == (rgb.shape[0],)
    np.testing.assert_array_equal(rppg.rppg_pulse(rgb, FS), rppg.rppg_pos(rgb, FS))
    with pytest.raises(InputError, match="unknown rPPG method 'ica'; valid: 'pos', 'chrom', 'green'"):
        rppg.rppg_pulse(rgb, FS, "ica")


def test_input_errors():
    rgb = _rgb_trace(illum_amp=0.0)
    with pytest.raises(InputError, match=r"shape \(T, 3\)"):
        rppg.rppg_pos(rgb[:, :2], FS)
    bad = rgb.copy()
    bad[40, 1] = np.nan
    with pytest.raises(InputError, match="non-finite.*frame 40"):
        rppg.rppg_chrom(bad, FS)
    with pytest.raises(InputError, match="> 0"):
        rppg.rppg_pos(rgb - 200.0, FS)
    with pytest.raises(InputError, match="need at least 96"):
        rppg.rppg_pos(rgb[:50], FS)
    with pytest.raises(InputError, match="fs_hz"):
        rppg.rppg_pos(rgb, 0)


# ------------------------------------------------------------------------------ skin means
def test_skin_rgb_means_hand_values():
    frames = np.zeros((2, 2, 2, 3), dtype=np.uint8)
    frames[0] = [[[255, 255, 255], [10, 20, 30]], [[0, 0, 0], [7, 7, 7]]]
    frames[1] = 100
    mask = np.array([[True, True], [False, False]])
    expected = np.array([[(255 + 10) / 2, (255 + 20) / 2, (255 + 30) / 2], [100.0, 100.0, 100.0]])
    np.testing.assert_allclose(rppg.skin_rgb_means(frames, mask), expected)  # no uint8 overflow
    per_frame = np.array([mask, [[False, False], [False, True]]])
    np.testing.assert_allclose(rppg.skin_rgb_means(frames, per_frame), [expected[0], [100.0] * 3])


def test_skin_rgb_means_matches_loop():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(5, 8, 9, 3), dtype=np.uint8)
    masks = rng.random((5, 8, 9)) > 0.5
    loop = np.array([frames[t][masks[t]].mean(axis=0) for t in range(5)])
    np.testing.assert_allclose(rppg.skin_rgb_means(frames, masks), loop)
    np.testing.assert_allclose(rppg.skin_rgb_means(frames, masks[0]), frames[:, masks[0]].mean(axis=1))


def test_skin_rgb_means_errors():
    frames = np.zeros((3, 4, 4, 3), dtype=np.uint8)
    masks = np.ones((3, 4, 4), dtype=bool)
    masks[2] = False
    with pytest.raises(InputError, match="empty in 1 frame.*frame 2"):
        rppg.skin_rgb_means(frames, masks)
    with pytest.raises(InputError, match="boolean"):
        rppg.skin_rgb_means(frames, masks.astype(np.uint8))
    with pytest.raises(InputError, match="mask must have shape"):
        rppg.skin_rgb_means(frames, np.ones((5, 5), dtype=bool))
    with pytest.raises(InputError, match=r"\(T, H, W, 3\)"):
        rppg.skin_rgb_means(frames[..., 0], masks[0])
