"""Magnification outputs: side-by-side video, scan lines, pixel traces, correlations, and the figures."""

from __future__ import annotations

import warnings
from itertools import zip_longest

import numpy as np
import pytest
import torch
from torch import nn

from physio.errors import InputError
from physio.figures.magnification import change_map_figure, pixel_trace_figure, scanline_figure
from physio.figures.deepmag import correlation_map_figure, gradient_norm_figure, learning_curve_figure
from physio.io import video_info, video_read, video_write
from physio.magnify.ascent import gradient_ascent
from physio.magnify.base import Magnifier, magnify_stream
from physio.metrics.magnification import PixelCorrelation, correlation_summary, per_pixel_correlation
from physio.magnify.outputs import (
    PixelTraceRecorder,
    ScanlineRecorder,
    SideBySideWriter,
    magnify_pairs,
    pair_with_input,
)
from physio.magnify.ascent import ascent_l1_norms, sample_l1_norms
from helpers import moving_gradient_clip

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def split(frames: np.ndarray, sizes) -> list[np.ndarray]:
    """Cut ``frames`` into chunks of the given sizes (cycled)."""
    out, i, k = [], 0, 0
    while i < len(frames):
        n = sizes[k % len(sizes)]
        out.append(frames[i : i + n])
        i, k = i + n, k + 1
    return out


class Invert(Magnifier):
    """``1 − x`` with a temporal margin, so magnify_stream emits blocks unlike its input chunks."""

    name = "invert"

    def process(self, frames, fps):
        return 1.0 - frames

    def margin_frames(self, fps):
        return 3


class Linear(nn.Module):
    """``y = Σ w·x`` per sample: its gradient is ``sign(y)·w`` (hand-derivable)."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float64))

    def forward(self, x):
        return (x.flatten(1) * self.w.flatten()).sum(1)


# -- aligning ------------------------------------------------------------------------------------


def test_magnify_pairs_align_output_with_input():
    clip = moving_gradient_clip(t=23)
    pairs = list(magnify_pairs(Invert(), split(clip, [5]), fps=10, block_frames=8))
    assert [len(o) for o, _ in pairs] == [8, 8, 7]  # the magnifier's blocks, not the input's chunks
    orig = np.concatenate([o for o, _ in pairs])
    np.testing.assert_array_equal(orig, clip)
    for o, m in pairs:
        np.testing.assert_array_equal(m, 255 - o)


def test_pair_with_input_rejects_a_non_causal_transform():
    clip = moving_gradient_clip(t=6)

    def ahead(chunks):
        yield np.zeros((6,) + clip.shape[1:], np.uint8)  # before reading anything
        yield from chunks

    with pytest.raises(InputError, match="had read only 0"):
        list(pair_with_input(split(clip, [2]), ahead))

    def short(chunks):
        for c in chunks:
            yield c[:-1]

    with pytest.raises(InputError, match="emitted 4 frames for 6"):
        list(pair_with_input(split(clip, [3]), short))


# -- side by side --------------------------------------------------------------------------------


def test_side_by_side_lossless_layout_is_exact(tmp_path):
    clip = moving_gradient_clip(t=20, h=48, w=64)
    mag = 255 - clip
    path = tmp_path / "sbs.mp4"
    with SideBySideWriter(path, 25, lossless=True) as sbs:
        # chunk sizes differ between the streams: frames are queued until both have them
        for o, m in zip_longest(split(clip, [7]), split(mag, [5, 2, 0])):
            sbs.write(o, m)
            assert sbs.frames_written == min(sbs._received)
        assert sbs.panel_box(0) == (0, sbs.banner_px, 64, sbs.banner_px + 48)
        assert sbs.panel_box(1) == (64, sbs.banner_px, 128, sbs.banner_px + 48)
    b = sbs.banner_px
    assert b > 0 and (b + 48) % 2 == 0  # even total height for 4:2:0 players
    info = video_info(path)
    assert (info.width, info.height, info.frame_count) == (128, 48 + b, 20)
    assert info.fps == pytest.approx(25)
    frames, _ = video_read(path)
    np.testing.assert_array_equal(frames[:, b:, :64], clip)
    np.testing.assert_array_equal(frames[:, b:, 64:], mag)
    banner = frames[:, :b]
    assert banner.max() > 200 and np.median(banner) == 0  # white (anti-aliased) text on black
    assert not list(tmp_path.glob(".*partial*"))


def test_side_by_side_odd_width_gap_and_overlay(tmp_path):
    clip = moving_gradient_clip(t=9, h=24, w=33)
    path = tmp_path / "odd.mp4"
    with SideBySideWriter(path, 30, labels=("a", "b", "c"), gap=3, gap_value=200, lossless=True) as sbs:
        sbs.write(clip, clip, clip)
    frames, _ = video_read(path)
    assert frames.shape == (9, 24 + sbs.banner_px, 3 * 33 + 2 * 3, 3)
    assert (frames[:, sbs.banner_px :, 33:36] == 200).all()
    np.testing.assert_array_equal(frames[:, sbs.banner_px :, 72:105], clip)

    over = tmp_path / "overlay.mp4"
    with SideBySideWriter(over, 30, banner=False, lossless=True) as sbs:  # labels drawn over the panels
        sbs.write(clip, clip)
    assert sbs.banner_px == 0
    frames, _ = video_read(over)
    assert frames.shape == (9, 24, 66, 3)
    rows = len(sbs._label_masks[0][0])  # the label covers only the top rows of each panel
    assert 0 < rows < 24
    np.testing.assert_array_equal(frames[:, rows:, :33], clip[:, rows:])
    np.testing.assert_array_equal(frames[:, rows:, 33:], clip[:, rows:])
    top = frames[:, :rows, :33]
    assert top.max() > 200 and top.min() < 40  # white text on its black outline

    # lossy: an odd total width (one panel of 33 px) goes out as yuv444p, never cropped or padded
    lossy = tmp_path / "lossy.mp4"
    with SideBySideWriter(lossy, 30, labels=None, panels=1) as sbs:
        sbs.write(clip)
    info = video_info(lossy)
    assert (info.width, info.height, info.frame_count) == (33, 24, 9)
    assert np.abs(video_read(lossy)[0].astype(float) - clip).mean() < 3.0


def test_side_by_side_errors_leave_no_file(tmp_path):
    clip = moving_gradient_clip(t=5)
    path = tmp_path / "bad.mp4"
    sbs = SideBySideWriter(path, 25)
    sbs.write(clip, clip[:4])
    with pytest.raises(InputError, match=r"original: 5, magnified: 4"):
        sbs.close()
    assert not path.exists() and not list(tmp_path.iterdir())
    with pytest.raises(InputError, match="needs 2 chunks"):
        SideBySideWriter(tmp_path / "x.mp4", 25).write(clip)
    with pytest.raises(InputError, match="frame size"):
        SideBySideWriter(tmp_path / "y.mp4", 25).write(clip, clip[:, :-2])
    with pytest.raises(InputError, match="panels=3 but 2 labels"):
        SideBySideWriter(tmp_path / "z.mp4", 25, panels=3)


# -- scan lines and pixel traces -----------------------------------------------------------------


def moving_bar(t=30, h=20, w=40, width=3):
    """Black frames with a white vertical bar at columns i … i+width−1 in frame i."""
    f = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        f[i, :, i : i + width] = 255
    return f


def test_scanline_shows_the_bar_position_over_time():
    frames = moving_bar()
    rec = ScanlineRecorder(("h", 10))
    for c in split(frames, [4, 7, 1]):
        assert rec.update(c) is c
    sl = rec.result()
    assert sl.shape == (30, 40, 3) and sl.dtype == np.uint8
    expected = np.zeros((30, 40), bool)
    for i in range(30):
        expected[i, i : i + 3] = True
    np.testing.assert_array_equal(sl[..., 0] == 255, expected)
    # position of the bar's left edge = frame index: it moves 1 px per frame
    np.testing.assert_array_equal(sl[..., 1].argmax(axis=1), np.arange(30))
    assert rec.describe() == "horizontal line y = 10 px"

    # a vertical line through a bar moving downwards; only frames 5..14 kept
    down = np.swapaxes(moving_bar(t=18, h=40, w=20), 1, 2)  # (T, 20 rows, 40 cols) → bar rows i..i+2
    rec_v = ScanlineRecorder(("v", 3), start=5, stop=15)
    for c in split(down, [4]):
        rec_v.update(c)
    v = rec_v.result()
    assert v.shape == (10, 20, 3) and rec_v.frames_seen == 18
    np.testing.assert_array_equal(v[..., 2].argmax(axis=1), np.arange(5, 15))


def test_scanline_default_lines_and_errors():
    frames = moving_bar(t=2, h=21, w=40)
    rec = ScanlineRecorder()
    rec.update(frames)
    assert rec.line == ("h", 10)
    rec = ScanlineRecorder(box=(4, 2, 20, 12), orientation="v")
    rec.update(frames)
    assert rec.line == ("v", 12)
    with pytest.raises(InputError, match=r"outside the 40x21 frame \(y must be in 0..20\)"):
        ScanlineRecorder(("h", 21)).update(frames)
    late = ScanlineRecorder(start=5)
    late.update(frames)  # 2 frames, all before the range
    with pytest.raises(InputError, match=r"no frames recorded \(saw 2, range 5..None\)"):
        late.result()
    with pytest.raises(InputError, match="line must be"):
        ScanlineRecorder(("d", 1))


def test_pixel_traces_equal_hand_computed_means(rng):
    frames = rng.integers(0, 256, (12, 9, 11, 3), dtype=np.uint8)
    rec = PixelTraceRecorder([(0, 0), (5, 6), (10, 8)], radius=1)
    for c in split(frames, [5]):
        rec.update(c)
    tr = rec.result()
    assert tr.shape == (12, 3, 3) and tr.dtype == np.float64
    f = frames.astype(np.float64)
    # (0, 0): the window is clipped to rows 0–1, columns 0–1 (4 pixels)
    np.testing.assert_allclose(tr[:, 0], (f[:, 0, 0] + f[:, 0, 1] + f[:, 1, 0] + f[:, 1, 1]) / 4)
    np.testing.assert_allclose(tr[:, 1], f[:, 5:8, 4:7].sum(axis=(1, 2)) / 9)
    np.testing.assert_allclose(tr[:, 2], f[:, 7:9, 9:11].mean(axis=(1, 2)))
    r0 = PixelTraceRecorder([(5, 6)], radius=0)
    r0.update(frames)
    np.testing.assert_array_equal(r0.result()[:, 0], f[:, 6, 5])
    with pytest.raises(InputError, match=r"point \(x=11, y=0\) is outside the 11x9 frame"):
        PixelTraceRecorder([(11, 0)]).update(frames)


# -- correlation ---------------------------------------------------------------------------------


def test_per_pixel_correlation_known_values(rng):
    x = rng.normal(size=(50, 4, 5))
    np.testing.assert_allclose(per_pixel_correlation(x, 2 * x + 1), 1.0, atol=1e-12)
    np.testing.assert_allclose(per_pixel_correlation(x, -x), -1.0, atol=1e-12)
    # by hand: a = (1, 2, 3), b = (1, 3, 2): cov = 1·(−1)·… → Σ da·db = 1, Σ da² = Σ db² = 2 → r = 0.5
    assert per_pixel_correlation([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    y = 2 * x + 1
    y[:, 1, 2] = 0.1  # constant over time (and not exactly representable: still detected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = per_pixel_correlation(x, y)
        r0 = per_pixel_correlation(x, y, constant=0.0)
    assert np.isnan(r[1, 2]) and r0[1, 2] == 0.0
    assert np.isnan(r).sum() == 1
    x_nan = x.copy()
    x_nan[3, 0, 0] = np.nan
    assert np.isnan(per_pixel_correlation(x_nan, y)[0, 0])
    with pytest.raises(InputError, match="same shape"):
        per_pixel_correlation(x, x[:, :2])


def test_streamed_correlation_equals_in_memory(rng):
    a = rng.normal(size=(40, 3, 6)) + 1e3  # a large offset: naive raw moments would lose digits
    b = 0.3 * a + rng.normal(size=a.shape)
    b[:, 0, 0] = 7.0
    acc = PixelCorrelation()
    for ca, cb in zip(split(a, [7, 3]), split(b, [7, 3])):
        acc.update(ca, cb)
    assert acc.n == 40
    np.testing.assert_allclose(acc.result(), per_pixel_correlation(a, b), atol=1e-9, equal_nan=True)
    assert np.isnan(acc.result()[0, 0])


def test_sign_correction_makes_every_correlation_positive():
    """Fig. 11: y = w·x with w = (1, −0.5) and x_t = s_t·(1, 1).  Without sign correction every step
    adds sign(s_t)·w, reversing pixel 1 once the step length exceeds var(s)/E|s| (≈ 0.79 here); with
    it, each element moves away from zero and keeps its correlation with the input."""
    t = np.arange(64) / 16.0
    s = np.sin(2 * np.pi * 0.5 * t + 0.3)
    x1 = torch.as_tensor(s[:, None, None, None] * np.ones((1, 1, 1, 2)))
    net = Linear([1.0, -0.5])
    stats = {}
    for sc in (False, True):
        xn = gradient_ascent(net, x1, gamma=0.4, iterations=6, sign_correct=sc).x
        corr = per_pixel_correlation(x1.numpy(), xn.numpy())
        assert corr.shape == (1, 1, 2)
        stats[sc] = correlation_summary(corr)
    assert stats[False]["fraction_negative"] == 0.5 and stats[False]["min"] < -0.5
    assert stats[True]["fraction_negative"] == 0.0 and stats[True]["min"] > 0.5


def test_l1_norms_of_a_linear_net():
    x1 = torch.randn(10, 1, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    w = torch.arange(1.0, 7.0).reshape(1, 2, 3) * torch.tensor([1, -1, 1, -1, 1, -1]).reshape(1, 2, 3)
    x_l1, g_l1 = ascent_l1_norms(Linear(w), x1, input_scale=2.0, batch=4)
    np.testing.assert_allclose(x_l1, x1.abs().sum(dim=(1, 2, 3)).numpy())
    np.testing.assert_allclose(g_l1, 21.0 / 2.0)  # |∇ |w·x/2|| = |w|/2, Σ|w| = 1+…+6 = 21
    np.testing.assert_allclose(sample_l1_norms(np.ones((3, 4))), 4.0)


# -- figures -------------------------------------------------------------------------------------


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)
    assert not list(path.parent.glob(".*partial*"))


def test_figures_write_pngs_with_expected_axes(tmp_path):
    frames = moving_bar()
    sl = {"original": ScanlineRecorder(("h", 10)), "magnified": ScanlineRecorder(("h", 10))}
    sl["original"].update(frames)
    sl["magnified"].update(255 - frames)
    lines = {k: r.result() for k, r in sl.items()}
    fig = scanline_figure(lines, 10.0, ("h", 10), frame=frames[0], path=tmp_path / "scan.png")
    assert len(fig.axes) == 3
    assert fig.axes[1].get_xlim() == pytest.approx((0.0, 3.0))  # 30 frames at 10 fps
    assert_png(tmp_path / "scan.png")
    fig = scanline_figure(lines, 10.0, "vertical line on the shoulder", time_axis="y", path=tmp_path / "v.png")
    assert len(fig.axes) == 2 and fig.axes[0].get_ylim() == pytest.approx((3.0, 0.0))
    assert_png(tmp_path / "v.png")

    rng = np.random.default_rng(0)
    base = rng.normal(size=(100, 3))
    traces = {"original": base, **{f"γ×{k}": base * (1 + k) for k in (0.5, 1, 2, 4)}}
    fig = pixel_trace_figure(traces, 30.0, path=tmp_path / "trace.png")
    assert len(fig.axes) == 3 and len(fig.axes[1].lines) == 5
    assert_png(tmp_path / "trace.png")
    phase = {"original": rng.normal(size=(50, 4))}
    fig = pixel_trace_figure(phase, 30.0, channel_names=("0°", "45°", "90°", "135°"), subtract_mean=True)
    assert len(fig.axes) == 4

    obj = [np.linspace(1, 3, 8)[:, None] * rng.uniform(0.5, 1.5, (1, b)) for b in (16, 16, 5)]
    fig = learning_curve_figure(obj, path=tmp_path / "learn.png")
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.lines) == 1
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.concatenate(obj, axis=1).mean(axis=1))
    assert_png(tmp_path / "learn.png")
    fig = learning_curve_figure({"γ=0.1": obj[0], "γ=0.2": obj[1]}, step={"γ=0.1": 0.1, "γ=0.2": 0.2}, spread="range")
    assert fig.axes[0].lines[1].get_xdata()[-1] == pytest.approx(7 * 0.2)

    fig = gradient_norm_figure(rng.normal(10, 1, 300), rng.lognormal(0, 1, 300), fps=30, path=tmp_path / "g.png")
    assert len(fig.axes) == 4
    assert_png(tmp_path / "g.png")

    corr = {"no sign correction": rng.uniform(-1, 1, (20, 30)), "sign correction": rng.uniform(0, 1, (20, 30))}
    corr["sign correction"][0, 0] = np.nan
    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:20] = True
    fig = correlation_map_figure(corr, mask=mask, path=tmp_path / "corr.png")
    assert len(fig.axes) == 3  # two maps and the colour bar
    assert "r < 0: 0.0 %" in fig.axes[1].get_title()
    assert_png(tmp_path / "corr.png")
    assert len(correlation_map_figure(corr["sign correction"]).axes) == 2

    change = {"EVM": np.full((20, 30), 0.5), "DeepMag": np.where(mask, 30.0, 2.0)}
    fig = change_map_figure(change, frame=np.zeros((20, 30, 3), np.uint8), mask=mask, path=tmp_path / "change.png")
    assert len(fig.axes) == 4  # frame, two maps, colour bar
    assert fig.axes[1].get_title() == "EVM: RMS 0.50\nin 0.50 / out 0.50"
    assert "in 30.00 / out 2.00" in fig.axes[2].get_title()
    assert fig.axes[1].images[0].norm.vmax == fig.axes[2].images[0].norm.vmax == 30.0  # one shared scale
    assert_png(tmp_path / "change.png")


def test_figures_take_deepmag_objective_history():
    """The learning curve reads what gradient_ascent(record=True) / DeepMag.objective_history keep."""
    x1 = torch.randn(6, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = gradient_ascent(Linear(torch.ones(4)), x1, gamma=0.1, iterations=5, record=True)
    history = [torch.stack(res.objective).numpy()]  # as DeepMag._ascend appends, (N, B)
    fig = learning_curve_figure(history)
    y = fig.axes[0].lines[0].get_ydata()
    assert len(y) == 5 and np.all(np.diff(y) > 0)  # ascent increases |y| every iteration


def test_figure_errors():
    with pytest.raises(InputError, match="fps must be a positive"):
        scanline_figure({"a": np.zeros((3, 4, 3), np.uint8)}, 0, "x")
    with pytest.raises(InputError, match="same number of channels"):
        pixel_trace_figure({"a": np.zeros((5, 3)), "b": np.zeros((5, 4))}, 30)
    with pytest.raises(InputError, match="spread"):
        learning_curve_figure(np.ones((3, 2)), spread="iqr")
    with pytest.raises(InputError, match="same N"):
        learning_curve_figure([np.ones((3, 2)), np.ones((4, 2))])
    with pytest.raises(InputError, match="mask shape"):
        correlation_map_figure(np.zeros((4, 4)), mask=np.ones((3, 3), bool))
    with pytest.raises(InputError, match="mask shape"):
        change_map_figure({"a": np.zeros((4, 4))}, mask=np.ones((3, 3), bool))
    with pytest.raises(InputError, match="must be"):
        change_map_figure({"a": np.zeros(4)})


def test_magnify_stream_outputs_end_to_end(tmp_path):
    """Chunks straight from magnify_stream feed every recorder and the side-by-side writer."""
    clip = moving_gradient_clip(t=17, h=16, w=24)
    recs = {k: ScanlineRecorder() for k in ("original", "magnified")}
    trace = PixelTraceRecorder([(12, 8)])
    corr = PixelCorrelation()
    with SideBySideWriter(tmp_path / "e.mp4", 10, lossless=True) as sbs:
        for o, m in pair_with_input(split(clip, [6]), lambda c: magnify_stream(Invert(), c, 10, block_frames=5)):
            sbs.write(o, m)
            recs["original"].update(o)
            recs["magnified"].update(m)
            trace.update(m)
            corr.update(o[..., 1].astype(float), m[..., 1].astype(float))
    assert sbs.frames_written == 17
    np.testing.assert_array_equal(recs["magnified"].result(), 255 - clip[:, 8])
    np.testing.assert_allclose(trace.result()[:, 0], 255 - clip[:, 7:10, 11:14].mean(axis=(1, 2)))
    r = corr.result()
    assert np.nanmax(r) == pytest.approx(-1.0)  # inversion: perfectly anti-correlated where not constant


# -- physio magnify's extra outputs (one pass) --------------------------------------------------------


@pytest.fixture(scope="module")
def wobble_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("extras") / "clip.mp4"
    video_write(path, moving_gradient_clip(t=40, h=48, w=64), 30.0, lossless=True)
    return path


def _png_ok(path) -> None:
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_magnify_writes_side_by_side_scanline_and_traces(wobble_file, tmp_path, capsys):
    from physio.cli import main

    out, sbs, scan, tr = (tmp_path / n for n in ("out.mp4", "sbs.mp4", "scan.png", "traces.png"))
    rc = main(["magnify", str(wobble_file), "-o", str(out), "--method", "evm", "--alpha", "5", "--crf", "0",
               "--side-by-side", str(sbs), "--scanline", str(scan), "--line", "v:20", "--traces", str(tr),
               "--pixel", "30,12", "--preset", "medium", "-q"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert all(f"wrote {p}" in printed for p in (sbs, scan, tr))
    _png_ok(scan)
    _png_ok(tr)
    mag, both, src = (video_read(p)[0] for p in (out, sbs, wobble_file))
    h, w = src.shape[1:3]
    assert len(both) == len(mag) == len(src) and both.shape[2] == 2 * w
    banner = both.shape[1] - h  # labels sit in a strip above the panels
    # left panel = the input, right = the magnified video, frame for frame (up to 4:2:0 chroma loss)
    def err(a, b):
        return np.abs(a.astype(int) - b).mean()

    left, right = both[:, banner:, :w], both[:, banner:, w:]
    assert err(mag, src) > 5.0  # the magnification is large enough to tell them apart
    assert err(left, src) < 0.5 * err(left, mag) and err(right, mag) < 0.5 * err(right, src)
    with pytest.raises(SystemExit) as exc:  # argparse: an x264 preset that does not exist
        main(["magnify", str(wobble_file), "-o", str(tmp_path / "x.mp4"), "--preset", "fastest"])
    assert exc.value.code == 2 and not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("argv, message", [
    (["--learning-curve", "c.png"], "--learning-curve needs --method deepmag"),
    (["--line", "h:5"], "--line chooses the scan line of --scanline"),
    (["--pixel", "3,3"], "--pixel chooses the traced pixel of --traces"),
    (["--scanline", "scan.gif"], "unsupported file type '.gif'"),
    (["--side-by-side", "sbs.png"], "unsupported file type '.png'"),
    (["--scanline", "x.png", "--traces", "x.png"], "need different paths"),
    (["--traces", "t.png", "--pixel", "500,5"], "outside the 64x48 frame"),  # found while running
])
def test_cli_magnify_bad_extra_outputs_exit_2_and_leave_no_files(wobble_file, tmp_path, capsys, monkeypatch, argv,
                                                                 message):
    from physio.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["magnify", str(wobble_file), "-o", "out.mp4", "--method", "evm", "--side-by-side", "s.mp4",
                 "-q", *argv]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no video, no side-by-side, no partial file


def test_cli_deepmag_on_a_real_face_writes_every_output(shared_data, tmp_path, capsys):
    """face.mp4, 4 s, the shipped PulseNet on the detected face (--roi auto): the magnified video, the
    side-by-side, the scan line through the face box, the traces at its centre and the learning curve;
    the learning curve has N = 20 points and the skin-region change is real (the trace moves more)."""
    from physio.cli import main

    files = {k: tmp_path / f"{k}.{ext}" for k, ext in (("out", "mp4"), ("sbs", "mp4"), ("scan", "png"),
                                                       ("traces", "png"), ("curve", "png"))}
    rc = main(["magnify", str(shared_data / "evm_mit" / "face.mp4"), "-o", str(files["out"]), "--method", "deepmag",
               "--gamma", "1e-3", "--end", "4", "--side-by-side", str(files["sbs"]), "--scanline", str(files["scan"]),
               "--traces", str(files["traces"]), "--learning-curve", str(files["curve"]), "-q"])
    assert rc == 0, capsys.readouterr().err
    for k in ("scan", "traces", "curve"):
        _png_ok(files[k])
    out, src = video_read(files["out"])[0], video_read(shared_data / "evm_mit" / "face.mp4", end_s=4)[0]
    assert out.shape == src.shape and video_read(files["sbs"])[0].shape[2] == 2 * src.shape[2]
    # the change sits in the face: the 32x32 centre of the frame (inside any face box) changes more than
    # the top-left corner (background)
    d = np.abs(out.astype(float) - src)
    h, w = src.shape[1:3]
    assert d[:, h // 2 - 16 : h // 2 + 16, w // 2 - 16 : w // 2 + 16].mean() > 5 * d[:, :32, :32].mean()


def test_magnify_video_progress_counts_reads_then_writes(tmp_path):
    """The bar of `physio magnify` is 2 × frames: each frame counts when the magnifier takes it in and
    when it is written, so it moves from the first chunk on although EVM holds a margin and a block
    before its first output."""
    from physio.magnify.registry import get_magnifier
    from physio.magnify.video import magnify_video

    clip = moving_gradient_clip(t=90)
    src = video_write(tmp_path / "in.mp4", clip, fps=30, lossless=True)
    calls: list[int] = []
    result = magnify_video(get_magnifier("evm", band_hz=(0.7, 2.5), alpha=5), src, tmp_path / "out.mp4",
                           chunk_size=16, progress=calls.append)
    assert sum(calls) == 2 * result["frames"] == 180
    assert calls[:2] == [16, 16]  # reads (16-frame chunks): EVM writes nothing before a margin and a block
