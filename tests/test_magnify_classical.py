"""Classical magnifiers (Eulerian, phase-based, acceleration) and their temporal filters.

Expected numbers come from the maths: a motion ``d`` inside the pass band becomes ``(1 + alpha g) d``
for a filter of gain ``g`` at its frequency, in the part of the image the method magnifies (EVM
motion: the amplified Laplacian levels; phase: the pyramid bands, not the residuals).  Tolerances are
stated per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import signal

from physio.cli import main as cli_main
from physio.errors import InputError
from physio.io import video_info, video_read, video_write
from physio.magnify.base import Magnifier, blocked_stream, magnify_stream, to_tensor
from physio.magnify.eulerian import EulerianMagnifier, laplacian_collapse, laplacian_pyramid, level_alphas, pyr_down, pyr_up
from physio.magnify.registry import MAGNIFIERS, available, get_magnifier, register, unregister
from physio.magnify.temporal import (
    FILTER_KINDS,
    TemporalFilter,
    butter_bandpass,
    butter_sos,
    dog_kernel,
    fir_filter,
    fir_taps,
    ideal_bandpass,
    int_kernel,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one intra-op thread is faster and steadier on shared CPUs."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --------------------------------------------------------------------------------------------------
# temporal filters


@pytest.mark.parametrize("order", [1, 2])
def test_butter_matches_scipy(rng, order):
    x = rng.standard_normal((200, 3, 4))
    sos = butter_sos((0.7, 2.5), 30.0, order)
    pad = max(3 * (2 * len(sos) + 1), round(30.0 / 0.7))
    ref = signal.sosfiltfilt(sos, x, axis=0, padlen=pad)
    np.testing.assert_allclose(butter_bandpass(torch.tensor(x), 30.0, (0.7, 2.5), order).numpy(), ref, atol=1e-12)
    zi = signal.sosfilt_zi(sos)[:, :, None, None] * x[0]
    ref_causal = signal.sosfilt(sos, x, axis=0, zi=zi)[0]
    out = butter_bandpass(torch.tensor(x), 30.0, (0.7, 2.5), order, zero_phase=False).numpy()
    np.testing.assert_allclose(out, ref_causal, atol=1e-12)


def test_ideal_keeps_band_and_removes_the_rest():
    """Whole cycles in the block: exact; otherwise close away from the ends (leakage at the edges)."""
    fps, t = 30.0, np.arange(300) / 30.0
    inside, outside = np.sin(2 * np.pi * 1.0 * t), np.sin(2 * np.pi * 4.0 * t)
    y = ideal_bandpass(torch.tensor(inside + outside + 3.0), fps, (0.7, 2.5)).numpy()
    np.testing.assert_allclose(y, inside, atol=1e-12)
    inside = np.sin(2 * np.pi * 1.03 * t + 0.5)
    y = ideal_bandpass(torch.tensor(inside + outside + 3.0), fps, (0.7, 2.5)).numpy()
    assert np.abs(y - inside)[60:-60].max() < 0.1


def test_fir_filter_matches_direct_convolution(rng):
    """FFT path (long kernels) and the tap loop agree with numpy's convolution of the mirrored signal."""
    x = rng.standard_normal((120, 3))
    for k in (fir_taps(30.0, (0.7, 2.5)), int_kernel(30.0, 1.32)):
        half = len(k) // 2
        idx = np.abs(np.arange(-half, 120 + half))
        idx = np.where(idx > 119, 2 * 119 - idx, idx)
        idx = np.abs(np.where(idx < 0, -idx, idx) % (2 * 119))
        idx = np.where(idx > 119, 2 * 119 - idx, idx)
        ref = np.stack([np.convolve(x[idx, c], k, mode="valid") for c in range(3)], axis=1)
        np.testing.assert_allclose(fir_filter(torch.tensor(x), k).numpy(), ref, atol=1e-10)


def test_second_order_kernels():
    fps = 30.0
    for f in (0.28, 1.32, 4.0):
        for kind, k in (("int", int_kernel(fps, f)), ("dog", dog_kernel(fps, f))):
            assert abs(k.sum()) < 1e-12 and np.allclose(k, k[::-1])  # constants and linear trends give 0
            assert TemporalFilter(kind, (0.1, 0.2), freq_hz=f).response([f], fps)[0] == pytest.approx(1.0, abs=1e-9)
    k = int_kernel(fps, 1.32)  # taps a quarter period apart: ceil(30 / 5.28) = 6 frames
    assert len(k) == 13 and np.count_nonzero(k) == 3 and k[6] > 0 > k[0]
    # the DoG response peaks at the centre frequency
    f = np.linspace(0.2, 5.0, 2000)
    resp = TemporalFilter("dog", (1.0, 1.69)).response(f, fps)
    assert f[resp.argmax()] == pytest.approx(1.3, rel=0.03)


@pytest.mark.parametrize("kind", FILTER_KINDS)
def test_blockwise_filtering_is_seamless(rng, kind):
    """Filtering a block with margin_frames of context equals filtering the whole signal."""
    fps, n = 30.0, 900
    x = torch.tensor(rng.standard_normal((n, 2)).cumsum(0) * 0.1 + rng.standard_normal((n, 2)))
    filt = TemporalFilter(kind, (0.7, 2.5))
    whole = filt(x, fps)
    m = filt.margin_frames(fps)
    lo, hi = 400, 450
    part = filt(x[lo - m : hi + m], fps)[m : m + hi - lo]
    if kind == "ideal":  # only approximately seamless: relative RMS difference (measured 0.15-0.25)
        err = ((part - whole[lo:hi]).pow(2).mean() / whole[lo:hi].pow(2).mean()).sqrt().item()
        assert err < 0.4, (kind, m, err)
    else:
        err = (part - whole[lo:hi]).abs().max().item() / whole.abs().max().item()
        assert err < 1e-3, (kind, m, err)


def test_filter_errors():
    with pytest.raises(InputError, match="unknown temporal filter 'fft'; valid: ideal, fir, butter"):
        TemporalFilter("fft")
    with pytest.raises(InputError, match="below the Nyquist frequency 5 Hz"):
        ideal_bandpass(torch.zeros(10, 2), 10.0, (1.0, 6.0))
    with pytest.raises(InputError, match="0 < lo < hi"):
        TemporalFilter("butter", (2.0, 1.0))
    with pytest.raises(InputError, match="odd"):
        fir_filter(torch.zeros(5), [1.0, -1.0])


# --------------------------------------------------------------------------------------------------
# Eulerian building blocks


def test_laplacian_pyramid_reconstructs(rng):
    x = torch.tensor(rng.random((2, 3, 37, 50)))
    bands, res = laplacian_pyramid(x, 4)
    assert [tuple(b.shape[-2:]) for b in bands] == [(37, 50), (19, 25), (10, 13), (5, 7)]
    assert (laplacian_collapse(bands, res) - x).abs().max() < 1e-12
    assert (pyr_down(torch.ones(1, 1, 9, 8)) - 1).abs().max() < 1e-12


def test_pyr_down_opencv_path_equals_the_convolution(rng):
    """On the CPU pyr_down runs OpenCV's pyrDown; with autograd on it runs the 5x5 binomial conv2d."""
    for shape in [(2, 3, 37, 50), (1, 1, 480, 640), (3, 5, 6), (1, 1, 3, 4)]:
        x = torch.tensor(rng.random(shape), dtype=torch.float32)
        fast = pyr_down(x)
        slow = pyr_down(x.clone().requires_grad_(True)).detach()
        assert fast.shape == slow.shape == (*shape[:-2], (shape[-2] + 1) // 2, (shape[-1] + 1) // 2)
        assert (fast - slow).abs().max() < 1e-6


def test_pyr_up_opencv_path_equals_the_convolution(rng):
    """On the CPU pyr_up runs OpenCV's pyrUp and mends its last two rows/columns (OpenCV ends an
    output differently from the mirror); with autograd on it runs the transposed convolution."""
    for (h, w) in [(3, 3), (3, 4), (5, 7), (31, 41), (240, 320)]:
        for hh, ww in [(2 * h - 1, 2 * w - 1), (2 * h - 1, 2 * w), (2 * h, 2 * w - 1), (2 * h, 2 * w)]:
            for dtype in (torch.float32, torch.float64):
                x = torch.tensor(rng.random((2, 3, h, w)), dtype=dtype)
                fast = pyr_up(x, (hh, ww))
                slow = pyr_up(x.clone().requires_grad_(True), (hh, ww)).detach()
                assert fast.shape == slow.shape == (2, 3, hh, ww) and fast.dtype == dtype
                assert (fast - slow).abs().max() < 1e-5
                assert (pyr_up(torch.ones(1, 1, h, w, dtype=dtype), (hh, ww)) - 1).abs().max() < 1e-6


def test_lambda_c_rule():
    # (1 + alpha) delta < lambda / 8 with delta = lambda_c / (8 (1 + alpha)); lambda_l = 4 * 2**l
    assert level_alphas(10.0, 4, 16.0) == [0.0, 4.5, 10.0, 10.0]
    assert level_alphas(10.0, 4, 16.0, amplify_finest=True)[0] == pytest.approx(1.75)


# --------------------------------------------------------------------------------------------------
# known-frequency square: motion grows by ~alpha in band, not outside


def _displacement(frames: torch.Tensor) -> np.ndarray:
    """Per-frame horizontal shift (px): projection of the change on the mean frame's x-gradient."""
    g = frames.mean(1).double()
    m = g.mean(0)
    gx = torch.zeros_like(m)
    gx[:, 1:-1] = (m[:, 2:] - m[:, :-2]) / 2
    return (-(g - m) * gx).sum((1, 2)).numpy() / (gx * gx).sum().item()


def _amplitude(d: np.ndarray, f0: float, fps: float) -> float:
    t = np.arange(len(d)) / fps
    return float(2 * abs(np.mean(d * np.exp(-2j * np.pi * f0 * t))))


@pytest.fixture(scope="module")
def square(shared_data):
    frames, fps = video_read(shared_data / "synthetic_known_freq" / "square_4Hz_2000px.avi")
    x = to_tensor(frames[:, 60:140, 60:140])  # the 50 px square and its surroundings
    return x, fps, _amplitude(_displacement(x), 4.0, fps)


# (method, kwargs in band, kwargs out of band); all gains at 4 Hz known from the filter response
SQUARE_CASES = {
    "evm-motion": ("evm", dict(mode="motion", alpha=10, lambda_c=4, amplify_finest=True, band_hz=(3.5, 4.5)),
                   dict(band_hz=(1.0, 1.6))),
    "phase": ("phase", dict(alpha=5, band_hz=(3.5, 4.5)), dict(band_hz=(1.0, 1.6))),
    "vam-dog": ("vam", dict(alpha=5, band_hz=(3.5, 4.5)), dict(freq_hz=0.5)),
    "vam-int": ("vam", dict(alpha=5, band_hz=(3.5, 4.5), temporal_filter="int"), dict(freq_hz=1.0)),
}


@pytest.mark.parametrize("case", sorted(SQUARE_CASES))
def test_square_motion_grows_by_alpha_in_band_only(square, case):
    """In band: (ratio - 1) / alpha in [0.7, 1.1] (the unmagnified pyramid residuals hold ~10-20 % of
    the sharp edge); out of band: ratio - 1 <= alpha * gain(4 Hz) + 0.1."""
    x, fps, a0 = square
    name, kw, kw_out = SQUARE_CASES[case]
    alpha = kw["alpha"]
    ratio = _amplitude(_displacement(get_magnifier(name, **kw).process(x, fps)), 4.0, fps) / a0
    assert 0.7 <= (ratio - 1) / alpha <= 1.1, (case, ratio)
    mag_out = get_magnifier(name, **{**kw, **kw_out})
    gain = float(mag_out._filter.response([4.0], fps)[0])
    ratio_out = _amplitude(_displacement(mag_out.process(x, fps)), 4.0, fps) / a0
    assert ratio_out - 1 <= alpha * gain + 0.1, (case, ratio_out, gain)


def test_evm_motion_defaults_amplify_less_on_a_sharp_edge(square):
    """Wu et al.'s defaults (finest level off, lambda_c 16) leave most of a 1-px edge unmagnified."""
    x, fps, a0 = square
    ratio = _amplitude(_displacement(EulerianMagnifier(10, (3.5, 4.5), mode="motion").process(x, fps)), 4.0, fps) / a0
    assert 1.5 < ratio < 8.0


def test_vam_ignores_constant_velocity():
    """A grating drifting at constant speed plus a small 1.5 Hz wobble: VAM multiplies the wobble by
    (1 + alpha) (within 10 %) and leaves the drift's speed unchanged (within 3 %)."""
    fps, n, lam, size = 30.0, 150, 8.0, 64
    t = np.arange(n) / fps
    d = 0.02 * np.arange(n) + 0.05 * np.sin(2 * np.pi * 1.5 * t)
    xx = np.arange(size)
    rows = 0.5 + 0.3 * np.sin(2 * np.pi * (xx[None] - d[:, None]) / lam)
    frames = torch.tensor(np.broadcast_to(rows[:, None, None, :], (n, 3, size, size)).copy(), dtype=torch.float32)
    mag = get_magnifier("vam", alpha=5, band_hz=(1.2, 1.875), sigma=0)
    out = mag.process(frames, fps)

    def shift(v):
        prof = v.mean((1, 2)).double().numpy()
        c = prof @ np.exp(-2j * np.pi * xx / lam)
        return -np.unwrap(np.angle(c)) * lam / (2 * np.pi)

    m = mag.margin_frames(fps)
    s_in, s_out = shift(frames)[m:-m], shift(out)[m:-m]
    tt = np.arange(m, n - m)
    slope_out = np.polyfit(tt, s_out, 1)[0]
    assert slope_out == pytest.approx(0.02, rel=0.03)
    wobble = lambda s: _amplitude(s - np.polyval(np.polyfit(tt, s, 1), tt), 1.5, fps)  # noqa: E731
    assert wobble(s_out) / wobble(s_in) == pytest.approx(6.0, rel=0.1)


# --------------------------------------------------------------------------------------------------
# MIT's face with MIT's parameters


def test_mit_face_colour_evm(shared_data):
    """face.mp4, colour EVM, alpha 50, level 4, ideal 50-60 bpm: the forehead's green spectrum peaks in
    50-60 bpm and its in-band power grows by > 1000 (measured ~2.4e3; (1 + alpha)^2 = 2601)."""
    frames, fps = video_read(shared_data / "evm_mit" / "face.mp4")
    box = (slice(None), slice(90, 150), slice(170, 360), 1)  # forehead, above the glasses (528x592 frame)
    before = frames[box].mean((1, 2)).astype(np.float64)
    mag = EulerianMagnifier(alpha=50, band_hz=(50 / 60, 60 / 60), mode="color", level=4, temporal_filter="ideal")
    x = to_tensor(frames)
    del frames
    y = mag.process(x, fps)
    del x
    after = (y[:, 1, 90:150, 170:360].clamp(0, 1).mean((1, 2)) * 255).double().numpy()
    del y

    def spectrum(s):
        f = np.fft.rfftfreq(4096, 1 / fps) * 60
        return f, np.abs(np.fft.rfft((s - s.mean()) * np.hanning(len(s)), 4096)) ** 2

    f, p_in = spectrum(before)
    _, p_out = spectrum(after)
    sel = (f >= 40) & (f <= 150)
    peak = f[sel][p_out[sel].argmax()]
    assert 50 <= peak <= 60, peak
    band = (f >= 50) & (f <= 60)
    assert p_out[band].sum() / p_in[band].sum() > 1000


# --------------------------------------------------------------------------------------------------
# chunked == whole away from the chunk edges


def _wobbly_clip(n=300, h=40, w=48, fps=30.0, seed=0):
    r = np.random.default_rng(seed)
    t = np.arange(n) / fps
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        d = 0.3 * np.sin(2 * np.pi * 1.2 * t[i]) + 0.2 * np.sin(2 * np.pi * 0.3 * t[i])
        v = 128 + 60 * np.sin(2 * np.pi * (xx - d) / 16.0) * np.cos(2 * np.pi * yy / 24.0)
        v = v[..., None] + np.array([10, 0, -10]) + 2 * np.sin(2 * np.pi * 1.2 * t[i]) + r.normal(0, 2, (h, w, 3))
        out[i] = np.clip(v, 0, 255)
    return out


SEAM_CASES = {
    "evm-color-ideal": ("evm", dict(mode="color", alpha=20)),
    "evm-color-butter": ("evm", dict(mode="color", alpha=20, temporal_filter="butter")),
    "evm-motion-butter": ("evm", dict(mode="motion", alpha=10)),
    "evm-motion-iir": ("evm", dict(mode="motion", alpha=10, temporal_filter="iir")),
    "phase-fir": ("phase", dict(alpha=10)),
    "phase-ideal": ("phase", dict(alpha=10, temporal_filter="ideal")),
    "phase-butter": ("phase", dict(alpha=10, temporal_filter="butter")),
    "vam-dog": ("vam", dict(alpha=8)),
    "vam-int": ("vam", dict(alpha=8, temporal_filter="int")),
}


@pytest.mark.parametrize("case", sorted(SEAM_CASES))
def test_chunked_equals_whole(case):
    """Blocks of 50 frames (chunks of 17) vs one block, uint8, frames >= margin from the video's ends:
    finite and recursive filters differ by at most 1 level in < 0.1 % of values (rounding); the ideal
    filter is approximately seamless (mean difference < 1 level, max <= 8)."""
    name, kw = SEAM_CASES[case]
    video, fps = _wobbly_clip(), 30.0
    mag = get_magnifier(name, band_hz=(0.7, 2.5), **kw)
    whole = np.concatenate(list(magnify_stream(mag, [video], fps, block_frames=len(video))))
    chunks = (video[i : i + 17] for i in range(0, len(video), 17))
    parts = np.concatenate(list(magnify_stream(mag, chunks, fps, block_frames=50)))
    assert parts.shape == video.shape
    m = mag.margin_frames(fps)
    core = slice(m, len(video) - m) if 2 * m < len(video) - 50 else slice(len(video) // 3, 2 * len(video) // 3)
    diff = np.abs(parts[core].astype(int) - whole[core].astype(int))
    if "ideal" in case:
        assert diff.mean() < 1.0 and diff.max() <= 8, (diff.mean(), diff.max())
    else:
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())


@pytest.mark.parametrize("case", sorted(SEAM_CASES))
def test_window_stream_equals_block_driver(case):
    """The bounded-window stream (physio.magnify.window) keeps only the filtered components of the
    temporal window, yet gives the generic block driver's output with the same block (chunks of 17,
    blocks of 24): at most 1 grey level apart (rounding), in < 0.1 % of values."""
    name, kw = SEAM_CASES[case]
    video, fps = _wobbly_clip(), 30.0
    mag = get_magnifier(name, band_hz=(0.7, 2.5), **kw)
    assert callable(getattr(mag, "stream", None))
    chunks = lambda: (video[i : i + 17] for i in range(0, len(video), 17))  # noqa: E731
    ref = np.concatenate(list(blocked_stream(mag, chunks(), fps, block_frames=24)))
    out = np.concatenate(list(magnify_stream(mag, chunks(), fps, block_frames=24)))
    assert out.shape == video.shape
    diff = np.abs(out.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())
    assert np.abs(out.astype(int) - video.astype(int)).mean() > 0.3  # it did magnify


@pytest.mark.parametrize("name", ["phase", "evm"])
def test_window_holds_only_its_frames_whatever_the_chunk(name, monkeypatch):
    """A 150-frame chunk is taken a batch at a time: the window never holds more than
    ``left context + core + margin`` frames plus one batch (it used to grow by a whole chunk), and
    the phase window stores half-precision phase changes."""
    from physio.magnify import window

    video, fps = _wobbly_clip(), 30.0
    mag = get_magnifier(name, band_hz=(0.7, 2.5))
    margin, core = mag.margin_frames(fps), 24
    seen = []
    emit = window._Window._emit

    def spy(self, k):
        seen.append((len(self.parts), self.batch, self.parts.dtypes()))
        yield from emit(self, k)

    monkeypatch.setattr(window._Window, "_emit", spy)
    out = np.concatenate(list(magnify_stream(mag, [video], fps, block_frames=core)))
    assert out.shape == video.shape
    assert max(n - b for n, b, _ in seen) < margin + core + margin, (seen, margin)
    want = torch.float16 if name == "phase" else torch.float32
    assert all(d == {want} for _, _, d in seen)


@pytest.mark.parametrize("name,kw", [("phase", {}), ("vam", {}), ("evm", {"mode": "motion"})])
def test_spilled_window_gives_the_same_output(name, kw, monkeypatch):
    """A window larger than PHYSIO_WINDOW_RAM_MB is kept in an anonymous temporary file and read back
    component by component: the output is bit-identical to the in-memory window."""
    from physio.magnify import window

    video, fps = _wobbly_clip(n=200), 30.0
    chunks = lambda: (video[i : i + 17] for i in range(0, len(video), 17))  # noqa: E731
    ram = np.concatenate(list(magnify_stream(get_magnifier(name, band_hz=(0.7, 2.5), **kw), chunks(), fps,
                                             block_frames=24, again=chunks)))
    made = []
    init = window._SpillParts.__init__

    def spy(self, like, capacity):
        init(self, like, capacity)
        made.append(capacity)

    monkeypatch.setattr(window._SpillParts, "__init__", spy)
    monkeypatch.setattr(window, "WINDOW_RAM_BYTES", 0)
    spilled = np.concatenate(list(magnify_stream(get_magnifier(name, band_hz=(0.7, 2.5), **kw), chunks(), fps,
                                                 block_frames=24, again=chunks)))
    assert made, "the window was not spilled"
    assert np.array_equal(ram, spilled)
    assert np.abs(ram.astype(int) - video.astype(int)).mean() > 0.1  # it did magnify


def test_magnified_output_differs_from_input():
    video = _wobbly_clip(n=90)
    for name in ("evm", "phase", "vam"):
        out = np.concatenate(list(magnify_stream(get_magnifier(name, alpha=10), [video], 30.0)))
        assert np.abs(out.astype(int) - video.astype(int)).mean() > 0.5, name


# --------------------------------------------------------------------------------------------------
# memory stays bounded on a long stream

_MEMORY_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from physio.magnify.base import magnify_stream
    from physio.magnify.registry import get_magnifier
    from physio.evaluation.memory import peak_rss_mb
    torch.set_num_threads(1)
    n, h, w, fps = 3000, 48, 64, 30.0
    def frames():  # generated on the fly, never held whole
        xx = np.arange(w)[None, None, :]
        for i in range(0, n, 25):
            t = (np.arange(i, i + 25) / fps)[:, None, None]
            v = 128 + 50 * np.sin(2 * np.pi * (xx - 0.3 * np.sin(2 * np.pi * 1.2 * t)) / 16.0) + 0 * np.ones((1, h, 1))
            yield np.repeat(np.clip(v, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    peaks = {}
    def progress(k, done=[0]):
        done[0] += k
        peaks[done[0]] = peak_rss_mb()
    mag = get_magnifier(sys.argv[1], band_hz=(0.7, 2.5))
    total = sum(len(c) for c in magnify_stream(mag, frames(), fps, progress=progress))
    assert total == n, total
    half = max(v for k, v in peaks.items() if k <= n // 2)
    print(f"{half:.1f} {max(peaks.values()):.1f}")
    """
)


@pytest.mark.parametrize("method", ["evm", "phase", "vam"])
def test_memory_bounded_on_long_stream(method):
    """3000 generated 64x48 frames (106 MB as float32) through colour EVM (ideal filter), phase-based
    (FIR) and acceleration magnification: the peak RSS grows < 16 MB after the first half of the stream.  Large
    allocations go straight to mmap (MALLOC_MMAP_THRESHOLD_) so RSS follows live memory.  (All methods
    on a 10-minute clip: benchmarks/bench_magnifiers.py --memory, docs/magnification-classical.md.)"""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, method], capture_output=True, text=True, env=env,
                         timeout=100)
    assert res.returncode == 0, res.stderr
    half, end = map(float, res.stdout.split())
    assert end - half < 16.0, (half, end)


# --------------------------------------------------------------------------------------------------
# registry and errors


def test_registry(rng):
    assert {"evm", "phase", "vam"} <= set(available())
    with pytest.raises(InputError, match="unknown magnification method 'nope'; valid: .*evm.*phase.*vam"):
        get_magnifier("nope")
    with pytest.raises(InputError, match="does not take option gamma"):
        get_magnifier("evm", gamma=1.0)

    class Identity(Magnifier):
        name = "identity"

        def __init__(self, band_hz=(0.7, 2.5)):
            self.band_hz = band_hz

        def process(self, frames, fps):
            return frames

    register("identity-test", Identity, help="does nothing")
    try:
        assert isinstance(get_magnifier("identity-test"), Identity)
        with pytest.raises(InputError, match="already registered"):
            register("identity-test", lambda **kw: Identity())
    finally:
        unregister("identity-test")
    assert "identity-test" not in MAGNIFIERS


def test_magnifier_argument_errors():
    with pytest.raises(InputError, match="mode must be one of color, motion"):
        EulerianMagnifier(mode="sideways")
    with pytest.raises(InputError, match="temporal_filter must be one of int, dog"):
        get_magnifier("vam", temporal_filter="ideal")
    with pytest.raises(InputError, match=r"expected shape \(T, 3, H, W\)"):
        get_magnifier("phase").process(torch.zeros(4, 1, 16, 16), 30.0)
    with pytest.raises(InputError, match="Nyquist"):
        get_magnifier("evm").process(torch.zeros(4, 3, 16, 16), 4.0)
    with pytest.raises(InputError, match="level 6 too deep"):
        get_magnifier("evm", level=6).process(torch.zeros(4, 3, 16, 16), 30.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("name", ["evm", "phase", "vam"])
def test_cuda_matches_cpu(name):
    video = torch.tensor(_wobbly_clip(n=60)).permute(0, 3, 1, 2).float() / 255
    cpu = get_magnifier(name, alpha=10, device="cpu").process(video, 30.0)
    gpu = get_magnifier(name, alpha=10, device="cuda").process(video, 30.0).cpu()
    assert (cpu - gpu).abs().max() < 1e-3


# --------------------------------------------------------------------------------------------------
# command line


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("magnify") / "clip.mp4"
    video_write(path, _wobbly_clip(n=45, h=48, w=64), 30.0)
    return path


@pytest.mark.parametrize("argv", [
    ["--method", "evm"],
    ["--method", "evm", "--source", "resp", "--alpha", "5", "--block-frames", "8"],
    ["--method", "phase", "--band", "1,3", "--sigma", "0"],
    ["--method", "vam", "--kernel", "int", "--level", "2", "--start", "0.2", "--end", "1.2"],
])
def test_cli_magnify_writes_matching_video(clip_file, tmp_path, capsys, argv):
    out = tmp_path / "out.mp4"
    assert cli_main(["magnify", str(clip_file), "-o", str(out), "-q", *argv]) == 0
    src, dst = video_info(clip_file), video_info(out)
    expected = 30 if "--start" in argv else src.frame_count
    assert (dst.frame_count, dst.fps, dst.width, dst.height) == (expected, src.fps, src.width, src.height)
    assert f"{expected} frames" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--method", "nope"], "unknown magnification method 'nope'; valid: "),
    (["--method", "phase", "--lambda-c", "4"], "--lambda-c is not an option of method 'phase'"),
    (["--method", "phase", "--mode", "color"], "magnifies motion only"),
    (["--band", "3,1"], "0 < lo < hi"),
    (["--set", "gamma=2"], "does not take option gamma"),
])
def test_cli_bad_options_exit_2(clip_file, tmp_path, capsys, argv, message):
    out = tmp_path / "out.mp4"
    assert cli_main(["magnify", str(clip_file), "-o", str(out), "-q", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_bad_input_exit_2(tmp_path, capsys):
    bad = tmp_path / "not_a_video.mp4"
    bad.write_bytes(b"this is not a video")
    assert cli_main(["magnify", str(bad), "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
    assert "not_a_video.mp4" in capsys.readouterr().err
    assert cli_main(["magnify", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4"), "-q"]) == 2
