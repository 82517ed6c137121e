"""DeepMag pipeline mechanics: identity at γ = 0, chunk-size invariance, shapes, streaming filter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal as sps

from helpers import pulsing_frames
from physio.magnify.deepmag import DeepMag, StreamingBandpass, butter_bandpass_sos
from physio.nets.pulse import PulseNet
from physio.nets.resp import RespNet


def test_streaming_bandpass_equals_whole(rng):
    fs = 30.0
    sos = butter_bandpass_sos((0.7, 2.5), fs)
    x = rng.normal(size=(900, 3))
    whole = sps.sosfiltfilt(sos, x, axis=0, padlen=3 * (2 * len(sos) + 1))
    bp = StreamingBandpass(sos, margin=int(4 / 0.7 * fs), block=64)
    out = []
    for i in range(0, 900, 37):
        bp.push(x[i : i + 37])
        out += bp.pop()
    out += bp.pop(final=True)
    y = np.concatenate(out)
    assert y.shape == x.shape
    # each block owns its samples: a view would keep the whole filtered window (block + 2 margins) alive,
    # which on a respiration stream's final flush held ~126 MB more than needed
    assert all(o.base is None for o in out)
    np.testing.assert_allclose(y, whole, atol=1e-3 * np.abs(whole).max())


@pytest.fixture(scope="module")
def clip():
    frames, _ = pulsing_frames(72, 6.0, 10.0, h=32, w=40, amp=2.0)
    return frames


def _pulse_mag(**kw):
    torch.manual_seed(0)
    return DeepMag(PulseNet(channels=(4, 8), hidden=16), "pulse", device="cpu", **kw)


def _resp_mag(**kw):
    torch.manual_seed(0)
    return DeepMag(RespNet(size=32, channels=(4, 4, 4), hidden=8), "resp", size=32, level=1, device="cpu", **kw)


@pytest.mark.parametrize("make", [_pulse_mag, _resp_mag])
def test_identity_at_zero_gamma(clip, make):
    mag = make(gamma=0.0)
    out = np.concatenate(list(mag.stream(iter([clip[:50], clip[50:]]), 10.0)))
    assert out.shape == clip.shape
    assert np.abs(out.astype(int) - clip).max() <= 1


@pytest.mark.parametrize("make,kw", [(_pulse_mag, {}), (_pulse_mag, {"colour_update": "integrated"}),
                                     (_resp_mag, {})])
def test_second_reading_gives_the_same_output_and_holds_no_frame(clip, make, kw, monkeypatch):
    """With ``again`` (the video read a second time) the reconstruction takes its frames from the
    second reading: the output is identical and no input frame is kept while the band-pass fills."""
    from physio.magnify import window

    gamma = 2e-4 if make is _pulse_mag else 0.02
    chunks = lambda: (clip[i : i + 7] for i in range(0, len(clip), 7))  # noqa: E731
    kept = make(gamma=gamma, block_frames=16, input_scale=0.01, **kw)
    ref = np.concatenate(list(kept.stream(chunks(), 10.0)))
    held = []
    keep = window.FrameQueue.keep

    def spy(self, chunk):
        keep(self, chunk)
        held.append(len(self._kept))

    monkeypatch.setattr(window.FrameQueue, "keep", spy)
    again = make(gamma=gamma, block_frames=16, input_scale=0.01, **kw)
    out = np.concatenate(list(again.stream(chunks(), 10.0, again=chunks)))
    assert np.array_equal(out, ref)
    assert held and max(held) == 0
    assert np.abs(ref.astype(int) - clip).max() > 0  # it did change something


def test_auto_box_detects_on_a_reading_of_its_own(clip, monkeypatch):
    """With ``again``, the automatic region is detected on a separate reading of the first
    ``detect_s`` seconds (no frame held for it): the same frames reach the detector and the output
    equals the held-frames path."""
    from physio.magnify import deepmag

    seen = []

    def fake_detect(frames, fps, region):
        seen.append(sum(len(c) for c in frames))
        return (4, 4, 36, 28)

    monkeypatch.setattr(deepmag, "detect_box", fake_detect)

    def make():
        torch.manual_seed(0)
        return deepmag._AutoBoxDeepMag(PulseNet(channels=(4, 8), hidden=16), "pulse", device="cpu",
                                        gamma=2e-4, block_frames=16, input_scale=0.01, detect_s=2.0)

    chunks = lambda: (clip[i : i + 7] for i in range(0, len(clip), 7))  # noqa: E731
    held = np.concatenate(list(make().stream(chunks(), 10.0)))
    again = np.concatenate(list(make().stream(chunks(), 10.0, again=chunks)))
    assert seen == [21, 21]  # 2 s at 10 fps, whole chunks of 7
    assert np.array_equal(held, again)
    assert np.abs(held.astype(int) - clip).max() > 0


@pytest.mark.parametrize("make", [_pulse_mag, _resp_mag])
def test_chunking_does_not_change_the_result(clip, make):
    a = make(gamma=2e-4 if make is _pulse_mag else 0.02, block_frames=1000, input_scale=0.01)
    b = make(gamma=2e-4 if make is _pulse_mag else 0.02, block_frames=16, input_scale=0.01)
    whole = np.concatenate(list(a.stream(iter([clip]), 10.0)))
    chunked = np.concatenate(list(b.stream((clip[i : i + 7] for i in range(0, len(clip), 7)), 10.0)))
    assert whole.shape == chunked.shape == clip.shape
    diff = np.abs(whole.astype(int) - chunked)
    assert diff.max() <= 2, diff.max()
    assert np.abs(whole.astype(int) - clip).max() > 0  # it did change something


def test_magnification_changes_grow_with_gamma(clip):
    changes = []
    for g in (1e-4, 4e-4):
        out = np.concatenate(list(_pulse_mag(gamma=g).stream(iter([clip]), 10.0)))
        changes.append(np.abs(out.astype(float) - clip).mean())
    assert changes[1] > changes[0] > 0


@pytest.mark.parametrize("make", [_pulse_mag, _resp_mag])
def test_box_limits_the_change_to_the_region(clip, make):
    box = (4, 2, 36, 30)
    mag = make(gamma=4e-4 if make is _pulse_mag else 0.05, box=box, input_scale=0.01)
    out = np.concatenate(list(mag.stream(iter([clip]), 10.0))).astype(int)
    diff = np.abs(out - clip)
    inside = np.zeros(clip.shape[1:3], bool)
    inside[box[1] : box[3], box[0] : box[2]] = True
    assert diff[:, ~inside].max() == 0  # nothing outside the box changes
    assert diff[:, inside].max() > 0


def test_feather_window():
    from physio.magnify.deepmag import feather_window

    w = feather_window(20, 40, 0.25)
    assert w.shape == (20, 40) and float(w[10, 20]) == 1.0
    assert 0 < float(w[0, 0]) < 0.05 and torch.all(w >= 0) and torch.all(w <= 1)


def test_huge_gamma_stays_finite_and_in_range(clip):
    """A step far beyond the paper's must not crash the reconstruction (intensities clipped at 0)."""
    out = np.concatenate(list(_pulse_mag(gamma=0.05).stream(iter([clip]), 10.0)))
    assert out.shape == clip.shape and out.dtype == np.uint8


def test_phase_clip_switch_and_update_statistics(clip):
    """Eq. 21's 2π clipping drops exactly the update elements at or beyond 2π: with a step large enough to
    reach them, switching it off changes the output, and phase_stats reports their share and the RMS."""
    assert _resp_mag(gamma=0.0).phase_stats is None  # no run yet
    still = _resp_mag(gamma=0.0)
    list(still.stream(iter([clip]), 10.0))
    assert still.phase_stats == {"rms": 0.0, "clipped": 0.0}
    outs, stats = {}, {}
    for on in (True, False):
        mag = _resp_mag(gamma=5.0, input_scale=0.01, phase_clip=on)
        outs[on] = np.concatenate(list(mag.stream(iter([clip[:40], clip[40:]]), 10.0))).astype(int)
        stats[on] = mag.phase_stats
    assert stats[True] == stats[False]  # measured before the clipping
    assert 0 < stats[True]["clipped"] < 1 and stats[True]["rms"] > 1.0
    assert np.abs(outs[True] - outs[False]).max() > 0
    small = _resp_mag(gamma=0.02, input_scale=0.01)
    list(small.stream(iter([clip]), 10.0))
    assert small.phase_stats["clipped"] == 0.0 and 0 < small.phase_stats["rms"] < stats[True]["rms"]


_MEMORY_SCRIPT = """
import sys, numpy as np, torch
from physio.magnify.deepmag import DeepMag
from physio.nets.pulse import PulseNet
from physio.nets.resp import RespNet
torch.set_num_threads(1)
torch.manual_seed(0)
source, n, h, w, fps = sys.argv[1], int(sys.argv[2]), 48, 64, 30.0
net = PulseNet(channels=(4, 8), hidden=16) if source == "pulse" else RespNet(size=32, channels=(4, 4, 4), hidden=8)
mag = DeepMag(net, source, size=36 if source == "pulse" else 32, iterations=5, device="cpu", input_scale=0.01,
              block_frames=128)
def frames():  # generated on the fly, never held whole
    xx = np.arange(w)[None, None, :]
    for i in range(0, n, 25):
        t = (np.arange(i, i + 25) / fps)[:, None, None]
        v = 128 + 50 * np.sin(2 * np.pi * (xx - 0.3 * np.sin(2 * np.pi * 0.3 * t)) / 16.0) + 0 * np.ones((1, h, 1))
        v = v + 2 * np.sin(2 * np.pi * 1.2 * t)
        yield np.repeat(np.clip(v, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
total = sum(len(c) for c in mag.stream(frames(), fps))
assert total == n, total
from physio.evaluation.memory import peak_rss_mb
print(peak_rss_mb())
"""


@pytest.mark.parametrize(("source", "n"), [("pulse", 1000), ("resp", 1800)])
def test_memory_does_not_grow_with_the_video(source, n):
    """A generated stream through DeepMag (small untrained networks, 64x48), of n and of 2n frames: the
    peak RSS differs by < 16 MB — memory is the band-pass margin plus one block (the respiration margin
    is 25 s, so its streams are longer), never the video; the final flush, which hands over the last
    block with its margin, included.  Large allocations go straight to mmap (MALLOC_MMAP_THRESHOLD_) so
    RSS follows live memory."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    peaks = []
    for frames in (n, 2 * n):
        res = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, source, str(frames)], capture_output=True,
                             text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stderr
        peaks.append(float(res.stdout))
    assert abs(peaks[1] - peaks[0]) < 16.0, peaks


def test_dark_cells_are_not_magnified_and_do_not_carry_errors():
    """A near-black patch (1-2 grey levels, flickering) turns on to 150 halfway through.  Eq. 16's ratio
    (1 + X)/(1 − X) is singular while it is dark; without the guard the error made there is carried into
    every later frame (measured: the lit patch changes by ~116 grey levels on average); with it the lit
    patch changes like any other region (~5) and the rest of the frame is untouched by the guard."""
    frames, _ = pulsing_frames(60, 6.0, 10.0, h=32, w=40, amp=2.0)
    frames = frames.copy()
    dark = np.arange(len(frames)) < 30
    frames[:, 8:24, 10:26] = np.where(dark[:, None, None, None], 1, 150).astype(np.uint8)
    frames[:30, 8:24, 10:26] += (np.arange(30) % 2).astype(np.uint8)[:, None, None, None]
    outs = {}
    for floor in (0.0, 0.02):
        mag = _pulse_mag(gamma=2e-3, input_scale=0.01, dark_floor=floor)
        outs[floor] = np.abs(np.concatenate(list(mag.stream(iter([frames]), 10.0))).astype(int) - frames)
    lit = (slice(35, None), slice(10, 22), slice(12, 24))
    assert outs[0.0][lit].mean() > 50  # the unguarded recursion blows up
    assert outs[0.02][lit].mean() < 10
    np.testing.assert_array_equal(outs[0.0][:, 26:, 28:], outs[0.02][:, 26:, 28:])  # bright cells unaffected


def test_paste_in_the_frames_layout_equals_the_float_paste(rng):
    """The colour reconstruction adds the change to the uint8 frames inside the box only: within one grey
    level of converting whole frames to float, pasting and converting back, and the pixels outside the
    box untouched."""
    from physio.magnify.base import to_tensor, to_uint8
    from physio.magnify.deepmag import _paste, _paste_u8, feather_window

    frames = rng.integers(0, 256, (4, 30, 40, 3)).astype(np.uint8)
    box = (5, 3, 33, 27)
    weight = feather_window(24, 28, 0.1)
    change = torch.from_numpy(rng.normal(0, 0.05, (4, 3, 24, 28)).astype(np.float32))
    ref = to_uint8(_paste(to_tensor(frames), change, box, weight))
    out = _paste_u8(frames, change, box, weight)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    assert np.abs(out.astype(int) - ref).max() <= 1 and (out != ref).mean() < 1e-3
    outside = np.ones(frames.shape[1:3], bool)
    outside[3:27, 5:33] = False
    assert np.array_equal(out[:, outside], frames[:, outside])
    whole = _paste_u8(frames, torch.zeros(4, 3, 30, 40), None, None)
    assert np.array_equal(whole, frames)
