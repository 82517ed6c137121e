"""Streaming video I/O: round trips, chunking, time ranges, and every bad-input case."""

from __future__ import annotations

import numpy as np
import pytest

from physio.cli import main
from physio.errors import InputError, VideoReadError, VideoWriteError
from physio.io import VideoReader, VideoWriter, prefetched, video_info, video_read, video_write
from helpers import moving_gradient_clip


def test_lossy_round_trip(tmp_path, small_clip):
    path = video_write(tmp_path / "a.mp4", small_clip, fps=25)
    info = video_info(path)
    assert info.frame_count == len(small_clip)
    assert info.fps == pytest.approx(25)
    assert (info.width, info.height) == (64, 48)
    assert info.codec == "h264"
    frames, fps = video_read(path)
    assert frames.shape == small_clip.shape and frames.dtype == np.uint8
    mse = np.mean((frames.astype(float) - small_clip.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 33.0  # crf 18, 4:2:0 chroma on a colourful pattern
    full = video_write(tmp_path / "b.mp4", small_clip, fps=25, pix_fmt="yuv444p")
    err = np.abs(video_read(full)[0].astype(float) - small_clip).mean()
    err420 = np.abs(frames.astype(float) - small_clip).mean()
    assert err < 3.0 and err < 0.8 * err420, (err, err420)  # full-resolution chroma: 2.8 vs 3.7 (veryfast)


def test_presets_trade_speed_for_size_not_quality(tmp_path, small_clip):
    """The default x264 preset (veryfast) and medium both keep crf 18's quality; a name x264 does not
    know is refused before anything is written."""
    clip = np.concatenate([small_clip] * 4)
    psnr = {}
    for preset in ("veryfast", "medium"):
        frames, _ = video_read(video_write(tmp_path / f"{preset}.mp4", clip, fps=25, preset=preset))
        psnr[preset] = 10 * np.log10(255**2 / np.mean((frames.astype(float) - clip) ** 2))
    assert psnr["veryfast"] > 33.0 and abs(psnr["veryfast"] - psnr["medium"]) < 1.5, psnr
    with pytest.raises(InputError, match="preset must be one of"):
        VideoWriter(tmp_path / "x.mp4", 25, preset="fastest")
    assert not (tmp_path / "x.mp4").exists()


def test_lossless_round_trip_is_exact(tmp_path, small_clip):
    path = video_write(tmp_path / "a.mp4", small_clip, fps=30, lossless=True)
    frames, fps = video_read(path)
    assert fps == pytest.approx(30)
    np.testing.assert_array_equal(frames, small_clip)


def test_ntsc_rate_and_odd_size(tmp_path):
    clip = moving_gradient_clip(t=7, h=37, w=51)
    path = video_write(tmp_path / "odd.mp4", clip, fps=30000 / 1001)
    info = video_info(path)
    assert info.fps == pytest.approx(29.97, abs=1e-3)
    assert (info.width, info.height, info.frame_count) == (51, 37, 7)
    frames, _ = video_read(path)
    assert np.abs(frames.astype(float) - clip).mean() < 3.0


def test_chunks_bounded_and_complete(tmp_path):
    clip = moving_gradient_clip(t=23)
    path = video_write(tmp_path / "c.mp4", clip, fps=10, lossless=True)
    reader = VideoReader(path, chunk_size=5)
    sizes = [len(c) for c in reader.chunks()]
    assert sizes == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate(list(reader.chunks())), clip)


def test_prefetch_reader_thread_same_chunks_and_stops(tmp_path):
    import threading

    clip = moving_gradient_clip(t=23)
    path = video_write(tmp_path / "c.mp4", clip, fps=10, lossless=True)
    reader = VideoReader(path, chunk_size=5)
    got = list(reader.chunks(prefetch=True))
    assert [len(c) for c in got] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate(got), clip)
    # a consumer that stops early stops the reader thread (and the source is closed)
    closed = []

    def source():
        try:
            for i in range(1000):
                yield i
        finally:
            closed.append(True)

    for i in prefetched(source()):
        if i == 3:
            break
    assert closed == [True]
    assert not any(t.name == "physio-reader" for t in threading.enumerate())


def test_prefetch_passes_errors_at_their_item():
    def source():
        yield 1
        yield 2
        raise VideoReadError("decoding failed at frame 3")

    seen = []
    with pytest.raises(VideoReadError, match="frame 3"):
        for i in prefetched(source()):
            seen.append(i)
    assert seen == [1, 2]


def test_time_range_and_resize(tmp_path):
    clip = moving_gradient_clip(t=30)
    path = video_write(tmp_path / "t.mp4", clip, fps=10, lossless=True)
    reader = VideoReader(path, start_s=1.0, end_s=2.5)
    assert reader.frame_count == 15 and reader.duration_s == pytest.approx(1.5)
    np.testing.assert_array_equal(reader.read_all(), clip[10:25])
    small = VideoReader(path, size=(32, 24)).read_all()
    assert small.shape == (30, 24, 32, 3)
    with pytest.raises(InputError, match="empty time range"):
        VideoReader(path, start_s=5.0)


def test_real_clip_properties(shared_data):
    info = video_info(shared_data / "evm_mit" / "face.mp4")
    assert (info.width, info.height) == (528, 592)
    assert info.fps == pytest.approx(30, abs=0.05)
    assert info.frame_count == 301
    reader = VideoReader(shared_data / "evm_mit" / "face.mp4", chunk_size=64, end_s=3.0)
    n = sum(len(c) for c in reader.chunks())
    assert n == 90


def test_avi_mjpeg_real_clip(shared_data):
    reader = VideoReader(shared_data / "synthetic_known_freq" / "square_4Hz_2000px.avi", chunk_size=100)
    first = next(iter(reader.chunks()))
    assert first.shape[1:] == (200, 200, 3)
    assert reader.fps == pytest.approx(24, abs=0.1)


# -- bad input --------------------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(VideoReadError, match="no such file"):
        video_info(tmp_path / "nope.mp4")


def test_empty_file(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(VideoReadError, match="empty file"):
        video_info(p)


def test_corrupt_file(tmp_path):
    p = tmp_path / "junk.mp4"
    p.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoReadError, match="cannot open|corrupt|no video"):
        VideoReader(p).read_all()


def test_truncated_file(tmp_path, small_clip):
    good = video_write(tmp_path / "g.mp4", np.concatenate([small_clip] * 3), fps=25)
    data = good.read_bytes()
    bad = tmp_path / "truncated.mp4"
    bad.write_bytes(data[: len(data) // 3])  # moov atom at the end is lost
    with pytest.raises(VideoReadError):
        VideoReader(bad).read_all()


def test_no_video_stream(tmp_path):
    import av

    p = tmp_path / "audio.mkv"
    with av.open(str(p), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    with pytest.raises(VideoReadError, match="no video stream"):
        video_info(p)


def test_fps_override(tmp_path, small_clip):
    path = video_write(tmp_path / "a.mp4", small_clip, fps=25)
    assert VideoReader(path, fps=600).fps == 600
    with pytest.raises(InputError, match="positive"):
        video_info(path, fps=0)


def test_unsupported_output_and_no_partial_file(tmp_path, small_clip):
    with pytest.raises(VideoWriteError, match="unsupported output type"):
        VideoWriter(tmp_path / "out.gif", fps=25)
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(target, fps=25) as w:
            w.write(small_clip[:5])
            raise RuntimeError("interrupted")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_writer_rejects_float_and_size_change(tmp_path, small_clip):
    with VideoWriter(tmp_path / "x.mp4", fps=10) as w:
        with pytest.raises(InputError, match="uint8"):
            w.write(small_clip.astype(np.float32))
        w.write(small_clip[:2])
        with pytest.raises(InputError, match="size changed"):
            w.write(small_clip[:2, :20])
    with pytest.raises(VideoWriteError, match="no frames"):
        VideoWriter(tmp_path / "y.mp4", fps=10).close()
    assert not (tmp_path / "y.mp4").exists()


def test_cli_bad_video_exits_nonzero(tmp_path, capsys):
    # `physio cohort import-ubfc` reads videos; a missing folder must give a one-line error, exit 2
    rc = main(["cohort", "info", str(tmp_path / "missing.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("physio: error:") and err.count("\n") == 1
