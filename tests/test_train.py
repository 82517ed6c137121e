"""Training: learns, checkpoints atomically with provenance, resumes exactly, runs distributed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from helpers import pulsing_cohort
from physio.cli import main
from physio.config import load_config
from physio.errors import InputError
from physio.train.loop import TrainConfig, train
from physio.nets.registry import load_checkpoint

TINY = dict(
    net="pulse_cnn", net_args={"channels": [4, 8], "hidden": 16}, source="pulse",
    representation={"kind": "nfd", "size": 36}, epochs=2, block=16, batch_blocks=4, lr=3e-3,
    test_fraction=0.2, val_fraction=0.2, seed=3, threads=1,
)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return pulsing_cohort(tmp_path_factory.mktemp("c") / "c.h5", n_participants=5)


def _weights(path):
    sd = load_checkpoint(path)["state_dict"]
    return torch.cat([v.flatten().float() for v in sd.values()])


def test_train_learns_and_records_provenance(cohort, tmp_path):
    cfg = TrainConfig(name="t", **{**TINY, "epochs": 4})
    summary = train(cfg, cohort, tmp_path, progress=False)
    hist = summary["history"]
    assert len(hist) == 4
    assert hist[-1]["train_loss"] < 0.5 * hist[0]["train_loss"]  # the pulse is easy to learn here
    assert hist[-1]["val_rate_mae"] < 5.0  # bpm, on participants never seen in training
    ck = load_checkpoint(tmp_path / "t.pt")
    assert ck["config"]["net_args"] == {"channels": [4, 8], "hidden": 16}
    assert len(ck["cohort_content_sha256"]) == 64
    train_p, val_p, test_p = (set(ck["split"][k]["participants"]) for k in ("train", "val", "test"))
    assert not (train_p & val_p or train_p & test_p or val_p & test_p)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temporary files left


def test_resume_is_exact(cohort, tmp_path):
    cfg = TrainConfig(name="r", **TINY)
    train(cfg, cohort, tmp_path / "straight", progress=False)
    one = TrainConfig(name="r", **{**TINY, "epochs": 1})
    train(one, cohort, tmp_path / "resumed", progress=False)
    # any other key differing refuses …
    with pytest.raises(InputError, match="config differs"):
        train(TrainConfig(name="r", **{**TINY, "lr": 1e-3}), cohort, tmp_path / "resumed", resume=True, progress=False)
    # … but more epochs extend the run, and extending equals having trained that long from the start
    train(cfg, cohort, tmp_path / "resumed", resume=True, progress=False)
    assert torch.equal(_weights(tmp_path / "straight" / "r.last.pt"), _weights(tmp_path / "resumed" / "r.last.pt"))
    assert load_checkpoint(tmp_path / "resumed" / "r.last.pt")["config"]["epochs"] == 2
    with pytest.raises(InputError, match="fewer"):
        train(one, cohort, tmp_path / "resumed", resume=True, progress=False)


def test_same_seed_same_weights(cohort, tmp_path):
    cfg = TrainConfig(name="s", **{**TINY, "epochs": 1})
    a = train(cfg, cohort, tmp_path / "a", progress=False)
    b = train(cfg, cohort, tmp_path / "b", progress=False)
    assert a["weights_sha256"] == b["weights_sha256"]


def test_cli_config_and_overrides(cohort, tmp_path, capsys):
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(json.dumps({**TINY, "name": "cli"}))  # JSON is YAML
    rc = main(["train", "--config", str(cfg_path), "--cohort", str(cohort), "-o", str(tmp_path / "o"),
               "--epochs", "1", "--lr", "1e-3", "--set", "net_args.hidden=8", "--no-progress"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["epoch"] == 1
    ck = load_checkpoint(tmp_path / "o" / "cli.pt")
    assert ck["config"]["lr"] == 1e-3 and ck["config"]["net_args"]["hidden"] == 8
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochz: 3\n")
    with pytest.raises(InputError, match="unknown key"):
        load_config(TrainConfig, bad)
    assert main(["train", "--config", str(bad), "--cohort", str(cohort)]) == 2


def test_shipped_configs_load(monkeypatch):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    monkeypatch.chdir(root.parent)
    for name in ("pulse.yaml", "resp.yaml", "pulse_real.yaml"):  # pulse_real: init_from is relative to the repo
        cfg = load_config(TrainConfig, root / name)
        assert cfg.source in ("pulse", "resp")


def test_distributed_two_ranks_identical_weights(cohort, tmp_path):
    cfg_path = tmp_path / "d.yaml"
    cfg_path.write_text(json.dumps({**TINY, "name": "ddp", "epochs": 1}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
           "-m", "physio.train", "--config", str(cfg_path), "--cohort", str(cohort), "-o", str(tmp_path / "d"),
           "--no-progress"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    ranks = [json.loads((tmp_path / "d" / f"ddp.rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]


def test_a_session_without_a_detectable_face_is_left_out_not_fatal(tmp_path):
    """A cohort where the face detector fails on one session (a faceless clip merged into rendered
    ones): the cache records it as unusable with the reason, training goes on without it and the
    checkpoint says which session was left out; `physio evaluate` skips it with a warning."""
    import warnings as w

    from physio.cohort.merge import merge_cohorts
    from physio.errors import PhysioWarning
    from physio.evaluation.cohort import evaluate_cohort
    from physio.represent.cache import ensure_cache, unusable_sessions
    from physio.synth import synth_cohort

    rendered = synth_cohort(tmp_path / "r.h5", participants=3, tasks="A", duration_s=6.0, size=(160, 120), seed=5,
                            workers=1, progress=False)
    faceless = pulsing_cohort(tmp_path / "f.h5", n_participants=1, seconds=6.0, fps=30.0)
    both = tmp_path / "both.h5"
    merge_cohorts([rendered, faceless], both, prefixes=["r", "f"])
    rep = {"kind": "nfd", "size": 36, "roi": "detect:face", "margin": 0.1}
    with pytest.warns(PhysioWarning, match="left out"):
        key = ensure_cache(both, rep, progress=False)
    skipped = unusable_sessions(both, key)
    assert list(skipped) == ["f-p00/A"] and "no face" in skipped["f-p00/A"]
    cfg = TrainConfig(name="t", **{**TINY, "epochs": 1, "representation": rep, "test_fraction": 0.25,
                                   "val_fraction": 0.25})
    with w.catch_warnings():
        w.simplefilter("ignore", PhysioWarning)
        train(cfg, both, tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run" / "t.pt")["skipped_sessions"] == skipped
    with pytest.warns(PhysioWarning, match="f-p00/A: pulse_cnn failed"):
        res = evaluate_cohort(both, methods=("pulse_cnn",), split="all", progress=False)
    assert {f"{r['participant']}/{r['session']}" for r in res["sessions"]} == {"r-p001/task_A", "r-p002/task_A",
                                                                               "r-p003/task_A"}
