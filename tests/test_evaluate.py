"""`physio evaluate` on a small cohort: per-task tables for rPPG baselines (networks once shipped)."""

from __future__ import annotations

import json

import pytest

from helpers import pulsing_cohort
from physio.cli import main
from physio.errors import InputError
from physio.evaluation.cohort import evaluate_cohort


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


@pytest.mark.slow
def test_workers_and_ray_give_the_same_sessions(cohort):
    """Sessions as jobs: two local worker processes and a local Ray cluster give the rows of one process."""
    pytest.importorskip("ray")
    kw = dict(methods=("pos", "chrom", "green"), split="all", progress=False)
    one = evaluate_cohort(cohort, **kw)
    two = evaluate_cohort(cohort, workers=2, **kw)
    on_ray = evaluate_cohort(cohort, engine="ray", workers=2, **kw)
    assert one["sessions"] == two["sessions"] == on_ray["sessions"]
    assert one["table"] == on_ray["table"]
    with pytest.raises(InputError, match="--address applies"):
        evaluate_cohort(cohort, address="127.0.0.1:1", **kw)


def test_unknown_method(cohort):
    with pytest.raises(InputError, match="unknown method"):
        evaluate_cohort(cohort, methods=("ica",), progress=False)


def test_rppg_on_the_detected_skin_mask_is_what_physio_rates_sees(tmp_path):
    """`--rppg-mask detect` gives POS the face tracker's skin mask, as `physio rates` does: on the same
    (bit-exact) frames the two agree to the rounding of the rate, and the region is reported."""
    from physio.cohort import Cohort
    from physio.io import video_write
    from physio.rates.measure import measure_rates
    from physio.synth import synth_cohort

    path = synth_cohort(tmp_path / "f.h5", participants=1, tasks="A", duration_s=8.0, size=(320, 240), seed=3,
                        workers=1, progress=False)
    res = evaluate_cohort(path, methods=("pos",), split="all", progress=False, rppg_mask="detect")
    assert res["rppg_region"] == "detected skin mask"
    with Cohort(path) as c:
        s = c["p001/task_A"]
        video = video_write(tmp_path / "a.mkv", s.read_frames(0, s.n_frames), fps=s.fps, lossless=True)
    report, _ = measure_rates(video, method="pos", resp_method="motion", progress=False)
    (row,) = res["sessions"]
    assert row["pred"] == pytest.approx(report.hr_bpm, abs=1e-3)
    assert row["abs_error"] < 3.0, row
    truth_mask = evaluate_cohort(path, methods=("pos",), split="all", progress=False)
    assert truth_mask["rppg_region"] == "skin mask"
    with pytest.raises(InputError, match="rppg_mask"):
        evaluate_cohort(path, methods=("pos",), progress=False, rppg_mask="mesh")
