"""Peak memory does not grow with the video's length: `physio roi`, `physio synth` and `physio compare`
on videos, each at n and 2n frames (`rates` and `magnify`: tests/test_rates_cli.py,
tests/test_deepmag.py, tests/test_magnify_classical.py).

Each command runs in its own interpreter (``physio.cli.main``) that prints its own peak RSS (VmHWM: not
``ru_maxrss``, which carries this pytest process's RSS across the child's exec)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from physio.io import VideoReader, video_write

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import sys
from physio.cli import main
rc = main(sys.argv[1:])
from physio.evaluation.memory import peak_rss_mb
print(peak_rss_mb())
sys.exit(rc)
"""


def _peak_mb(args: list[str]) -> float:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True, env=env, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    return float(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def face_loops(shared_data, tmp_path_factory):
    """face.mp4 at half size, played forward and back, as 300-, 600- and 1200-frame clips (10–40 s)."""
    src = shared_data / "evm_mit" / "face.mp4"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    frames = VideoReader(src, size=(264, 296)).read_all()
    loop = np.concatenate([frames, frames[::-1][1:-1]])
    out = tmp_path_factory.mktemp("loops")
    paths = {}
    for n in (300, 600, 1200):
        clip = np.concatenate([loop] * (n // len(loop) + 1))[:n]
        paths[n] = video_write(out / f"face{n}.mp4", clip, fps=30)
    return paths


def test_roi_memory_is_flat(face_loops, tmp_path):
    """The overlay video and the per-frame CSV are streamed: 600 more frames held would be ~140 MB."""
    peaks = [_peak_mb(["roi", str(face_loops[n]), "-o", str(tmp_path / f"roi{n}"), "-q"]) for n in (600, 1200)]
    print(f"physio roi peak RSS: {peaks[0]:.0f} MB at 600 frames, {peaks[1]:.0f} MB at 1200")
    assert abs(peaks[1] - peaks[0]) < 64.0, peaks


def test_compare_on_videos_memory_is_flat(face_loops, tmp_path):
    """`physio compare VIDEO` (EVM at a fixed factor on the pulse band, its scores and figures)
    streams the method's output; 300 more frames at 264×296 held as floats would be ~280 MB (300 and
    600 frames: its per-frame SSIM makes it the slowest command here, ~25 s per 600 frames).
    (The calibration pass runs the same streamed magnifiers: tests/test_compare.py.)"""
    peaks = [_peak_mb(["compare", str(face_loops[n]), "--source", "pulse", "--methods", "evm", "--factors", "evm=30", "-o",
                       str(tmp_path / f"cmp{n}"), "-q"]) for n in (300, 600)]
    print(f"physio compare peak RSS: {peaks[0]:.0f} MB at 300 frames, {peaks[1]:.0f} MB at 600")
    assert abs(peaks[1] - peaks[0]) < 64.0, peaks


def test_synth_memory_is_flat(tmp_path):
    """A session is rendered and written to the HDF5 file in chunks: 20 s more of one 160×120 session
    (frames, masks, signals) held would be ~90 MB."""
    peaks = [_peak_mb(["synth", str(tmp_path / f"c{d}.h5"), "--participants", "1", "--tasks", "A", "--duration",
                       str(d), "--size", "160x120", "--seed", "3", "-q"]) for d in (20, 40)]
    print(f"physio synth peak RSS: {peaks[0]:.0f} MB at 20 s, {peaks[1]:.0f} MB at 40 s")
    assert abs(peaks[1] - peaks[0]) < 48.0, peaks
