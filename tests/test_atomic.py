"""The one atomic writer: nothing partial is ever visible, and stale temporary files are cleaned."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from physio.atomic import AtomicFile, atomic_write_json, atomic_write_text, partial_name, remove_stale


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_commit_replaces_and_leaves_nothing_behind(tmp_path):
    dest = tmp_path / "table.csv"
    dest.write_text("old")
    with AtomicFile(dest) as f:
        assert f.tmp.parent == tmp_path and f.tmp.name == f".table.partial-{os.getpid()}.csv"
        f.tmp.write_text("new")
        assert dest.read_text() == "old"  # not visible before the commit
    assert dest.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_an_exception_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    dest = tmp_path / "a.json"
    atomic_write_json(dest, {"v": 1})
    with pytest.raises(RuntimeError), AtomicFile(dest) as f:
        f.tmp.write_text("half")
        raise RuntimeError("boom")
    assert dest.read_text() == '{\n "v": 1\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_stale_temporaries_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    dest = tmp_path / "out.mp4"
    dead = partial_name(dest, _dead_pid())
    dead.write_bytes(b"left by a SIGKILL")
    live = partial_name(dest, os.getppid())  # a running process: a concurrent writer
    live.write_bytes(b"in progress")
    other = tmp_path / f".other.partial-{_dead_pid()}.mp4"  # another destination's: not ours to touch
    other.write_bytes(b"x")
    atomic_write_text(dest, "video")
    assert not dead.exists() and live.exists() and other.exists()
    assert remove_stale(tmp_path / "other.mp4") == [other]
