"""``physio compare``: scoring, matched-gain calibration, the report and the command line."""

from __future__ import annotations

import base64
import csv
import json
from html.parser import HTMLParser

import numpy as np
import pytest

from physio.evaluation.compare import cohort_clips, compare, video_clips
from physio.errors import InputError
from physio.evaluation.scoring import ClipRegions, ClipScorer
from physio.evaluation.memory import PeakMemory
from physio.evaluation.report import RESULT_COLUMNS, write_report

FPS = 30.0


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from physio.synth import synth_cohort

    path = tmp_path_factory.mktemp("cmp") / "cmp.h5"
    return synth_cohort(path, participants=1, tasks="A,D", duration_s=8.0, size=(96, 72), seed=11,
                        magnified=(10,), workers=1, progress=False)


@pytest.fixture(scope="module")
def pulse_run(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp_out")
    clips = cohort_clips(cohort, "pulse", split="all")
    res = compare(clips, "pulse", ["deepmag", "evm"], factors={"deepmag": 3e-4}, gain=3.0, calibration_s=8.0,
                  gamma_sweep=(1.0, 4.0),
                  sweep_task="A", figures_dir=out / "figures", progress=False)
    return res, out


# -- the scorer ------------------------------------------------------------------------------------
def _pulsing(amplitude: float, n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = np.zeros((24, 32), bool)
    region[6:18, 8:24] = True
    t = np.arange(n) / FPS
    base = np.full((n, 24, 32, 3), 120.0)
    base[:, region, 1] += amplitude * np.sin(2 * np.pi * 1.2 * t)[:, None]
    return base + rng.normal(0, 0.5, base.shape), region


def _regions(region):
    return ClipRegions(lambda a, b: np.broadcast_to(region, (b - a, *region.shape)), region, region, None)


def test_scorer_gain_leakage_and_quality_match_a_known_magnification():
    frames, region = _pulsing(2.0)
    truth, _ = _pulsing(6.0)  # the same noise, pulse ×3
    orig, out = frames.round().astype(np.uint8), truth.round().astype(np.uint8)
    sc = ClipScorer("pulse", FPS, (0.7, 2.5), _regions(region))
    for s in range(0, len(orig), 50):  # uneven chunks
        sc.update(orig[s : s + 50], out[s : s + 50], out[s : s + 50])
    r = sc.result()
    assert r["gain"] == pytest.approx(3.0, rel=0.03)
    assert r["leakage"] < 0.05  # the change is inside the region (rounding noise outside)
    assert r["fidelity_r"] == pytest.approx(1.0, abs=1e-6) and r["fidelity_psnr"] == np.inf
    assert 30 < r["psnr"] < 60 and 0.5 < r["ssim"] < 1
    assert r["hr_bpm"] == pytest.approx(72.0, abs=2.0)


def test_scorer_measures_the_absolute_change_outside_the_region_and_on_moving_edges():
    """A bright square slides over a flat background; the output adds a frame-varying offset outside a
    static region. change_out / change_edges must equal the RMS of that offset over the pixels outside
    the region / on the square's moving edges, whatever the chunking."""
    n, h, w = 40, 24, 32
    orig = np.full((n, h, w, 3), 100, np.uint8)
    for t in range(n):
        orig[t, 12:20, 2 + t // 2 : 10 + t // 2] = 200  # moves one pixel every other frame
    region = np.zeros((h, w), bool)
    region[:6] = True  # nothing moves there
    offset = (np.arange(n) % 5 + 1).astype(np.uint8)[:, None, None, None]
    out = orig.copy()
    out[:, ~region] = np.minimum(orig[:, ~region].astype(int) + offset[:, 0], 255).astype(np.uint8)
    d = ((out.astype(float) - orig) ** 2).sum(-1)
    luma = orig.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    moving = np.zeros((n, h, w), bool)
    moving[1:] = np.abs(np.diff(luma, axis=0)) > 12
    assert 0 < moving.sum() < moving.size // 10 and not moving[0].any() and not moving[1].any()
    sc = ClipScorer("pulse", FPS, (0.7, 2.5), _regions(region))
    for s, e in ((0, 7), (7, 8), (8, 23), (23, 40)):  # borders inside the motion
        sc.update(orig[s:e], out[s:e])
    r = sc.result()
    assert r["change_out"] == pytest.approx(np.sqrt(d[:, ~region].mean() / 3), rel=1e-6)
    assert r["change_edges"] == pytest.approx(np.sqrt(d[moving].mean() / 3), rel=1e-6)
    assert r["change_edges"] != pytest.approx(r["change_out"], rel=0.02)  # the edge frames' offsets differ
    np.testing.assert_allclose(sc.change_map(), np.sqrt(d.mean(0) / 3), rtol=1e-6)  # per pixel, over time


def test_scorer_identity_is_gain_one_and_infinite_psnr():
    frames, region = _pulsing(2.0)
    f = frames.round().astype(np.uint8)
    sc = ClipScorer("pulse", FPS, (0.7, 2.5), _regions(region))
    sc.update(f, f)
    r = sc.result()
    assert r["gain"] == 1.0 and r["psnr"] == np.inf and r["ssim"] == 1.0 and r["leakage"] is None


def test_scorer_rejects_mismatched_chunks_and_empty_regions():
    frames, region = _pulsing(1.0, n=40)
    f = frames.astype(np.uint8)
    sc = ClipScorer("pulse", FPS, (0.7, 2.5), _regions(region))
    with pytest.raises(InputError, match="differ in shape"):
        sc.update(f, f[:, :-1])
    with pytest.raises(InputError, match="empty"):
        ClipScorer("pulse", FPS, (0.7, 2.5), _regions(np.zeros_like(region)))


def test_peak_memory_sees_an_allocation():
    import gc

    gc.collect()  # garbage of earlier tests freed inside the block would hide part of the allocation
    with PeakMemory("cpu") as m:
        a = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        a.sum()
        import time

        time.sleep(0.05)
    del a
    assert 150 < m.peak_mb < 400


# -- the comparison on a synthetic cohort ------------------------------------------------------------
def test_compare_calibrates_to_the_target_gain_and_scores_every_method(pulse_run):
    res, _ = pulse_run
    cal = res["calibration"]
    assert cal["target_gain"] == 3.0 and cal["task"] == "A"
    assert cal["factors"]["evm"]["converged"] and cal["factors"]["evm"]["gain"] == pytest.approx(3.0, rel=0.05)
    rows = {(r["task"], r["method"]): r for r in res["results"]}
    assert set(rows) == {(t, m) for t in ("A", "D", "all") for m in ("original", "deepmag", "evm")}
    for r in res["results"]:
        assert set(RESULT_COLUMNS) <= set(r)
    orig = rows[("A", "original")]
    assert orig["gain"] == 1.0 and orig["ssim"] == 1.0 and orig["psnr"] is None  # identical: infinite PSNR
    evm = rows[("A", "evm")]
    # the factor found on task A gives the target gain on task A (the full clip was used to calibrate)
    assert evm["gain"] == pytest.approx(3.0, rel=0.06)
    # per-pixel fidelity at 96 × 72 is noise-limited, but far above chance (≈ 0.002 for this many samples)
    assert 25 < evm["psnr"] < 70 and evm["fidelity_r"] > 0.1 and evm["fps"] > 0 and evm["peak_mb"] >= 0
    # the original's rates come from the same estimator as every output's
    assert orig["hr_mae"] is not None and orig["hr_mae"] < 8.0
    # Table 2: a larger step magnifies more (paper Fig. 7 / Table 2)
    sweep = {r["multiple"]: r for r in res["gamma_sweep"]}
    assert sweep[4.0]["gain"] > sweep[1.0]["gain"] > 1.0
    assert sweep[4.0]["psnr"] < sweep[1.0]["psnr"]


def test_report_is_valid_self_contained_html_with_csv_and_json(pulse_run):
    res, out = pulse_run
    files = write_report(res, out, "physio compare --cohort x --source pulse")
    assert {p.rsplit("/", 1)[-1] for p in files} == {"report.html", "results.csv", "sessions.csv", "compare.json"}

    class Check(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.images, self.tables = [], [], 0

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "img", "br", "link"):
                self.stack.append(tag)
            if tag == "img":
                self.images.append(dict(attrs)["src"])
            self.tables += tag == "table"

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
            self.stack.pop()

    chk = Check()
    text = (out / "report.html").read_text()
    chk.feed(text)
    assert chk.stack == [] and chk.tables >= 3
    assert len(chk.images) == len(res["figures"]) >= 4
    for src in chk.images:  # every figure is embedded and is a PNG
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"scanline_A", "pixel_D", "change_A", "change_D", "table1", "rates", "bland_altman_evm"} <= set(res["figures"])
    assert res["device"] in text
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(RESULT_COLUMNS) and len(rows) == len(res["results"])
    assert json.loads((out / "compare.json").read_text())["results"][0]["task"] == "A"


def test_compare_respiration_with_given_factors(cohort):
    clips = cohort_clips(cohort, "resp", split="all", tasks=["A"])
    res = compare(clips, "resp", ["phase"], factors={"phase": 10.0}, progress=False)
    row = next(r for r in res["results"] if r["method"] == "phase")
    assert res["calibration"]["factors"]["phase"] == {"param": "alpha", "value": 10.0, "given": True}
    assert row["gain"] > 1.5 and row["fidelity_r"] > 0.2


@pytest.mark.slow
def test_compare_on_workers_and_ray_gives_the_same_scores(cohort):
    """Every clip x method as a job: two local workers and a local Ray cluster score as one process does
    (the runtime columns differ by nature)."""
    pytest.importorskip("ray")
    clips = cohort_clips(cohort, "pulse", split="all", seconds=4.0)
    kw = dict(factors={"evm": 20.0}, progress=False)
    runs = [compare(clips, "pulse", ["evm"], **kw),
            compare(clips, "pulse", ["evm"], workers=2, **kw),
            compare(clips, "pulse", ["evm"], engine="ray", workers=2, **kw)]

    def scores(res):
        return [{k: v for k, v in r.items() if k not in ("fps", "peak_mb", "seconds")} for r in res["sessions"]]

    assert len(runs[0]["sessions"]) == 2 * 2 and scores(runs[0]) == scores(runs[1]) == scores(runs[2])


def test_compare_on_a_real_video_without_ground_truth(shared_data):
    clips = video_clips([shared_data / "evm_mit" / "face.mp4"], seconds=4.0)
    res = compare(clips, "pulse", ["evm"], factors={"evm": 20.0}, progress=False)
    row = next(r for r in res["sessions"] if r["method"] == "evm")
    assert row["task"] == "video" and row["gain"] > 3 and row["fidelity_r"] is None and row["hr_true"] is None


def test_compare_rejects_bad_requests(cohort):
    clips = cohort_clips(cohort, "pulse", split="all", tasks=["A"])
    with pytest.raises(InputError, match="unknown method"):
        compare(clips, "pulse", ["nope"], progress=False)
    with pytest.raises(InputError, match="source"):
        compare(clips, "heart", ["evm"], progress=False)
    with pytest.raises(InputError, match="no sessions"):
        cohort_clips(cohort, "pulse", split="all", tasks=["Z"])


def test_cli_json_contract_and_errors(cohort, tmp_path, capsys):
    from physio.cli import main

    rc = main(["compare", "--cohort", str(cohort), "--split", "all", "--tasks", "A", "--source", "pulse",
               "--methods", "evm", "--factors", "evm=5", "--json", "-q"])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    assert {"device", "results"} <= set(obj)
    keys = {"task", "method", "psnr", "ssim", "fidelity_r", "leakage", "gain", "hr_mae", "fps", "peak_mb"}
    assert all(keys <= set(r) for r in obj["results"])
    rc = main(["compare", "--source", "pulse", "-q"])
    assert rc != 0
    assert "either --cohort" in capsys.readouterr().err


def test_default_methods_pick_up_shipped_learned_magnifiers(tmp_path, monkeypatch):
    from physio.evaluation import compare as cmp
    from physio.magnify.learned import weights

    monkeypatch.setattr(weights, "models_dir", lambda: tmp_path)
    assert cmp.default_methods("pulse") == ["deepmag", "evm", "vam"]
    assert cmp.default_methods("resp") == ["deepmag", "phase", "vam"]
    (tmp_path / weights.MODEL_FILES["oh"]).write_bytes(b"x")
    assert cmp.default_methods("resp") == ["deepmag", "phase", "vam", "oh"]
    assert "oh" not in cmp.default_methods("pulse")  # colour: the paper's baselines only


def test_calibration_stops_when_the_gain_does_not_grow(monkeypatch):
    from physio.evaluation import compare as cmp

    gains = {}

    def fake_run(method, source, factor, clip, device, light=False, recorders=()):
        gains[factor] = 2.0 / (1 + factor)  # falls as the factor grows
        return {"gain": gains[factor]}

    monkeypatch.setattr(cmp, "_run", fake_run)
    res = cmp.calibrate("evm", "pulse", [object()], target=4.0, device="cpu", say=lambda m: None)
    assert len(res["history"]) == 2 and not res["converged"]
    assert res["value"] == max(gains, key=gains.get)  # the closest to the target is kept

    monkeypatch.setattr(cmp, "_run", lambda m, s, f, c, d, light=False, recorders=(): {"gain": 1 + 0.3 * f})
    res = cmp.calibrate("evm", "pulse", [object()], target=4.0, device="cpu", say=lambda m: None)
    assert res["converged"] and res["value"] == pytest.approx(10.0, rel=0.05)


def test_whole_frame_deepmag_variant_processes_the_whole_frame(cohort):
    from physio.evaluation.compare import _make

    clips = cohort_clips(cohort, "pulse", split="all", tasks=["A"])
    mag = _make("deepmag-full", "pulse", 3e-4, clips[0], "cpu")
    assert getattr(mag, "box", None) is None  # no face box: the paper's whole-frame representation
    res = compare(clips, "pulse", ["deepmag-full"], factors={"deepmag-full": 3e-4}, progress=False)
    row = next(r for r in res["results"] if r["method"] == "deepmag-full")
    assert np.isfinite(row["psnr"]) and row["gain"] > 1.0


def test_cohort_clips_give_deepmag_the_networks_crop(cohort):
    """The face box DeepMag gets on a cohort clip is the crop the shipped PulseNet was trained on: the
    detector's (as `physio rates` takes it) for a `detect:face` network, the face mask's for `mask:face`."""
    from physio.cohort import Cohort
    from physio.roi.crop import detect_box
    from physio.nets.weights import load_net
    from physio.represent.compute import box_from_mask

    rep = load_net("pulse_cnn")[1]["representation"]
    clips = cohort_clips(cohort, "pulse", split="all", seconds=5.0)
    with Cohort(cohort) as c:
        for clip in clips:
            s = c[clip.name]
            frames = s.read_frames(0, clip.n_frames)
            if rep["roi"] == "detect:face":
                want = detect_box(frames, s.fps, "face", rep["margin"])
            else:
                want = box_from_mask(s.mask("face")[: clip.n_frames], rep["margin"])
            assert tuple(clip.boxes["face"]) == tuple(want)


def test_cli_calibrates_on_the_task_it_is_told(cohort, tmp_path, capsys):
    """``--calibrate-task D`` matches the gains on the head-motion clips (the D bars of the DeepMag
    issue); a task with no clip is an error, not a silent stand-in."""
    from physio.cli import main

    rc = main(["compare", "--cohort", str(cohort), "--split", "all", "--tasks", "A,D", "--source", "pulse",
               "--methods", "evm", "--gain", "3", "--calibrate-task", "D", "--calibration-seconds", "4",
               "--json", "-q"])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    cal = obj["calibration"]
    assert cal["task"] == "D" and all("_D" in c or c.endswith("D") for c in cal["clips"]), cal["clips"]
    d = next(r for r in obj["results"] if r["task"] == "D" and r["method"] == "evm")
    assert abs(d["gain"] / 3.0 - 1) < 0.35, d["gain"]  # matched on D, where EVM's gain is measured
    rc = main(["compare", "--cohort", str(cohort), "--split", "all", "--tasks", "A", "--source", "pulse",
               "--methods", "evm", "--calibrate-task", "C", "-q"])
    assert rc != 0 and "task 'C'" in capsys.readouterr().err
