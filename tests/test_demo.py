"""`physio demo` runs on its embedded default and writes what it says."""

from __future__ import annotations

import json

from physio.cli import main


def test_demo_small(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "-o", str(out), "--duration", "8", "--size", "160x120", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    for name in summary["files"]:
        assert (out / name).stat().st_size > 0
    truth = summary["session"]["true_hr_bpm"]
    assert abs(summary["rates"]["pos_hr_bpm"] - truth) < 5  # POS on the ground-truth skin mask
    assert (out / "summary.json").exists()
