"""`physio rates` on clips that are hard in the ways real ones are: dark frames, no torso, an infant's
rates, estimators that disagree — and the confidence and validity it reports (issue #19, items 5-6)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import pulsing_frames

from physio.cli import main
from physio.errors import InputError
from physio.io import video_write
from physio.rates.confidence import bridge, confidence, spread, torso_problem, usable_means
from physio.rates.waveform import estimate_rate, peak_snr_db, series_quality
from physio.roi.detectors import native_logs_quiet


def _rates(capsys, *argv):
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


# -- validity and bridging ---------------------------------------------------------------------------
def test_dark_and_missing_frames_are_bridged_not_refused():
    rgb = np.tile([120.0, 90.0, 80.0], (10, 1))
    rgb[3] = [0.0, 50.0, 40.0]  # a channel at 0: POS would refuse the whole trace
    rgb[4] = np.nan  # no skin pixels
    rgb[5] = [0.4, 0.2, 0.3]  # dark
    ok = usable_means(rgb)
    assert ok.tolist() == [True] * 3 + [False] * 3 + [True] * 4
    rgb[6] = [140.0, 110.0, 100.0]
    out = bridge(rgb, ok, "clip")
    np.testing.assert_allclose(out[4], rgb[2] + (rgb[6] - rgb[2]) * 2 / 4)  # linear between frames 2 and 6
    with pytest.raises(InputError, match="no usable skin in any frame"):
        bridge(rgb, np.zeros(10, bool), "clip")


def test_rates_survive_black_frames(tmp_path, capsys):
    """POS on a clip with 1.5 s of black frames (a channel <= 0 in 45 frames): the whole video used to be
    refused; now those frames are bridged, the HR is right and valid_fraction says what was usable."""
    frames, _ = pulsing_frames(78, 20.0, 30.0, h=48, w=64, amp=4.0)
    frames[200:245] = 0
    video = video_write(tmp_path / "dark.mp4", frames, fps=30.0, crf=10)
    rc, out, err = _rates(capsys, "rates", video, "--method", "pos", "--resp-method", "motion", "--roi", "full",
                          "--json", "-q")
    assert rc == 0, err
    res = json.loads(out)
    assert abs(res["hr_bpm"] - 78) < 2
    assert res["valid_fraction"] == pytest.approx(1 - 45 / 600, abs=0.01)


# -- torso plausibility -------------------------------------------------------------------------------
def test_torso_must_be_a_chest_under_the_face():
    face = (100, 50, 200, 170)  # 100 x 120 px
    assert torso_problem((60, 190, 240, 330), face) is None
    assert torso_problem(None, face) == "no torso region found"
    assert "too small" in torso_problem((100, 190, 110, 330), face)
    assert "cut off by the frame" in torso_problem((60, 300, 240, 340), face)  # a 40-px strip: < 0.4 x 120
    assert "not below the face" in torso_problem((60, 60, 240, 200), face)


# -- confidence ---------------------------------------------------------------------------------------
def test_confidence_is_the_weakest_component():
    good = confidence(snr=8.0, agreement=0.5, detector=0.98, region=200, valid=1.0)
    assert good["level"] == "high" and good["score"] == 1.0 and good["reasons"] == []
    split = confidence(snr=8.0, agreement=25.0, detector=0.98, region=200, valid=1.0)
    assert split["level"] == "low" and split["reasons"] == ["estimators disagree by up to 25.0 bpm"]
    mid = confidence(snr=0.6, detector=0.98)  # (0.6 + 3) / 6 = 0.6
    assert mid["level"] == "medium" and mid["score"] == pytest.approx(0.6)
    assert confidence(snr=float("nan"))["measures"] == {}  # not measured: left out
    assert spread({"cnn": 87.2, "pos": 62.0, "chrom": 62.3, "green": 55.2}) == pytest.approx(25.05)


def test_window_quality_separates_a_clean_pulse_from_noise():
    fs = 30.0
    t = np.arange(600) / fs
    clean = estimate_rate(np.sin(2 * np.pi * 1.2 * t) + 0.1 * np.random.default_rng(0).normal(size=t.size), fs,
                          "pulse", derivative=False)
    noise = estimate_rate(np.random.default_rng(1).normal(size=t.size), fs, "pulse", derivative=False)
    q_clean, q_noise = series_quality(clean), series_quality(noise)
    assert len(q_clean) == len(clean.series) == 11
    assert min(q_clean) > 5 and max(q_noise) < 2, (min(q_clean), max(q_noise))
    assert peak_snr_db(clean.waveform, fs, clean.rate_per_min, clean.band_hz) > 5


# -- subject bands ------------------------------------------------------------------------------------
def test_infant_bands_measure_a_fast_pulse(tmp_path, capsys):
    """A 160 bpm pulse is outside the adult band (42-150 bpm); --subject infant (100-180) measures it."""
    frames, _ = pulsing_frames(160, 16.0, 30.0, h=48, w=64, amp=4.0)
    video = video_write(tmp_path / "infant.mp4", frames, fps=30.0, crf=10)
    argv = ["rates", video, "--method", "pos", "--resp-method", "motion", "--roi", "full", "--json", "-q"]
    rc, out, err = _rates(capsys, *argv)
    assert rc == 0, err
    assert json.loads(out)["hr_bpm"] <= 150.01  # the adult band cannot hold it
    rc, out, err = _rates(capsys, *argv, "--subject", "infant")
    assert rc == 0, err
    res = json.loads(out)
    assert abs(res["hr_bpm"] - 160) < 2 and res["bands"] == "infant" and res["subject"] == "infant"
    rc, _, err = _rates(capsys, *argv, "--subject", "infant", "--bands", "deepmag")
    assert rc == 2 and "leave out --bands" in err and len(err.strip().splitlines()) == 1


# -- native log lines ---------------------------------------------------------------------------------
def test_native_log_lines_stay_off_the_terminal(capfd):
    with native_logs_quiet():
        os.write(2, b"W0000 inference_feedback_manager.cc:114] Feedback manager requires ...\n")
    os.write(2, b"physio: visible\n")
    err = capfd.readouterr().err
    assert "Feedback manager" not in err and "physio: visible" in err


def test_masked_mean_equals_the_gathered_pixels():
    from physio.rates.rppg import masked_mean

    r = np.random.default_rng(3)
    frame = r.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    mask = r.random((37, 53)) < 0.3
    np.testing.assert_allclose(masked_mean(frame, mask), frame[mask].reshape(-1, 3).mean(0), rtol=0, atol=1e-9)
    assert np.isnan(masked_mean(frame, np.zeros((37, 53), bool))).all()
