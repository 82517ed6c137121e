"""Magnification measurements on constructed videos with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from physio.metrics.magnification import (
    band_power_at,
    band_rms,
    change_correlation,
    projected_gain,
    leakage,
    psnr_ssim,
    region_trace,
)
from physio.errors import InputError
from physio.rates.motion import vertical_position


def test_region_trace_and_band_rms():
    t = np.arange(300) / 30.0
    frames = np.full((300, 8, 8, 3), 100, np.uint8)
    frames[:, 2:6, 2:6, 1] = (100 + 10 * np.sin(2 * np.pi * 1.2 * t))[:, None, None].round()
    m = np.zeros((8, 8), bool)
    m[2:6, 2:6] = True
    tr = region_trace(frames, m)
    assert band_rms(tr, 30.0, (0.7, 2.5)) == pytest.approx(10 / np.sqrt(2), rel=0.05)
    assert band_power_at(tr, 30.0, 72.0) > 100 * band_power_at(tr, 30.0, 120.0)


def test_change_correlation_and_leakage(rng):
    orig = rng.integers(50, 200, (20, 10, 10, 3)).astype(np.float32)
    delta = rng.normal(size=orig.shape).astype(np.float32)
    m = np.zeros((10, 10), bool)
    m[:5] = True
    truth = orig + 3 * delta * m[None, :, :, None]
    assert change_correlation(orig + delta * m[None, :, :, None], orig, truth, m) == pytest.approx(1.0)
    assert change_correlation(orig - delta, orig, truth, m) == pytest.approx(-1.0)
    assert leakage(truth, orig, m) == 0.0
    out = orig + delta  # same change everywhere
    assert leakage(out, orig, m) == pytest.approx(1.0, rel=0.2)


def test_projected_gain_counts_only_the_true_change(rng):
    """truth = the source ×10; an output carrying half of the true extra change plus unrelated noise of
    the same size reads 1 + 0.5·9; the original reads 1, the truth 10, noise alone ≈ 1."""
    orig = rng.integers(50, 200, (40, 12, 12, 3)).astype(np.float32)
    delta = rng.normal(size=orig.shape).astype(np.float32)
    m = np.zeros((12, 12), bool)
    m[3:9, 3:9] = True
    truth = orig + 9 * delta
    noise = 4.5 * rng.normal(size=orig.shape).astype(np.float32)
    assert projected_gain(orig + 4.5 * delta + noise, orig, truth, 10, m) == pytest.approx(5.5, abs=0.3)
    assert projected_gain(orig, orig, truth, 10, m) == 1.0
    assert projected_gain(truth, orig, truth, 10, m) == pytest.approx(10.0)
    assert projected_gain(orig + noise, orig, truth, 10, m) == pytest.approx(1.0, abs=0.3)
    with pytest.raises(ValueError):
        projected_gain(truth, orig, orig, 10, m)


def test_psnr_ssim():
    a = np.full((2, 16, 16, 3), 100, np.uint8)
    b = a.copy()
    b[:, 0, 0, 0] = 110
    p, s = psnr_ssim(b, a)
    assert p == pytest.approx(10 * np.log10(255**2 / (100 / (16 * 16 * 3))), rel=1e-6)
    assert 0.9 < s < 1.0
    assert psnr_ssim(a, a) == (float("inf"), 1.0)  # identical frames are left out of the mean: none left


def test_vertical_position_subpixel():
    """The one torso-motion estimator (OpenCV phase correlation, chained) recovers sub-pixel shifts."""
    import cv2

    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.uniform(0, 255, (400, 400)).astype(np.float32), (0, 0), 6)
    frames = []
    for d in (0.0, 0.5, 1.0, 1.5):  # move up by d pixels (at output scale), rendered 4x then averaged
        m = np.float32([[1, 0, 0], [0, 1, -4 * d]])
        shifted = cv2.warpAffine(big, m, (400, 400), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        small = cv2.resize(shifted, (100, 100), interpolation=cv2.INTER_AREA)
        frames.append(np.repeat(small[..., None], 3, -1).clip(0, 255).astype(np.uint8))
    y = vertical_position(np.stack(frames), box=(10, 10, 90, 90))
    np.testing.assert_allclose(y, [0, 0.5, 1.0, 1.5], atol=0.1)


def test_frame_ssim_equals_scikit_image():
    """physio's SSIM (OpenCV box filter, in-place float64 arithmetic) is scikit-image's
    ``structural_similarity`` with its defaults, to rounding: uint8 frames, float frames on another
    data range, odd and minimal sizes."""
    from skimage.metrics import structural_similarity

    from physio.metrics.magnification import frame_ssim

    rng = np.random.default_rng(11)
    ref = rng.integers(0, 256, (4, 37, 50, 3)).astype(np.uint8)
    out = np.clip(ref.astype(int) + rng.integers(-30, 31, ref.shape), 0, 255).astype(np.uint8)
    want = [structural_similarity(r, o, channel_axis=-1, data_range=255) for o, r in zip(out, ref)]
    np.testing.assert_allclose(frame_ssim(out, ref), want, rtol=0, atol=1e-12)
    a = rng.uniform(0, 1, (2, 7, 9, 3))
    b = a + rng.normal(0, 0.2, a.shape)
    want = [structural_similarity(y, x, channel_axis=-1, data_range=1.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(frame_ssim(a, b, data_range=1.0), want, rtol=0, atol=1e-12)
    with pytest.raises(InputError):
        frame_ssim(a[:, :6], b[:, :6], data_range=1.0)  # smaller than the 7 × 7 window


def test_frame_ssim_is_the_one_ssim_of_comparisons_and_the_circle_benchmark():
    from physio.evaluation.circles import score_video
    from physio.metrics.magnification import frame_psnr_ssim, frame_ssim

    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, (3, 24, 32, 3)).astype(np.uint8)
    out = ref.copy()
    out[1] = np.clip(out[1].astype(int) + rng.integers(-20, 21, out[1].shape), 0, 255).astype(np.uint8)
    out[2] = 255 - out[2]
    ss = frame_ssim(out, ref)
    assert ss[0] == pytest.approx(1.0) and 0.5 < ss[1] < 1.0 and ss[2] < 0.0  # an inverted frame anti-correlates
    ps, ss2 = frame_psnr_ssim(out, ref)
    assert np.isinf(ps[0]) and ss2[0] == 1.0 and np.allclose(ss2, ss)
    assert score_video(out, ref)["ssim"] == pytest.approx(ss.mean())
    with pytest.raises(InputError):
        frame_ssim(out[:2], ref)
