"""`physio rates` end to end: JSON contract, outputs, truth scoring, clear failures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import pulsing_frames
from physio.cli import main
from physio.io import video_write
from physio.nets.weights import models_dir


@pytest.fixture(scope="module")
def pulsing_video(tmp_path_factory):
    d = tmp_path_factory.mktemp("v")
    frames, pulse = pulsing_frames(84, 20.0, 15.0, h=48, w=64, amp=3.0)
    path = video_write(d / "pulse.mp4", frames, fps=15.0, lossless=True)
    t = np.arange(len(frames)) / 15.0
    pd.DataFrame({"time_s": t, "pulse": pulse}).to_csv(d / "truth.csv", index=False)
    return path, d / "truth.csv"


def test_rates_pos_full_frame_json_and_outputs(pulsing_video, tmp_path, capsys):
    video, truth = pulsing_video
    rc = main(["rates", str(video), "--method", "pos", "--resp-method", "motion", "--roi", "full", "--json",
               "-q", "-o", str(tmp_path / "o"), "--truth", str(truth)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert {"hr_bpm", "br_bpm", "hr_series", "br_series", "method", "fps"} <= set(out)
    assert out["method"] == "pos" and out["fps"] == pytest.approx(15.0)
    assert abs(out["hr_bpm"] - 84) < 2
    assert all({"t", "value", "quality"} == set(s) for s in out["hr_series"])
    assert all(s["quality"] > 3 for s in out["hr_series"])  # a clean synthetic pulse: a clear peak (dB)
    assert out["valid_fraction"] == 1.0 and out["confidence"]["hr"]["level"] == "high", out["confidence"]
    assert out["truth"]["hr"]["abs_error"] < 2
    for name in ("waveforms.csv", "series.csv", "rates.png", "beats.csv", "hrv.csv"):
        assert (tmp_path / "o" / name).stat().st_size > 0
    # a sinusoid at 84 bpm: one beat a period, intervals of 714 ms with no variability; what RMSSD there is
    # is timing noise (15 fps: 67 ms a frame; measured 25 ms)
    hrv = out["hrv"]
    assert abs(hrv["mean_hr_bpm"] - 84) < 1 and hrv["rmssd_ms"] < 40 and hrv["n_ibi"] >= 20
    assert len(hrv["beats_s"]) == len(hrv["ibi_ms"]) + 1 == len(hrv["ibi_used"]) + 1
    beats = pd.read_csv(tmp_path / "o" / "beats.csv")
    assert len(beats) == len(hrv["beats_s"]) and np.allclose(beats["time_s"], hrv["beats_s"], atol=1e-3)
    table = pd.read_csv(tmp_path / "o" / "hrv.csv")
    assert table["window"].iloc[0] == "all" and table["rmssd_ms"].iloc[0] == pytest.approx(hrv["rmssd_ms"])
    assert out["faces"] == [] or len(out["faces"]) == 1  # --roi full: the whole frame, one entry


def test_rates_no_face_fails_clearly(tmp_path, capsys):
    noise = np.random.default_rng(0).integers(0, 255, (30, 64, 64, 3), dtype=np.uint8)
    video = video_write(tmp_path / "noise.mp4", noise, fps=10)
    rc = main(["rates", str(video), "--method", "pos", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[-1].startswith("physio: error:") and "face" in err[-1]


def test_rates_missing_video(tmp_path, capsys):
    assert main(["rates", str(tmp_path / "nope.mp4"), "-q"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.skipif(not (models_dir() / "pulse_cnn.pt").exists(), reason="shipped PulseNet not present")
def test_rates_cnn_on_mit_face(shared_data, capsys):
    """The real clip evm_mit/face.mp4: MIT's pulse band is 50–60 bpm."""
    import torch

    threads = torch.get_num_threads()
    try:
        rc = main(["rates", str(shared_data / "evm_mit" / "face.mp4"), "--json", "-q", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)  # --threads is process-wide: the rest of the suite keeps its own
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert 50 <= out["hr_bpm"] <= 60, out["hr_bpm"]
    assert out["threads"] == 1 and out["detect_every"] == {"face": 10, "torso": 30} and out["device"] == "cpu"
    # the tracker ran the detector on a few frames and followed the face by optical flow between
    status = out["roi_summary"]["face_status"]
    assert status["tracked"] > 5 * status["detected"], status


def test_rates_decode_the_video_once_per_stage(pulsing_video, monkeypatch):
    """ROI tracking needs the whole video first (the crop box is the union over it); after it, one
    decoding pass feeds both the pulse and the respiration estimators."""
    from physio.io import VideoReader
    from physio.rates.measure import measure_rates

    calls = []
    orig = VideoReader.chunks

    def counted(self, *a, **k):
        calls.append(1)
        return orig(self, *a, **k)

    monkeypatch.setattr(VideoReader, "chunks", counted)
    report, _ = measure_rates(pulsing_video[0], method="pos", resp_method="motion", roi="full", progress=False)
    assert len(calls) == 1 and report.hr_bpm == pytest.approx(84, abs=3)


@pytest.mark.skipif(not (models_dir() / "pulse_cnn.pt").exists(), reason="shipped PulseNet not present")
def test_rates_cnn_fast_heart_under_head_motion(tmp_path):
    """A 135-bpm heart (Fitzpatrick IV participant drawn from a seed no cohort used) under task C's
    30°/s head sweeps, at 320×240: the shipped PulseNet through the whole `physio rates` path
    (detector, box, network, rate).  Not the hardest case: darker or fainter fast hearts can still read
    at the motion residue, and which peak wins can flip with a few pixels of box (docs/evaluation.md)."""
    from dataclasses import replace

    from physio.rates.measure import measure_rates
    from physio.rates.waveform import reference_rate
    from physio.synth import participant_sample, synth_session

    p = replace(participant_sample(np.random.default_rng(2027), name="p001"), hr_bpm=135.0)
    s = synth_session(p, task="C", duration_s=20.0, size=(320, 240), seed=2027)
    video = video_write(tmp_path / "c.mkv", s.frames, fps=s.fps, lossless=True)
    report, _ = measure_rates(video, progress=False)
    truth = reference_rate(s.pulse, s.signal_fs, "pulse").rate_per_min
    print(f"fast heart, task C: truth {truth:.1f} bpm, PulseNet {report.hr_bpm:.1f} bpm")
    assert abs(report.hr_bpm - truth) < 3.0


def test_rates_reuses_a_given_track(tmp_path, monkeypatch):
    """A second method on the same video can take the first call's ROI track instead of detecting again:
    same boxes, same result as detecting afresh, no tracker run; a track of another length is refused."""
    import physio.rates.measure
    from physio.errors import InputError
    from physio.rates.measure import measure_rates
    from physio.synth import participant_sample, synth_session

    s = synth_session(participant_sample(np.random.default_rng(11), name="p001"), task="A", duration_s=6.0,
                      size=(160, 120), seed=11)
    video = video_write(tmp_path / "a.mkv", s.frames, fps=s.fps, lossless=True)
    first, arrays = measure_rates(video, method="pos", resp_method="motion", progress=False)
    fresh, _ = measure_rates(video, method="chrom", resp_method="motion", progress=False)
    runs = []
    detect = physio.rates.measure.roi_detect
    monkeypatch.setattr(physio.rates.measure, "roi_detect", lambda *a, **k: runs.append(1) or detect(*a, **k))
    reused, _ = measure_rates(video, method="chrom", resp_method="motion", progress=False, track=arrays["track"])
    assert runs == []  # the given track was used, not a new detection
    assert reused.extra["face_box"] == fresh.extra["face_box"] == first.extra["face_box"]
    assert reused.hr_bpm == fresh.hr_bpm and reused.br_bpm == fresh.br_bpm
    with pytest.raises(InputError, match="frames"):
        measure_rates(video, method="pos", resp_method="motion", progress=False, track=arrays["track"], end_s=3.0)


_RATES_MEMORY_SCRIPT = """
import sys
from physio.evaluation.memory import peak_rss_mb
from physio.rates.measure import measure_rates
report, _ = measure_rates(sys.argv[1], progress=False)
assert report.hr_bpm is not None
print(peak_rss_mb())
"""


@pytest.mark.skipif(not (models_dir() / "pulse_cnn.pt").exists(), reason="shipped PulseNet not present")
def test_rates_memory_does_not_grow_with_the_video(shared_data, tmp_path):
    """`physio rates` (face and torso tracking, PulseNet, RespNet) on face.mp4 at half size looped to n and
    2n frames: the peak RSS (the child's own VmHWM: not ru_maxrss, which carries this pytest process's
    RSS across the child's exec) differs by < 64 MB (chunks are streamed; per frame only boxes,
    landmarks and a few scalars are kept, ~1 KB)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from physio.io import VideoReader

    src = shared_data / "evm_mit" / "face.mp4"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    frames = VideoReader(src, size=(264, 296)).read_all()
    loop = np.concatenate([frames, frames[::-1][1:-1]])  # forward and back: no jump
    del frames
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    peaks = []
    for n in (1200, 2400):  # past the first 512 frames that set the input scale
        clip = np.concatenate([loop] * (n // len(loop) + 1))[:n]
        path = video_write(tmp_path / f"loop{n}.mp4", clip, fps=30)
        del clip
        res = subprocess.run([sys.executable, "-c", _RATES_MEMORY_SCRIPT, str(path)], capture_output=True,
                             text=True, env=env, timeout=600)
        assert res.returncode == 0, res.stderr[-2000:]
        peaks.append(float(res.stdout.strip().splitlines()[-1]))
    print(f"physio rates peak RSS: {peaks[0]:.0f} MB at 1200 frames, {peaks[1]:.0f} MB at 2400")
    # MediaPipe/torch allocations vary by ~25 MB run to run; 1200 more frames held would be ~280 MB
    assert abs(peaks[1] - peaks[0]) < 64.0, peaks
