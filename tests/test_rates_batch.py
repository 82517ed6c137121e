"""`physio rates --batch`: one row per video, failures recorded, resumable, parallel (issue #23)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import pulsing_frames

from physio.cli import main
from physio.io import video_write
from physio.rates.batch import COLUMNS, expand_videos, run_batch

HRS = {"a.mp4": 66.0, "b.mp4": 90.0}
OPTS = dict(method="pos", resp_method="motion", roi="full", progress=False)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    d = tmp_path_factory.mktemp("study")
    for name, hr in HRS.items():
        frames, _ = pulsing_frames(hr, 12.0, 30.0, h=32, w=40, amp=4.0, seed=int(hr))
        video_write(d / name, frames, fps=30.0, crf=10)
    (d / "broken.mp4").write_bytes(b"not a video")
    (d / "notes.txt").write_text("ignored: not a video suffix")
    return d


def _table(path):
    df = pd.read_csv(path) if str(path).endswith(".csv") else pd.read_parquet(path)
    return df.drop(columns=["wall_s"])


def test_one_row_per_video_and_a_failure_is_recorded(study, tmp_path):
    rows = run_batch([str(study)], tmp_path / "r.csv", **OPTS)
    assert [r["video"].rsplit("/", 1)[-1] for r in rows] == ["a.mp4", "b.mp4", "broken.mp4"]
    for r in rows[:2]:
        assert abs(r["hr_bpm"] - HRS[r["video"].rsplit("/", 1)[-1]]) < 2 and r["error"] is None
        assert r["valid_fraction"] == 1.0 and r["hr_level"] == "high"
    assert rows[2]["hr_bpm"] is None and "cannot open as a video" in rows[2]["error"]
    df = pd.read_csv(tmp_path / "r.csv")
    assert list(df.columns) == list(COLUMNS) and len(df) == 3


def test_a_killed_batch_resumes_to_the_same_table(study, tmp_path):
    full = tmp_path / "full.csv"
    run_batch([str(study)], full, **OPTS)
    part = tmp_path / "part.csv"
    pd.read_csv(full).iloc[:1].to_csv(part, index=False)  # what a run killed after its first video leaves
    first_wall = pd.read_csv(part)["wall_s"][0]
    run_batch([str(study)], part, **OPTS)
    pd.testing.assert_frame_equal(_table(part), _table(full))
    assert pd.read_csv(part)["wall_s"][0] == first_wall  # the finished video was not measured again
    run_batch([str(study)], part, **{**OPTS, "method": "chrom"})  # other options: measured again
    assert (pd.read_csv(part)["method"].iloc[:2] == "chrom").all()


def test_parquet_and_two_workers_give_the_same_table(study, tmp_path):
    run_batch([str(study / "*.mp4")], tmp_path / "one.csv", **OPTS)
    run_batch([str(study / "*.mp4")], tmp_path / "two.parquet", workers=2, **OPTS)
    a, b = _table(tmp_path / "one.csv"), _table(tmp_path / "two.parquet")
    assert list(a["video"]) == list(b["video"])
    pd.testing.assert_series_equal(a["hr_bpm"], b["hr_bpm"], check_dtype=False)


def test_cli_batch(study, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    rc = main(["rates", str(study / "a.mp4"), str(study / "broken.mp4"), "--batch", "-o", str(out), "--method",
               "pos", "--resp-method", "motion", "--roi", "full", "--json", "-q"])
    captured = capsys.readouterr()
    assert rc == 0 and json.loads(captured.out) == {"results": str(out), "videos": 2, "failed": 1}
    assert "broken.mp4" in captured.err
    assert main(["rates", str(study / "a.mp4"), str(study / "b.mp4"), "-q"]) == 2
    assert "--batch" in capsys.readouterr().err
    assert [p.name for p in expand_videos([str(study)])] == ["a.mp4", "b.mp4", "broken.mp4"]


@pytest.mark.slow
def test_ray_engine_gives_the_same_table(study, tmp_path):
    """The batch on Ray: a local cluster started for the run, and a cluster started beforehand with `ray
    start --head` on loopback and reached by its address; both give the local table."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("ray")
    run_batch([str(study)], tmp_path / "local.csv", **OPTS)
    run_batch([str(study)], tmp_path / "ray.csv", engine="ray", workers=2, **OPTS)
    local = _table(tmp_path / "local.csv")
    pd.testing.assert_frame_equal(local, _table(tmp_path / "ray.csv"))
    ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    port = "6391"
    env = {"RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0"}
    start = subprocess.run([ray_cli, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", port,
                            "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"],
                           capture_output=True, text=True, timeout=300, env={**__import__("os").environ, **env})
    assert start.returncode == 0, start.stderr[-2000:]
    try:
        rc = main(["rates", str(study), "--batch", "-o", str(tmp_path / "cluster.csv"), "--engine", "ray",
                   "--address", f"127.0.0.1:{port}", "--workers", "2", "--method", "pos", "--resp-method", "motion",
                   "--roi", "full", "-q"])
        assert rc == 0
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=300)
    pd.testing.assert_frame_equal(local, _table(tmp_path / "cluster.csv"))
