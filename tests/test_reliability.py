"""Reliability and security, as a hostile or careless user would try it (issue #24; the slow cases —
kills mid-write, kill-and-resume, memory — are in ``benchmarks/reliability.py``).

Every case asserts the exit code, that an error is one line naming the problem, that no partial or
unexpected file is left, and that no input file's hash changes.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from helpers import pulsing_cohort, pulsing_frames
from physio.cli import main
from physio.io import video_write


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _run(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(err: str, *needles: str) -> None:
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and "warning" not in ln and "%|" not in ln
             and not ln.startswith(("W0000", "I0000", "INFO:", "WARNING: All log"))]
    assert len(lines) == 1, err
    assert "error" in lines[0] and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).rglob("*") if ".partial-" in p.name or ".shards-" in p.name)


@pytest.fixture(scope="module")
def pulse_video(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("vid")
    frames, _ = pulsing_frames(72, 8.0, 30.0, h=48, w=64)
    return video_write(d / "pulse.mp4", frames, fps=30.0, crf=10)


# -- bad videos -----------------------------------------------------------------------------------
def _bad_video(kind: str, d: Path, good: Path) -> Path:
    if kind == "zero-byte":
        p = d / "empty.mp4"
        p.write_bytes(b"")
    elif kind == "text":
        p = d / "notes.mp4"
        p.write_text("this is not a video\n" * 50)
    elif kind == "truncated":
        p = d / "cut.mp4"
        p.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    elif kind == "folder":
        p = d / "folder.mp4"
        p.mkdir()
    elif kind == "missing":
        p = d / "missing.mp4"
    elif kind == "one-frame":
        p = video_write(d / "one.mp4", pulsing_frames(72, 1 / 30, 30.0, h=48, w=64)[0], fps=30.0)
    elif kind == "2x2":
        p = video_write(d / "tiny.mkv", np.full((60, 2, 2, 3), 128, np.uint8), fps=30.0, lossless=True)
    elif kind == "half-second":
        p = video_write(d / "short.mp4", pulsing_frames(72, 0.5, 30.0, h=48, w=64)[0], fps=30.0)
    else:
        raise AssertionError(kind)
    return p


USABLE = {("magnify", "half-second"), ("roi", "one-frame"), ("roi", "2x2"), ("roi", "half-second"),
          ("rates", "2x2")}  # rates on 2x2 whole frames: the HR, and no BR with its reason
"""Short or tiny videos that a command can still process (`roi --roi full` draws any frame; a 0.5 s clip
can be band-passed); every other combination must be refused with one line."""


@pytest.mark.parametrize("kind", ["zero-byte", "text", "truncated", "folder", "missing", "one-frame", "2x2",
                                  "half-second"])
@pytest.mark.parametrize("command", ["rates", "magnify", "roi"])
def test_bad_videos_fail_with_one_line(tmp_path, capsys, pulse_video, kind, command):
    video = _bad_video(kind, tmp_path, pulse_video)
    before = _sha(video) if video.is_file() else None
    out = tmp_path / "out"
    argv = {"rates": ["rates", video, "--roi", "full", "-q", "-o", out],
            "magnify": ["magnify", video, "-o", out / "m.mp4", "-q"],
            "roi": ["roi", video, "-o", out, "--roi", "full", "-q"]}[command]
    rc, _, err = _run(capsys, *argv)
    if (command, kind) in USABLE:
        assert rc == 0, err
        assert _leftovers(out) == [] and any(out.rglob("*.png" if command == "rates" else "*.mp4"))
        if command == "rates":
            assert "no breathing rate: respiration estimator failed" in err
        return
    assert rc == 2, (rc, err)
    _one_line_error(err)
    assert not out.exists() or _leftovers(out) == []
    if kind != "truncated":
        assert not out.exists() or not any(out.iterdir())  # nothing written for a video that cannot be used
    if before is not None:
        assert _sha(video) == before


def test_no_face_is_one_line_and_full_frame_is_the_explicit_choice(tmp_path, capsys, pulse_video):
    rc, _, err = _run(capsys, "rates", pulse_video, "-q")
    assert rc == 2
    _one_line_error(err, "no face")
    rc, out, _ = _run(capsys, "rates", pulse_video, "--roi", "full", "--method", "pos", "--resp-method", "motion",
                      "-q", "--json")
    assert rc == 0


@pytest.mark.parametrize("fps", [120.0])
def test_high_frame_rate_and_non_ascii_path_work(tmp_path, capsys, fps):
    frames, _ = pulsing_frames(72, 8.0, fps, h=48, w=64)
    video = video_write(tmp_path / "séance vidéo 心拍.mkv", frames, fps=fps, lossless=True)
    rc, out, err = _run(capsys, "rates", video, "--roi", "full", "--method", "pos", "--resp-method", "motion",
                        "-q", "--json")
    assert rc == 0, err
    import json

    res = json.loads(out)
    assert res["fps"] == pytest.approx(fps) and abs(res["hr_bpm"] - 72) < 3


# -- bad outputs ----------------------------------------------------------------------------------
def test_roi_output_equal_to_the_input_is_refused_and_the_input_kept(tmp_path, capsys, pulse_video):
    video = tmp_path / "clip.mp4"
    shutil.copy(pulse_video, video)
    before = _sha(video)
    rc, _, err = _run(capsys, "roi", video, "-o", video, "--roi", "full", "-q")
    assert rc == 2
    _one_line_error(err, "input")
    assert _sha(video) == before and sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize("command", ["magnify", "roi", "synth", "rates"])
def test_bad_outputs_are_refused_before_any_work(tmp_path, capsys, pulse_video, command):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    existing = tmp_path / "there.mp4"
    existing.write_bytes(b"an earlier result")
    cases = {  # (argv, expected words) — each must fail at once, with one line
        "magnify": [(["magnify", pulse_video, "-o", tmp_path / "o.avi", "-q"], "unsupported"),
                    (["magnify", pulse_video, "-o", pulse_video, "-q"], "input"),
                    (["magnify", pulse_video, "-o", blocker / "o.mp4", "-q"], "cannot write"),
                    (["magnify", pulse_video, "-o", existing, "-q"], "exists")],
        "roi": [(["roi", pulse_video, "-o", blocker, "--roi", "full", "-q"], "file"),
                (["roi", pulse_video, "-o", blocker / "sub", "--roi", "full", "-q"], "file")],
        "synth": [(["synth", blocker, "--participants", "1", "--tasks", "A", "--duration", "2", "-q"], "exists"),
                  (["synth", tmp_path, "--participants", "1", "--tasks", "A", "--duration", "2", "-q"], "folder")],
        "rates": [(["rates", pulse_video, "--roi", "full", "-o", blocker, "-q"], "file")],
    }[command]
    for argv, word in cases:
        t0 = time.perf_counter()
        rc, _, err = _run(capsys, *argv)
        assert rc == 2, (argv, err)
        _one_line_error(err, word)
        assert time.perf_counter() - t0 < 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "there.mp4"] and blocker.read_text() == "x"
    assert existing.read_bytes() == b"an earlier result"


def test_existing_output_needs_overwrite(tmp_path, capsys, pulse_video):
    out = tmp_path / "m.mp4"
    assert _run(capsys, "magnify", pulse_video, "-o", out, "-q")[0] == 0
    first = _sha(out)
    rc, _, err = _run(capsys, "magnify", pulse_video, "-o", out, "-q", "--alpha", "20")
    assert rc == 2
    _one_line_error(err, "--overwrite")
    assert _sha(out) == first
    assert _run(capsys, "magnify", pulse_video, "-o", out, "-q", "--alpha", "20", "--overwrite")[0] == 0
    assert _sha(out) != first


def test_a_missing_output_folder_is_created(tmp_path, capsys, pulse_video):
    out = tmp_path / "new" / "deeper" / "m.mp4"
    assert _run(capsys, "magnify", pulse_video, "-o", out, "-q")[0] == 0 and out.stat().st_size > 0


# -- bad flags ------------------------------------------------------------------------------------
def test_negative_gamma_parses_and_flag_errors_are_one_line(tmp_path, capsys, pulse_video):
    from physio.commands import magnify as cmd

    parser = __import__("physio.cli", fromlist=["build_parser"]).build_parser(["magnify"])
    from physio.cli import _join_negative_values

    args = parser.parse_args(_join_negative_values(["magnify", "v.mp4", "-o", "o.mp4", "--method", "deepmag",
                                                    "--gamma", "-6e-5"]))
    assert cmd.build_kwargs(args)["gamma"] == -6e-5
    for argv, word in ((["magnify", pulse_video, "-o", "x.mp4", "--bogus"], "unrecognized"),
                       (["magnify", pulse_video, "-o", "x.mp4", "--alpha", "ten"], "invalid float"),
                       (["rates", pulse_video, "--method", "ica"], "invalid choice"),
                       (["nope"], "invalid choice")):
        rc, _, err = _run(capsys, *argv)
        assert rc == 2
        _one_line_error(err, word)
        assert "usage:" not in err


# -- bad cohorts ----------------------------------------------------------------------------------
def _broken_cohort(kind: str, d: Path) -> Path:
    path = pulsing_cohort(d / f"{kind}.h5", n_participants=3, seconds=8.0)
    if kind == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(50_000))
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:
        with h5py.File(path, "a") as h:
            s = h["participants/p01/sessions/A"]
            if kind == "no-participants":
                del h["participants"]
            elif kind == "no-frame-times":
                del s["frame_times"]
            elif kind == "nan-signal":
                x = s["pulse"][()]
                x[10:20] = np.nan
                s["pulse"][...] = x
            elif kind == "signal-ends-early":  # the signal and its clock stop at half the session
                n = len(s["pulse"]) // 2
                for name in ("pulse", "pulse_times"):
                    v = s[name][:n]
                    attrs = dict(s[name].attrs)
                    del s[name]
                    s.create_dataset(name, data=v)
                    s[name].attrs.update(attrs)
            elif kind == "pulse-shorter-than-times":
                v = s["pulse"][:-5]
                attrs = dict(s["pulse"].attrs)
                del s["pulse"]
                s.create_dataset("pulse", data=v)
                s["pulse"].attrs.update(attrs)
            else:
                raise AssertionError(kind)
    return path


BROKEN = ["random-bytes", "truncated", "no-participants", "no-frame-times", "nan-signal", "signal-ends-early",
          "pulse-shorter-than-times"]


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_cohorts_are_refused_by_every_reader(tmp_path, capsys, kind):
    path = _broken_cohort(kind, tmp_path)
    before = _sha(path)
    rc, out, err = _run(capsys, "cohort", "check", path)
    assert rc != 0  # check reports (exit 1) or refuses to open (exit 2)
    for argv in (["cohort", "export", path, "p01/A", tmp_path / "exp"],
                 ["evaluate", "--cohort", path, "--methods", "pos", "--split", "all", "-q", "-o", tmp_path / "ev"],
                 ["train", "--config", Path(__file__).parents[1] / "configs" / "pulse.yaml", "--cohort", path,
                  "-o", tmp_path / "run", "--epochs", "1", "--no-progress", "--set", "representation.roi=full"]):
        rc, out, err = _run(capsys, *argv)
        assert rc == 2, (argv[0], kind, err)
        _one_line_error(err)
        assert "another process" not in err  # a damaged file is not "open in another process"
    assert _sha(path) == before
    assert not (tmp_path / "exp").exists() and not (tmp_path / "ev").exists() and not (tmp_path / "run").exists()


def test_train_and_evaluate_never_write_into_the_cohort(tmp_path, capsys):
    path = pulsing_cohort(tmp_path / "c.h5", n_participants=4, seconds=10.0)
    before = _sha(path)
    argv = ["train", "--config", Path(__file__).parents[1] / "configs" / "pulse.yaml", "--cohort", path, "-o",
            tmp_path / "run", "--epochs", "1", "--no-progress", "--set", "representation.roi=full", "--lr", "1e9"]
    rc, _, err = _run(capsys, *argv)  # a failed run (diverges after caching) …
    assert rc == 2, err
    _one_line_error(err, "diverged")
    assert not (tmp_path / "run").exists()  # … leaves no empty run folder
    rc, _, err = _run(capsys, *argv[:-2], "--lr", "nan")
    assert rc == 2
    _one_line_error(err, "lr must be")
    rc, _, err = _run(capsys, "evaluate", "--cohort", path, "--methods", "pulse_cnn", "--split", "all", "-q")
    assert _sha(path) == before  # … and an evaluation that caches the shipped network's input: cohort untouched


# -- malicious checkpoints ------------------------------------------------------------------------
class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"format": "physio-checkpoint", "payload": _Evil(marker)}, path)
    assert pickle.loads(pickle.dumps(1)) == 1
    return path


def test_a_crafted_checkpoint_never_runs(tmp_path, capsys, pulse_video):
    marker = tmp_path / "PWNED"
    evil = _evil_checkpoint(tmp_path / "evil.pt", marker)
    cohort = pulsing_cohort(tmp_path / "c.h5", n_participants=3, seconds=8.0)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(evil, run_dir / "pulse_cnn.last.pt")
    cases = [
        ["rates", pulse_video, "--roi", "full", "--pulse-model", evil, "-q"],
        ["magnify", pulse_video, "-o", tmp_path / "d.mp4", "--method", "deepmag", "--model", evil, "--roi", "full", "-q"],
        ["magnify", pulse_video, "-o", tmp_path / "o.mp4", "--method", "oh", "--weights", evil, "-q"],
        ["magnify", pulse_video, "-o", tmp_path / "l.mp4", "--method", "lwmm-m2", "--weights", evil, "-q"],
        ["evaluate", "--cohort", cohort, "--methods", "pulse_cnn", "--pulse-model", evil, "--split", "all", "-q"],
        ["train", "--config", Path(__file__).parents[1] / "configs" / "pulse.yaml", "--cohort", cohort, "-o", run_dir,
         "--resume", "--epochs", "1", "--no-progress", "--set", "representation.roi=full"],
    ]
    for argv in cases:
        rc, _, err = _run(capsys, *argv)
        assert rc == 2, (argv[:2], err)
        _one_line_error(err, "refused")
        assert not marker.exists(), argv[:2]


# -- kills ----------------------------------------------------------------------------------------
def _start_synth(out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "physio.cli", "synth", str(out), "--participants", "3", "--tasks", "A",
         "--duration", "20", "--workers", "1", "--seed", "3", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(folder: Path, prefix: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline and not any(p.name.startswith(prefix) for p in folder.iterdir()):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    time.sleep(1.0)
    assert proc.poll() is None, "finished before it could be killed"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_killed_writer_leaves_nothing_the_next_run_does_not_clean(tmp_path, sig):
    """SIGINT cleans up at once (exit 130); SIGKILL cannot be caught — its partial file and shards are named
    after the output, and the next run on the same output removes them (their PID no longer runs)."""
    out = tmp_path / "c.h5"
    proc = _start_synth(out)
    _wait_for(tmp_path, ".c.h5.shards-", proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert list(tmp_path.iterdir()) == []
        return
    assert proc.returncode == -signal.SIGKILL
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left and all(".partial-" in n or ".shards-" in n for n in left), left
    rerun = subprocess.run([sys.executable, "-m", "physio.cli", "synth", str(out), "--participants", "1", "--tasks",
                            "A", "--duration", "2", "--workers", "1", "--seed", "3", "-q"],
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5"]


@pytest.mark.parametrize("command", ["rates", "magnify", "roi", "synth", "compare", "evaluate", "train",
                                     "bench-magnifiers", "train-magnifier train", "train-magnifier make-data"])
def test_every_command_with_progress_takes_quiet(capsys, command):
    """-q/--quiet on every command that draws progress (train's --no-progress stays as the older spelling)."""
    rc, out, _ = _run(capsys, *command.split(), "--help")
    assert rc == 0 and "-q, --quiet" in out, out[-400:]
