"""`physio evaluate` on a small cohort: per-task tables for rPPG baselines (networks once shipped)."""

from __future__ import annotations

import json

import pytest

from helpers import pulsing_cohort
from physio.cli import main
from physio.errors import InputError
from physio.evaluate import evaluate_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return pulsing_cohort(tmp_path_factory.mktemp("e") / "c.h5", n_participants=4, seconds=20.0, fps=15.0)


def test_rppg_baselines_recover_hr(cohort):
    res = evaluate_cohort(cohort, methods=("pos", "chrom", "green"), split="all", progress=False)
    rows = {(t["task"], t["method"]): t for t in res["table"]}
    for m in ("pos", "chrom", "green"):
        assert rows[("all", m)]["n"] == 4
        assert rows[("all", m)]["mae"] < 2.0  # bpm; a clean pulsing patch
    assert len(res["sessions"]) == 12 and all(r["truth"] > 50 for r in res["sessions"])


def test_cli_outputs(cohort, tmp_path, capsys):
    rc = main(["evaluate", "--cohort", str(cohort), "--methods", "pos,green", "--split", "all", "--json", "-q",
               "-o", str(tmp_path / "ev")])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    assert {t["method"] for t in obj["table"]} == {"pos", "green"}
    for name in ("evaluation.csv", "sessions.csv", "evaluation.md", "bland_altman_pos.png"):
        assert (tmp_path / "ev" / name).stat().st_size > 0


def test_unknown_method(cohort):
    with pytest.raises(InputError, match="unknown method"):
        evaluate_cohort(cohort, methods=("ica",), progress=False)
