"""`physio live`: sliding-window estimates from a file played live, a lost face, no camera, no display."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from physio.cli import main
from physio.io import VideoReader

PHYSIO = [sys.executable, "-m", "physio.cli"]


@pytest.mark.slow
def test_live_file_realtime_headless_json(shared_data):
    """face.mp4 (10 s, MIT's pulse band 50-60 bpm) played at its frame rate: with the default 10 s window one
    estimate at its end; with a 6 s window one a second after the first window, all in the band."""
    face = str(shared_data / "evm_mit" / "face.mp4")
    for window, expected in (("10", 1), ("6", 5)):
        r = subprocess.run(PHYSIO + ["live", "--file", face, "--realtime", "--headless", "--json",
                                     "--hr-window", window], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        assert len(lines) == expected, r.stdout
        assert {"t", "hr_bpm", "br_bpm", "quality", "face_box", "latency_ms"} <= set(lines[0])
        ts = np.array([e["t"] for e in lines])
        assert ts[0] == pytest.approx(float(window) - 1 / 30, abs=0.05)
        assert np.allclose(np.diff(ts), 1.0, atol=0.05)  # one estimate a second of video
        assert all(50 <= e["hr_bpm"] <= 60 and e["quality"]["hr_db"] > 0 for e in lines), lines
        assert all(0 <= e["latency_ms"] < 1000 for e in lines)
        assert all(len(e["face_box"]) == 4 for e in lines)
        assert "estimates, latency median" in r.stderr and "W0000" not in r.stderr


def test_live_lost_face_says_so_and_recovers(shared_data):
    """Four seconds of an empty grey frame in the middle of face.mp4: the estimates there say "no face"
    (no number), and the heart rate comes back once the face is back for half a window."""
    from physio.rates.live import LiveFrame, LiveRates

    frames = np.concatenate(list(VideoReader(shared_data / "evm_mit" / "face.mp4", end_s=8.0).chunks()))
    grey = np.full((120, *frames.shape[1:]), 128, np.uint8)
    video = np.concatenate([frames, grey, frames])
    out = []
    with LiveRates(30.0, hr_window_s=4.0, br_window_s=10.0) as live:
        for i, img in enumerate(video):
            est = live.push(LiveFrame(img, i / 30.0, 0.0))
            if est is not None:
                out.append(est)
        assert len(live._rgb) == live.hr_n and len(live._dy) == live.br_n  # bounded buffers
    # the tracker holds a lost face for 1 s; a window needs half its frames with a face
    lost = [e for e in out if 8.0 + 1.0 + 2.0 < e["t"] < 12.0]
    back = [e for e in out if e["t"] > 12.0 + 3.0]
    before = [e for e in out if e["t"] < 8.0]
    assert lost and all(e["hr_bpm"] is None and e["status"] == "no face" and e["face_box"] is None for e in lost)
    assert before and back and all(45 <= e["hr_bpm"] <= 65 for e in before + back), [e["hr_bpm"] for e in out]


def test_live_without_a_camera_or_display(tmp_path, capsys, monkeypatch):
    assert main(["live", "--camera", "7", "--headless"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["physio: error: cannot open camera 7 (no such device, or it is busy / not permitted)"]
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["live", "--file", str(tmp_path / "x.mp4")]) == 2
    assert "use --headless" in capsys.readouterr().err
    assert main(["live", "--camera", "0", "--realtime", "--headless"]) == 2  # --realtime is for files


@pytest.mark.slow
def test_live_two_faces_side_by_side(shared_data, tmp_path):
    """face.mp4 beside woman.mp4 played live: every line lists both faces with stable ids, and each face's
    last estimate matches the same clip played alone within 2 bpm."""
    from helpers import side_by_side_clips
    from physio.rates.live import LiveFaces, LiveRates, file_frames

    alone, both = side_by_side_clips([shared_data / "evm_mit" / "face.mp4",
                                      shared_data / "motion_mag_other" / "woman.mp4"], tmp_path)
    singles = []
    for clip in alone:
        fps, frames = file_frames(clip)
        with LiveRates(fps, hr_window_s=6.0) as live:
            singles.append({e["t"]: e for e in (live.push(f) for f in frames) if e is not None})
    fps, frames = file_frames(both)
    with LiveFaces(fps, hr_window_s=6.0) as live:
        lines = [e for e in (live.push(f) for f in frames) if e is not None]
    assert len(lines) >= 3 and all(len(line["faces"]) == 2 for line in lines[1:])
    assert all({f["id"] for f in line["faces"]} == {0, 1} for line in lines[1:])
    last = sorted(lines[-1]["faces"], key=lambda f: f["face_box"][0])  # face.mp4 on the left
    for face, single in zip(last, singles):
        # a face found after the first scan starts its window later: compare the windows ending together
        alone_hr = single[face["t"]]["hr_bpm"]
        print(f"face {face['id']} at {face['t']} s: {face['hr_bpm']} bpm, alone {alone_hr} bpm")
        assert abs(face["hr_bpm"] - alone_hr) <= 2.0
    assert lines[-1]["hr_bpm"] == lines[-1]["faces"][0]["hr_bpm"]  # the top level is the largest face


def test_window_drawings():
    """What the window shows, drawn on a frame: each face's box and numbers, the waveform along the bottom."""
    from physio.roi.overlay import live_faces_overlay

    frame = np.full((240, 320, 3), 90, np.uint8)
    line = {"faces": [{"id": 0, "hr_bpm": 61.0, "br_bpm": None, "face_box": [20, 40, 120, 160], "region": [0, 0, 160, 240]},
                      {"id": 1, "hr_bpm": None, "br_bpm": None, "face_box": None, "region": [160, 0, 320, 240]}]}
    wave = np.sin(np.linspace(0, 12, 300))
    img = live_faces_overlay(frame, line, wave)
    assert img.shape == frame.shape and not np.shares_memory(img, frame)
    assert (img[100, 20] != 90).any() and (img[100, 119] != 90).any()  # the box's left and right sides
    assert (img[200:, :] != 90).any(axis=2).sum() > 200  # the waveform
    assert (img[:40, 160:] != 90).any()  # "#1 no face" written in its region
    assert np.array_equal(live_faces_overlay(frame, None, None)[100:], frame[100:])  # before the first line
