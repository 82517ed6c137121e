"""HDF5 cohorts: round trip, lazy reads, splits, check, info, importers, export."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from helpers import moving_gradient_clip
from physio.cli import main
from physio.cohort import (
    Cohort,
    CohortWriter,
    cohort_check,
    cohort_info,
    import_mtts,
    import_ubfc,
    split_by_time,
    split_holdout,
    split_kfold,
)
from physio.errors import CohortSchemaError, InputError
from physio.io import video_read, video_write


def make_cohort(path, n_participants=3, tasks=("A", "B"), t=24, fps=12.0):
    """A tiny valid cohort with known contents; returns the frames per session key."""
    frames = {}
    with CohortWriter(path, description="test") as w:
        for i in range(n_participants):
            for j, task in enumerate(tasks):
                clip = moving_gradient_clip(t=t, h=20, w=24, seed=10 * i + j)
                fs = 4 * fps
                n_sig = int(t / fps * fs)
                ts = np.arange(n_sig) / fs
                w.add_session(
                    f"p{i:02d}", task, fps=fps, task=task, frames=iter([clip[:10], clip[10:]]),
                    pulse=np.sin(2 * np.pi * 1.2 * ts), pulse_fs=fs,
                    resp=np.sin(2 * np.pi * 0.25 * ts), resp_fs=fs,
                    participant_attrs={"skin_type": 1 + i, "hr_bpm": 72.0},
                    videos={"pulse_x10": clip}, masks={"skin": clip[..., 0] > 128},
                )
                frames[f"p{i:02d}/{task}"] = clip
    return frames


def test_round_trip_and_lazy_reads(tmp_path):
    path = tmp_path / "c.h5"
    frames = make_cohort(path)
    with Cohort(path) as c:
        assert c.participants == ["p00", "p01", "p02"]
        assert len(c) == 6
        assert c.format_version == "1.0"
        s = c["p01/B"]
        assert s.task == "B" and s.fps == 12.0 and s.n_frames == 24 and s.frame_size == (24, 20)
        assert s.participant_attrs["skin_type"] == 2
        assert isinstance(s.group["frames"], h5py.Dataset)  # still on disk
        assert s.group["frames"].chunks[0] <= 16 and s.group["frames"].compression == "gzip"
        np.testing.assert_array_equal(s.read_frames(5, 9), frames["p01/B"][5:9])
        np.testing.assert_array_equal(np.concatenate(list(s.iter_frames(chunk=7))), frames["p01/B"])
        np.testing.assert_array_equal(s.read_frames(0, 3, video="pulse_x10"), frames["p01/B"][:3])
        assert s.pulse_fs == 48.0 and len(s.pulse) == 96
        assert s.signal_at_frames("resp").shape == (24,)
        assert s.mask("skin").dtype == bool
        assert [x.key for x in c.sessions(task="A")] == ["p00/A", "p01/A", "p02/A"]
        with pytest.raises(InputError, match="bad frame range"):
            s.read_frames(30, 40)
    assert cohort_check(path) == []


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "c.h5"
    with pytest.raises(RuntimeError):
        with CohortWriter(path) as w:
            w.add_session("p1", "s1", fps=10, frames=moving_gradient_clip(t=4), pulse=np.zeros(4), pulse_fs=10)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_rejects_bad_input(tmp_path):
    with CohortWriter(tmp_path / "c.h5") as w:
        with pytest.raises(InputError, match="name"):
            w.add_session("p 1", "s", fps=10, frames=moving_gradient_clip(t=2))
        with pytest.raises(InputError, match="exactly one"):
            w.add_session("p1", "s", fps=10)
        w.add_session("p1", "s", fps=10, frames=moving_gradient_clip(t=2), pulse=np.zeros(2), pulse_fs=10)
        with pytest.raises(InputError, match="already exists"):
            w.add_session("p1", "s", fps=10, frames=moving_gradient_clip(t=2))


def test_open_errors(tmp_path):
    with pytest.raises(CohortSchemaError, match="no such file"):
        Cohort(tmp_path / "x.h5")
    (tmp_path / "bad.h5").write_text("not hdf5")
    with pytest.raises(CohortSchemaError, match="not a readable HDF5"):
        Cohort(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "other.h5", "w") as h:
        h.attrs["format"] = "something-else"
    with pytest.raises(CohortSchemaError, match="not a physio cohort"):
        Cohort(tmp_path / "other.h5")


# -- splits -----------------------------------------------------------------------------------------
PEOPLE = [f"p{i:02d}" for i in range(23)]


def test_holdout_disjoint_deterministic():
    a = split_holdout(PEOPLE, 0.2, seed=7, val_fraction=0.1)
    b = split_holdout(list(reversed(PEOPLE)), 0.2, seed=7, val_fraction=0.1)
    assert a == b
    parts = [set(a[k].participants) for k in ("train", "val", "test")]
    assert sum(map(len, parts)) == 23 and set().union(*parts) == set(PEOPLE)
    assert all(not (x & y) for i, x in enumerate(parts) for y in parts[i + 1 :])
    assert len(a["test"].participants) == 5 and len(a["val"].participants) == 2
    assert split_holdout(PEOPLE, 0.2, seed=8)["test"] != split_holdout(PEOPLE, 0.2, seed=7)["test"]
    with pytest.raises(InputError):
        split_holdout(["a"], 0.5)


def test_kfold_covers_each_participant_once():
    folds = split_kfold(PEOPLE, k=5, seed=3)
    tests = [set(f["test"].participants) for f in folds]
    assert sorted(p for t in tests for p in t) == sorted(PEOPLE)
    assert max(map(len, tests)) - min(map(len, tests)) <= 1
    for f in folds:
        assert not set(f["train"].participants) & set(f["test"].participants)
    assert split_kfold(PEOPLE, 5, seed=3) == folds
    with pytest.raises(InputError):
        split_kfold(PEOPLE, k=1)


def test_split_by_time():
    s = split_by_time(["p1/A", "p2/A"], 0.25)
    assert s["train"].frame_ranges["p1/A"] == (0.0, 0.75)
    assert s["test"].frame_ranges["p2/A"] == (0.75, 1.0)


# -- check catches each corruption ----------------------------------------------------------------
CORRUPTIONS = {
    "nan": (lambda g: g["pulse"].__setitem__(3, np.nan), "NaN/inf"),
    "fs": (lambda g: g["pulse"].attrs.__setitem__("fs", 30.0), "timestamps give"),
    "missing_times": (lambda g: g.__delitem__("frame_times"), "missing frame_times"),
    "length": (lambda g: g.attrs.__setitem__("n_frames", 30), "n_frames = 30"),
    "short_signal": (lambda g: (g.__delitem__("resp"), g.__delitem__("resp_times"),
                                g.create_dataset("resp", data=np.zeros(10)).attrs.__setitem__("fs", 48.0),
                                g.create_dataset("resp_times", data=np.arange(10) / 48.0)), "covers"),
    "no_task": (lambda g: g.attrs.__delitem__("task"), "missing attribute 'task'"),
    "times_len": (lambda g: (g.__delitem__("pulse_times"), g.create_dataset("pulse_times", data=np.arange(5.0))), "pulse_times has 5"),
    "no_signal": (lambda g: [g.__delitem__(k) for k in ("pulse", "pulse_times", "resp", "resp_times")], "neither a pulse"),
    "video_shape": (lambda g: (g["videos"].__delitem__("pulse_x10"), g["videos"].create_dataset("pulse_x10", data=np.zeros((3, 20, 24, 3), np.uint8))), "video 'pulse_x10'"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_check_catches(tmp_path, name):
    path = tmp_path / "c.h5"
    make_cohort(path, n_participants=2, tasks=("A",))
    corrupt, expected = CORRUPTIONS[name]
    with h5py.File(path, "a") as h:
        corrupt(h["participants/p01/sessions/A"])
    problems = cohort_check(path)
    assert problems, name
    assert any(p.where == "p01/A" and expected in p.message for p in problems), [str(p) for p in problems]
    assert not any(p.where.startswith("p00") for p in problems)
    assert main(["cohort", "check", str(path)]) == 1


def test_check_empty_participant_and_format(tmp_path):
    path = tmp_path / "c.h5"
    make_cohort(path, n_participants=1, tasks=("A",))
    with h5py.File(path, "a") as h:
        h["participants"].create_group("ghost").create_group("sessions")
        h.attrs["format"] = "nope"
    msgs = [str(p) for p in cohort_check(path)]
    assert any("ghost: participant has no sessions" in m for m in msgs)
    assert any("format attribute" in m for m in msgs)


# -- info / CLI -------------------------------------------------------------------------------------
def test_info_and_cli_json(tmp_path, capsys):
    path = tmp_path / "c.h5"
    make_cohort(path)
    info = cohort_info(path)
    assert info["n_participants"] == 3 and info["n_sessions"] == 6 and info["tasks"] == {"A": 3, "B": 3}
    assert info["hours"] == pytest.approx(6 * 2.0 / 3600, abs=1e-4)
    assert main(["cohort", "info", str(path), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert len(obj["sessions"]) == 6
    for item in obj["sessions"]:
        assert {"participant", "session", "task", "frames", "fps"} <= set(item)
    assert main(["cohort", "check", str(path)]) == 0
    assert main(["cohort", "info", str(path)]) == 0
    assert "participants: 3" in capsys.readouterr().out


# -- export -----------------------------------------------------------------------------------------
def test_export(tmp_path, capsys):
    path = tmp_path / "c.h5"
    frames = make_cohort(path, n_participants=1, tasks=("A",))
    assert main(["cohort", "export", str(path), "p00/A", str(tmp_path / "out"), "--lossless"]) == 0
    video, fps = video_read(tmp_path / "out" / "video.mp4")
    assert fps == pytest.approx(12.0)
    np.testing.assert_array_equal(video, frames["p00/A"])
    df = pd.read_csv(tmp_path / "out" / "signals.csv")
    assert list(df.columns) == ["time_s", "pulse", "resp"] and len(df) == 24
    np.testing.assert_allclose(df["pulse"], np.sin(2 * np.pi * 1.2 * df["time_s"]), atol=1e-4)
    assert main(["cohort", "export", str(path), "p00/Z", str(tmp_path / "o2")]) == 2


# -- importers --------------------------------------------------------------------------------------
def _ubfc_folder(root, n=2, t=30, fps=15.0):
    for i in range(1, n + 1):
        d = root / f"subject{i}"
        d.mkdir(parents=True)
        video_write(d / "vid.mp4", moving_gradient_clip(t=t, seed=i), fps=fps, lossless=True)
        (d / "vid.mp4").rename(d / "vid.avi")  # the layout's name; FFmpeg reads by content
        ts = 0.5 + np.arange(t) / fps  # UBFC timestamps need not start at 0
        ppg = np.sin(2 * np.pi * 1.1 * ts)
        hr = np.full(t, 66.0)
        (d / "ground_truth.txt").write_text("\n".join(" ".join(f"{v:.6e}" for v in row) for row in (ppg, hr, ts)))
    return root


@pytest.mark.parametrize("embed", [False, True])
def test_import_ubfc(tmp_path, embed):
    src = _ubfc_folder(tmp_path / "ubfc")
    out = tmp_path / "u.h5"
    keys = import_ubfc(src, out, embed=embed)
    assert keys == ["subject1/s01", "subject2/s01"]
    assert cohort_check(out) == []
    with Cohort(out) as c:
        s = c["subject2/s01"]
        assert s.n_frames == 30 and s.fps == pytest.approx(15.0) and s.has_embedded_frames == embed
        assert s.pulse_fs == pytest.approx(15.0) and s.pulse_times[0] == 0.0
        np.testing.assert_array_equal(s.read_frames(3, 6), moving_gradient_clip(t=30, seed=2)[3:6])
        assert s.participant_attrs["mean_hr_bpm"] == 66.0


def test_import_ubfc_reference_checksum(tmp_path):
    src = _ubfc_folder(tmp_path / "ubfc", n=1)
    out = tmp_path / "u.h5"
    import_ubfc(src, out)
    with open(src / "subject1" / "vid.avi", "ab") as fh:
        fh.write(b"tampered")
    assert any("checksum" in p.message for p in cohort_check(out))


def test_import_ubfc_cli_errors(tmp_path):
    assert main(["cohort", "import-ubfc", str(tmp_path), str(tmp_path / "x.h5")]) == 2
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("kind", ["h5", "mat5", "mat73"])
def test_import_mtts(tmp_path, kind):
    r = np.random.default_rng(0)
    x = r.normal(size=(40, 36, 36, 6)).astype(np.float32)
    y = r.normal(size=(40, 1))
    z = r.normal(size=(40, 1))
    if kind == "h5":
        p = tmp_path / "P3T1_video.h5"
        with h5py.File(p, "w") as h:
            h["dXsub"], h["dysub"], h["drsub"] = x, y, z
    elif kind == "mat5":
        p = tmp_path / "P3T1_video.mat"
        scipy.io.savemat(p, {"dXsub": x, "dysub": y, "drsub": z})
    else:  # MATLAB v7.3: HDF5 with a 512-byte user block, arrays stored with reversed axes
        p = tmp_path / "P3T1_video.mat"
        with h5py.File(p, "w", userblock_size=512) as h:
            h["dXsub"], h["dysub"], h["drsub"] = x.T, y.T, z.T
    out = tmp_path / "m.h5"
    assert import_mtts([p], out, fps=30) == ["P3/P3T1_video"]
    assert cohort_check(out) == []
    with Cohort(out) as c:
        s = c["P3/P3T1_video"]
        np.testing.assert_allclose(s.group["cache/mtts_can/motion"][()], x[..., :3])
        np.testing.assert_allclose(s.group["cache/mtts_can/appearance"][()], x[..., 3:])
        np.testing.assert_allclose(s.pulse, y[:, 0])
        np.testing.assert_allclose(s.resp, z[:, 0])
        assert s.group["pulse"].attrs["kind"] == "derivative"


def test_import_mtts_rejects_bad_files(tmp_path):
    p = tmp_path / "x.h5"
    with h5py.File(p, "w") as h:
        h["dXsub"] = np.zeros((5, 36, 36, 6))
    with pytest.raises(CohortSchemaError, match="needs dXsub and dysub"):
        import_mtts([p], tmp_path / "o.h5")
    assert not (tmp_path / "o.h5").exists()
