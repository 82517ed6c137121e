"""KL-DNAS (thesis ch. 4): search space, supernet, discrete student, lookup table, search loop, CLI."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from physio.errors import InputError
from physio.magnify.base import magnify_stream, to_tensor
from physio.magnify.learned.complexity import complexity, count_macs
from physio.magnify.learned.kldnas import (
    LINKS, OPS, PARTS, PUBLISHED, STAGES, KLDNASNet, KLDNASSupernet, SearchLayer, check_genotype, teacher_like_genotype,
)
from physio.magnify.learned.magnifier import LearnedMagnifier
from physio.magnify.learned.nets import build_net
from physio.magnify.learned.search import (
    KLDNASConfig, LUTSettings, expected_latency, genotype_latency, latency_loss, measure_lut, part_targets, run_search,
)
from physio.magnify.learned.train import MagTrainConfig, train_magnifier
from physio.magnify.learned.weights import load_weights, save_weights

TINY_TEACHER = {"c": 4, "n_full": 1, "n_half": 1, "n_app": 1, "n_man": 1, "n_dec_half": 1, "n_dec_full": 1}
TINY_LAYERS = {"enc_full": 1, "enc_half": 2, "app": 1, "man": 1, "dec_half": 2, "dec_full": 1}


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


@pytest.fixture
def teacher_file(tmp_path):
    path = tmp_path / "teacher.pt"
    save_weights(path, build_net("lwmm-m2", TINY_TEACHER), "lwmm-m2", TINY_TEACHER)
    return path


def _tiny_lut(net, teacher):
    return measure_lut(net, teacher, LUTSettings(size=32, repeats=1, warmup=0, threads=1))


def _random_alphas(net, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.arch_parameters():
            p.copy_(2 * torch.randn(p.shape, generator=g))


def _pm1(*shape):
    return torch.rand(*shape) * 2 - 1


# ------------------------------------------------------------------------------------------------
# search space


def test_mixed_op_is_the_softmax_weighted_sum_of_its_ops():
    layer = SearchLayer(6, n_links=1)
    with torch.no_grad():
        layer.alpha_op.copy_(torch.linspace(-1, 2, len(OPS)))
        layer.alpha_link.copy_(torch.tensor([[0.3, -0.5, 1.0]]))
    x, y = torch.randn(2, 6, 12, 12), torch.randn(2, 6, 12, 12)
    w = torch.softmax(layer.alpha_op, 0)
    r = sum(w[k] * layer.ops[o](F.relu(x)) for k, o in enumerate(OPS) if o != "none")  # none = zero op
    v = torch.softmax(layer.alpha_link[0], 0)
    want = v[0] * r + v[1] * (r + y) + v[2] * layer.projs["0"](torch.cat([r, y], 1))
    assert torch.allclose(layer(x, [y]), want, atol=1e-5)
    # every op keeps the size (dilated "same" padding) and the weights sum to one
    assert all(layer.ops[o](x).shape == x.shape for o in OPS if o != "none")
    assert float(w.detach().sum()) == pytest.approx(1.0)


def test_discretisation_keeps_a_layer_whose_convolutions_outweigh_none():
    layer = SearchLayer(4, n_links=2)
    with torch.no_grad():
        layer.alpha_op.copy_(torch.zeros(len(OPS)))
        layer.alpha_op[OPS.index("none")] = 1.0  # none 0.24 (the largest single weight), convolutions 0.76
        layer.alpha_op[OPS.index("conv5_d2")] = 0.5
        layer.alpha_link.copy_(torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 1.0]]))
    assert layer.derive() == {"op": "conv5_d2", "links": ["add", "concat"]}
    with torch.no_grad():
        layer.alpha_op[OPS.index("none")] = 3.0  # none 0.70 > the eight convolutions' 0.30
    assert layer.derive()["op"] == "none"


def test_teacher_like_default_is_residual_and_within_15_percent_of_sm1():
    g = teacher_like_genotype()
    assert g["app"] == [{"op": "conv3_d1", "links": ["none"]}, {"op": "conv3_d1", "links": ["none", "add"]}]
    assert g["enc_full"][0]["links"] == ["none", "concat"]  # feature sharing with the peer stream
    net = KLDNASNet(g)
    x = torch.randn(1, 48, 8, 8)
    layers = net.stages["app"]
    want = x + layers[1].op(F.relu(layers[0].op(F.relu(x))))  # pre-activation residual block
    assert torch.allclose(net.run_stage("app", x)[-1], want, atol=1e-6)
    c = complexity(build_net("kldnas-sm1"))
    # the reduced space's teacher-like student has about SM1's size (the ±15 % bar is for it, not the searched ones)
    assert abs(c["params_m"] / PUBLISHED["kldnas-sm1"]["params_m"] - 1) <= 0.15, c
    print(f"kldnas default: {c['params_m']:.3f} M, {c['gflops']:.1f} GFLOPs @720 (SM1 0.35 M / 93.1, SM2 0.47 M / 123.9)")


def test_argmax_genotype_builds_runs_and_equals_the_hard_supernet(tmp_path):
    sn = KLDNASSupernet(c=4, layers=TINY_LAYERS)
    _random_alphas(sn)
    geno = sn.genotype()
    assert geno == check_genotype(json.loads(json.dumps(geno)))  # plain data
    for part in PARTS:
        sn.fix(part)
    net = KLDNASNet(geno, c=4)
    # the discrete student with the supernet's weights of the chosen ops computes what the hard path does
    state = {k: v for k, v in sn.state_dict().items() if not k.startswith("stages.")}
    for stage in STAGES:
        for i, (s_layer, d_layer) in enumerate(zip(sn.stages[stage], net.stages[stage])):
            if d_layer.op is not None:
                d_layer.op.load_state_dict(s_layer.ops[d_layer.op_name].state_dict())
            for j, proj in d_layer.projs.items():
                proj.load_state_dict(s_layer.projs[j].state_dict())
    net.load_state_dict(state | {k: v for k, v in net.state_dict().items() if k.startswith(("stages.", "phi."))})
    ref, cur = _pm1(2, 3, 16, 20), _pm1(2, 3, 16, 20)
    with torch.no_grad():
        assert torch.allclose(net(ref, cur, 7.0), sn(ref, cur, 7.0), atol=1e-5)
        out = net(ref, cur, torch.tensor([2.0, 30.0]))
    assert out.shape == ref.shape and out.abs().max() <= 1
    # stored in a weights file's arch_args, it loads with weights_only=True
    save_weights(tmp_path / "s.pt", net, "kldnas-sm1", {"genotype": geno, "c": 4})
    loaded, info = load_weights(tmp_path / "s.pt")
    assert info["arch_args"]["genotype"] == geno
    with torch.no_grad():
        assert torch.equal(loaded(ref, cur, 7.0), net.eval()(ref, cur, 7.0))


def test_student_contract_alpha_gradients_and_shared_encoder():
    geno = teacher_like_genotype(TINY_LAYERS)
    geno["dec_half"][0] = {"op": "none", "links": ["none"]}  # a dropped layer passes its input on
    geno["man"][0] = {"op": "conv5_d8", "links": ["concat"]}
    net = KLDNASNet(geno, c=4)
    ref, cur = _pm1(2, 3, 12, 16), _pm1(2, 3, 12, 16)
    a = net(ref, cur, 5.0)
    b = net(ref, cur, torch.tensor([5.0, 5.0]))
    assert torch.allclose(a, b) and a.shape == ref.shape and a.abs().max() <= 1
    ea, eb, _, _ = net.encode(cur, cur)
    assert torch.equal(ea, eb)  # shared weights: identical frames, zero motion
    with pytest.raises(InputError, match="multiple of"):
        net(ref[..., :11, :], cur[..., :11, :], 5.0)
    batch = {"a_clean": ref, "b_clean": cur}
    out, aux = net(ref, cur, 5.0, return_aux=True)
    extra = net.extra_losses(batch, out, aux)
    value = float(extra["appearance"].detach())
    assert set(extra) == {"appearance"} and math.isfinite(value) and value >= 0
    (out.square().mean() + extra["appearance"]).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing, missing


def test_bad_genotypes_are_refused():
    g = teacher_like_genotype()
    bad = copy.deepcopy(g)
    bad["app"][0]["op"] = "conv7_d1"
    with pytest.raises(InputError, match="unknown"):
        KLDNASNet(bad)
    bad = copy.deepcopy(g)
    bad["app"][0]["links"] = ["none", "add"]  # layer 0 can only link its own input
    with pytest.raises(InputError, match="can link"):
        KLDNASNet(bad)
    with pytest.raises(InputError, match="tap"):
        KLDNASNet(g | {"tap": 5})


# ------------------------------------------------------------------------------------------------
# latency


def test_lookup_table_and_expected_latency():
    teacher = build_net("lwmm-m2", TINY_TEACHER).eval()
    sn = KLDNASSupernet(c=4, layers=TINY_LAYERS)
    lut = _tiny_lut(sn, teacher)
    for stage in STAGES:
        assert set(lut["ops"][stage]) == set(OPS) and set(lut["links"][stage]) == set(LINKS)
        assert all(lut["ops"][stage][o] > 0 for o in OPS if o != "none") and lut["ops"][stage]["none"] == 0
        assert lut["links"][stage]["add"] > 0 and lut["links"][stage]["concat"] > 0
    assert all(lut["fixed"][p] > 0 for p in PARTS) and lut["teacher"]["total"] > 0
    assert sum(lut["teacher"]["part_macs"].values()) == count_macs(teacher, 32, 32)
    ref = lut["reference"]  # the teacher-like student timed whole: the table's scale to whole-network time
    assert ref["measured_ms"] > 0 and ref["scale"] == pytest.approx(ref["measured_ms"] / ref["lut_ms"])
    assert ref["lut_ms"] == pytest.approx(genotype_latency(teacher_like_genotype(TINY_LAYERS), lut)["total"])
    targets = part_targets(lut, 0.45)
    assert targets["measured"] == pytest.approx(0.45 * lut["teacher"]["total"])
    assert sum(targets[p] for p in PARTS) == pytest.approx(targets["total"]) == pytest.approx(targets["measured"] / ref["scale"])
    # one-hot alphas: the expected latency is the chosen path's table sum
    geno = teacher_like_genotype(TINY_LAYERS)
    with torch.no_grad():
        for stage in STAGES:
            for layer, row in zip(sn.stages[stage], geno[stage]):
                layer.alpha_op.copy_(-50.0 * torch.ones(len(OPS)))
                layer.alpha_op[OPS.index(row["op"])] = 50.0
                layer.alpha_link.fill_(-50.0)
                for j, k in enumerate(row["links"]):
                    layer.alpha_link[j, LINKS.index(k)] = 50.0
    want = genotype_latency(geno, lut)
    for part in PARTS:
        assert float(expected_latency(sn, lut, part).detach()) == pytest.approx(want[part], rel=1e-5)
    # L_lat = |log(latency / target)|: zero at the target, symmetric in the ratio, differentiable in alpha
    t = float(expected_latency(sn, lut, "decoder").detach())
    assert float(latency_loss(torch.tensor(t), t)) == pytest.approx(0.0, abs=1e-6)
    assert float(latency_loss(torch.tensor(2 * t), t)) == pytest.approx(math.log(2))
    assert float(latency_loss(torch.tensor(t / 2), t)) == pytest.approx(math.log(2))
    _random_alphas(sn)
    loss = latency_loss(expected_latency(sn, lut, "decoder"), t)
    loss.backward()
    assert sn.stages["dec_half"][0].alpha_op.grad.abs().sum() > 0
    assert sn.stages["app"][0].alpha_op.grad is None  # another part's alphas are untouched


# ------------------------------------------------------------------------------------------------
# search loop, CLI, training, magnifier


def _tiny_config(teacher_file, arch="kldnas-sm1") -> KLDNASConfig:
    return KLDNASConfig(
        name="tiny", teacher=str(teacher_file), layers=dict(TINY_LAYERS),
        search={"size": 16, "batch": 2, "pool": 8, "steps": (3, 3, 3), "warmup": 0.3, "checkpoint_every": 2},
        lut={"size": 32, "repeats": 1, "warmup": 0, "threads": 1},
        train=MagTrainConfig(name="tiny", arch=arch, data={"size": 16, "supersample": 1}, steps=2, batch=2,
                             val_every=0, threads=1, log_every=1, loss={"proxy": 0.0}),
        threads=1)


def test_tiny_search_end_to_end_through_the_cli(tmp_path, teacher_file):
    from physio.cli import main

    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump(json.loads(json.dumps(dataclasses.asdict(_tiny_config(teacher_file))))))
    run = tmp_path / "run"
    assert main(["train-magnifier", "search", "--config", str(cfg_path), "-o", str(run), "-q",
                 "--set", "search.steps=[3,2,3]"]) == 0
    s = json.loads((run / "search.json").read_text())
    assert s["done"] and s["config"]["search"]["steps"] == [3, 2, 3]
    net = KLDNASNet(s["genotype"], c=4)  # the searched genotype builds
    assert net(_pm1(1, 3, 16, 16), _pm1(1, 3, 16, 16), 4.0).shape == (1, 3, 16, 16)
    lat = s["latency"]
    assert lat["expected_ms"] == pytest.approx(lat["expected_lut_ms"]["total"] * lat["lut_scale"])
    assert lat["measured_ms"]["cpu"] > 0 and lat["target_ms"] == pytest.approx(lat["target_lut_ms"] * lat["lut_scale"])
    assert set(s["parts"]) == set(PARTS) and all(p["steps"] > 0 for p in s["parts"].values())
    # unused budget passes on: each part's target = its base + what the parts before it left
    carry = 0.0
    for part in PARTS:
        p = s["parts"][part]
        assert p["carry_in_ms"] == carry
        assert p["target_ms"] == pytest.approx(max(p["base_target_ms"] + carry, 1.05 * s["lut"]["cpu"]["fixed"][part]))
        carry = max(0.0, p["target_ms"] - p["discrete_ms"])
        assert p["carry_out_ms"] == pytest.approx(carry)
    assert len(s["layer_table"]) == sum(TINY_LAYERS.values())
    # the student trained through the shared loop with the genotype in arch_args
    _, info = load_weights(run / "student" / "last.pt")
    assert info["arch"] == "kldnas-sm1" and info["arch_args"]["genotype"] == s["genotype"]
    # a second run needs --resume; with it, the finished search is not redone
    assert main(["train-magnifier", "search", "--config", str(cfg_path), "-o", str(run), "-q",
                 "--set", "search.steps=[3,2,3]"]) != 0
    assert main(["train-magnifier", "search", "--config", str(cfg_path), "-o", str(run), "-q", "--resume",
                 "--set", "search.steps=[3,2,3]"]) == 0
    assert json.loads((run / "search.json").read_text())["genotype"] == s["genotype"]
    # export: the model card records the search
    out = tmp_path / "sm1.pt"
    assert main(["train-magnifier", "export", str(run / "student"), str(out), "--bench", "none"]) == 0
    _, info = load_weights(out)
    card = info["card"]["kldnas_search"]
    assert card["genotype"] == s["genotype"] and card["measured_ms"] > 0 and len(card["lut_ms"]) == len(s["layer_table"])
    assert "search --config" in info["card"]["commands"]["train"]
    assert "| layer | chosen |" in out.with_suffix(".md").read_text()


def test_search_resumes_mid_part_exactly(tmp_path, teacher_file, monkeypatch):
    import physio.magnify.learned.search as search_mod

    cfg = _tiny_config(teacher_file)
    cfg.train.steps = 1
    cfg.search.log_every = 1
    straight = run_search(cfg, tmp_path / "a", progress=False)
    cfg.lut.file = str(tmp_path / "a" / "search.json")  # the same table: timings differ from run to run
    real, calls = search_mod._part_loss, {"n": 0}

    def interrupted(*args, **kwargs):  # weights batch of steps 0-2, alpha batch of steps 1-2: stop in step 2
        calls["n"] += 1
        if calls["n"] > 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(search_mod, "_part_loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_search(cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(search_mod, "_part_loss", real)
    other = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, kd_weight=1.0))
    with pytest.raises(InputError, match="cannot resume with a different search"):
        run_search(other, tmp_path / "b", resume=True, progress=False)
    resumed = run_search(cfg, tmp_path / "b", resume=True, progress=False)  # from the step-2 checkpoint
    assert resumed["genotype"] == straight["genotype"]
    assert [h["w_total"] for h in resumed["history"]] == pytest.approx([h["w_total"] for h in straight["history"]], rel=1e-5)
    assert len(resumed["history"]) == 9 and resumed["lut"] == straight["lut"] | {"cpu": resumed["lut"]["cpu"]}
    assert resumed["lut"]["cpu"]["source"] == cfg.lut.file


def test_student_trains_through_the_shared_loop(tmp_path):
    geno = teacher_like_genotype(TINY_LAYERS)
    cfg = MagTrainConfig(name="t", arch="kldnas-sm2", arch_args={"genotype": geno, "c": 4}, data={"size": 32},
                         steps=5, batch=2, threads=1, val_every=0, log_every=1, loss={"proxy": 0.0})
    summary = train_magnifier(cfg, tmp_path / "run", progress=False)
    assert summary["done"] and (tmp_path / "run" / "last.pt").exists()
    hist = [h for h in summary["stages"][-1]["history"] if "total" in h]
    assert len(hist) == 5 and all(math.isfinite(h["total"]) and "appearance" in h for h in hist)


@pytest.mark.parametrize("mode", ["dynamic", "temporal"])
def test_learned_magnifier_runs_the_student(small_clip, mode):
    net = build_net("kldnas-sm1", {"genotype": teacher_like_genotype(TINY_LAYERS), "c": 4})
    clip = small_clip[:10, :30, :42]  # odd-sized: padded and cropped back
    mag = LearnedMagnifier("kldnas-sm1", factor=8.0, mode=mode, net=net, band_hz=(1.0, 4.0) if mode == "temporal" else None)
    out = np.concatenate(list(magnify_stream(mag, [clip], 30.0)))
    assert out.shape == clip.shape and out.dtype == np.uint8
    if mode == "dynamic":
        np.testing.assert_array_equal(out[0], clip[0])
        assert torch.isfinite(mag.process(to_tensor(clip), 30.0)).all()


@pytest.mark.parametrize("arch", ["kldnas-sm1", "kldnas-sm2"])
def test_shipped_students_record_their_search(arch):
    """models/kldnas_sm{1,2}.pt: searched on this CPU at two latency targets; each card records the
    genotype, the measured latency table and a measured latency within 25 % of its target, and the
    network the weights build has the parameter count the card states."""
    from physio.magnify.learned.weights import default_weights_path

    net, info = load_weights(default_weights_path(arch))
    s = info["card"]["kldnas_search"]
    assert info["arch"] == arch and info["arch_args"]["genotype"] == s["genotype"]
    assert s["target_ratio"] == pytest.approx({"kldnas-sm1": 0.4507, "kldnas-sm2": 0.4859}[arch], abs=0.002)
    assert s["target_ms"] == pytest.approx(s["target_ratio"] * s["teacher_ms"], rel=1e-3)
    assert abs(s["measured_ms"] / s["target_ms"] - 1) <= 0.25
    assert complexity(net)["params"] == info["card"]["complexity_720"]["params"]
