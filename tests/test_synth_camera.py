"""The realistic camera of `physio synth --camera realistic`: drift, motion blur, noise like real clips."""

from __future__ import annotations

import numpy as np
import pytest

from physio.synth import participant_sample, synth_session
from physio.synth.render import Composite, motion_blur
from physio.synth.signals import CAMERA_DRIFT_BAND_HZ, camera_drift


def test_camera_drift_is_slow_and_of_the_asked_size():
    fs, n = 30.0, 3000
    g = camera_drift(n, fs, ae=0.02, wb=0.01, rng=3)
    assert g.shape == (n, 3) and g.dtype == np.float32
    ae = g[:, 1] - 1.0  # green: auto-exposure only (the white-balance reference)
    assert np.std(ae) == pytest.approx(0.02, rel=0.05)
    wb_r = g[:, 0] / g[:, 1] - 1.0
    assert np.std(wb_r) == pytest.approx(0.01, rel=0.05)
    f = np.fft.rfftfreq(n, 1 / fs)
    power = np.abs(np.fft.rfft(ae)) ** 2
    in_band = power[(f >= CAMERA_DRIFT_BAND_HZ[0] * 0.5) & (f <= CAMERA_DRIFT_BAND_HZ[1] * 1.5)].sum()
    assert in_band / power.sum() > 0.95
    assert power[f >= 0.7].sum() / power.sum() < 1e-3  # nothing in the pulse band


def test_motion_blur_smears_the_person_along_its_motion_only():
    h, w = 40, 60
    color = np.zeros((h, w, 3), np.float32)
    alpha = np.zeros((h, w), np.float32)
    color[10:30, 20:40] = 1.0  # the person: a bright square on a dark static background
    alpha[10:30, 20:40] = 1.0
    comp = Composite(color=color, pulse=color * 0.1, skin=alpha, alpha=alpha, head=alpha, face=alpha)
    still = motion_blur(comp, np.zeros(3, np.float32), head_px=100.0)
    assert still is comp
    moved = motion_blur(comp, np.array([0.06, 0.0, 0.0], np.float32), head_px=100.0)  # 6 px sideways
    row = moved.color[20, :, 0]
    ramp = np.flatnonzero((row > 0.05) & (row < 0.95))
    assert 4 <= len(ramp) <= 10  # each vertical edge spread over about the blur's length
    assert np.allclose(moved.color[:, :12], 0) and np.allclose(moved.color[:8], 0)  # background untouched
    col = moved.color[:, 30, 0]
    assert np.allclose(col[12:28], 1.0, atol=1e-5)  # no vertical smear
    assert np.array_equal(moved.skin, comp.skin)  # the ground-truth masks are not blurred


@pytest.mark.slow
def test_realistic_camera_noise_like_real_clips_and_the_pulse_still_measurable():
    """Task A at 320×240, same participant and seed: the basic camera's skin temporal noise (1.8 DN)
    against the realistic one's (real clips: 0.66–0.72 DN, docs/synthetic-data.md); the signals and the
    basic camera's frames do not change when the realistic camera is chosen elsewhere; the pulse is still
    read from the skin mean by POS."""
    from physio.rates.rppg import rppg_pulse
    from physio.rates.waveform import estimate_rate

    p = participant_sample(np.random.default_rng(21), name="p001")
    basic = synth_session(p, task="A", duration_s=10.0, size=(320, 240), seed=21)
    real = synth_session(p, task="A", duration_s=10.0, size=(320, 240), seed=21, camera="realistic")
    assert np.array_equal(basic.pulse, real.pulse) and np.array_equal(basic.beat_times, real.beat_times)
    again = synth_session(p, task="A", duration_s=10.0, size=(320, 240), seed=21)
    assert np.array_equal(basic.frames, again.frames)
    assert real.attrs["camera_model"] == "realistic" and 14 <= real.attrs["crf"] <= 23
    assert "camera_model" not in basic.attrs

    def noise(frames, skin):
        always = skin.all(axis=0)
        g = frames[..., 1].astype(np.float64)[:, always]
        return float(np.std(np.diff(g, axis=0)) / np.sqrt(2))

    n_basic, n_real = noise(basic.frames, basic.masks["skin"]), noise(real.frames, real.masks["skin"])
    print(f"skin temporal noise: basic {n_basic:.2f} DN, realistic {n_real:.2f} DN")
    assert n_basic > 1.5 and 0.4 < n_real < 1.0
    rgb = np.stack([f[m].mean(axis=0) for f, m in zip(real.frames, real.masks["skin"])])
    hr = estimate_rate(rppg_pulse(rgb, real.fps, "pos"), real.fps, "pulse", derivative=False).rate_per_min
    assert abs(hr - real.hr_bpm) < 3.0
