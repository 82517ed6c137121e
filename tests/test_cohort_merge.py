"""``physio cohort merge``: participants of several cohorts in one file, inputs untouched."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from helpers import pulsing_cohort
from physio.cli import main
from physio.cohort import Cohort, cohort_check, file_sha256
from physio.cohort.digest import cohort_content_sha256
from physio.errors import InputError
from physio.cohort.merge import merge_cohorts


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("m")
    a = pulsing_cohort(d / "a.h5", n_participants=2, seconds=4, seed=1)
    b = pulsing_cohort(d / "b.h5", n_participants=3, seconds=4, seed=5)
    with h5py.File(b, "a") as f:  # give b's participants other names and one extra rendering
        for i, p in enumerate(sorted(f["participants"])):
            f["participants"].move(p, f"q{i}")
        s = f["participants/q0/sessions/A"]
        s.create_dataset("videos/pulse_x10", data=s["frames"][()])
    return a, b


def test_merge_copies_everything_and_leaves_inputs(pair, tmp_path):
    a, b = pair
    before = [file_sha256(a), file_sha256(b)]
    out = tmp_path / "m.h5"
    info = merge_cohorts([a, b], out)
    assert (info["participants"], info["sessions"]) == (5, 5)
    assert [file_sha256(a), file_sha256(b)] == before
    assert cohort_check(out) == []
    with Cohort(out) as m, Cohort(a) as ca, Cohort(b) as cb:
        assert m.participants == ["p00", "p01", "q0", "q1", "q2"]
        for src in (ca, cb):
            for s in src.sessions():
                t = m[s.key]
                np.testing.assert_array_equal(t.read_frames(), s.read_frames())
                np.testing.assert_array_equal(t.signal_at_frames("pulse"), s.signal_at_frames("pulse"))
        assert "pulse_x10" in m["q0/A"].video_names
    with h5py.File(out, "r") as f:
        merged = json.loads(f.attrs["merged_from"])
    assert [m["content_sha256"] for m in merged] == [cohort_content_sha256(a), cohort_content_sha256(b)]


def test_merge_refuses_repeated_names_unless_prefixed(pair, tmp_path, capsys):
    a, _ = pair
    with pytest.raises(InputError, match="give --prefix"):
        merge_cohorts([a, a], tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    rc = main(["cohort", "merge", str(a), str(a), "-o", str(tmp_path / "y.h5"), "--prefix", "syn,real"])
    assert rc == 0 and "4 participants" in capsys.readouterr().out
    with Cohort(tmp_path / "y.h5") as m:
        assert m.participants == ["real-p00", "real-p01", "syn-p00", "syn-p01"]
    assert main(["cohort", "merge", str(a), str(a), "-o", str(tmp_path / "y.h5"), "--prefix", "s,r"]) == 2  # exists
    assert main(["cohort", "merge", str(a), "-o", str(tmp_path / "z.h5")]) == 2  # one input


def test_merge_drop_videos(pair, tmp_path):
    a, b = pair
    out = tmp_path / "d.h5"
    merge_cohorts([a, b], out, drop_videos=True)
    with Cohort(out) as m:
        assert m["q0/A"].video_names == []
        assert m["q0/A"].n_frames > 0
    assert cohort_check(out) == []


def test_closed_pipe_is_quiet(pair):
    """`physio cohort info FILE | head -1`: the reader leaving is exit 141 and no traceback."""
    import subprocess
    import sys

    # a command with more output than a pipe buffers, so the writer certainly meets the closed pipe
    code = ("import sys, physio.commands.cohort as c\n"
            "def spam(args):\n    for i in range(200000): print('x' * 60)\n    return 0\n"
            "c._info = spam\nfrom physio.cli import main\nsys.exit(main(sys.argv[1:]))")
    p = subprocess.Popen([sys.executable, "-c", code, "cohort", "info", str(pair[0])], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err
