"""Learned magnifiers: network sizes, FLOPs, training data, losses, training, Magnifier modes, circle benchmark."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from physio.errors import InputError
from physio.magnify.base import Magnifier, blocked_stream, magnify_stream, to_tensor
from physio.magnify.learned.magnifier import LearnedMagnifier
from physio.magnify.learned.blocks import ThesisNet, alpha_tensor
from physio.magnify.learned.nets import build_net
from physio.evaluation.circles import (
    BenchMethod,
    CircleBenchConfig,
    calibrate_factor,
    circle_video,
    measure_amplitude,
    nominal_learned_factor,
    render_circles,
    score_video,
)
from physio.magnify.learned.complexity import complexity, count_macs
from physio.magnify.learned.data import (
    BENCH_IMAGES,
    H5Pairs,
    NoiseConfig,
    SynthConfig,
    SynthPairs,
    dataset_write,
    make_batch,
)
from physio.magnify.learned.losses import PerceptualLoss, VGG16Features, edge_loss, ms_ssim
from physio.magnify.learned.nets import PUBLISHED
from physio.magnify.learned.probe import factor_response
from physio.magnify.learned.train import MagTrainConfig, export_run, train_magnifier
from physio.magnify.learned.weights import default_weights_path, load_weights, save_weights

TINY_LWMM = {"c": 4, "n_full": 1, "n_half": 1, "n_app": 1, "n_man": 1, "n_dec_half": 1, "n_dec_full": 1}
TINY_OH = {"ch": 8, "n_enc": 1, "n_texture": 1, "n_shape": 1, "n_dec": 1}


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


# ------------------------------------------------------------------------------------------------
# networks


@pytest.mark.parametrize("arch", ["oh", "lwmm-m1", "lwmm-m2"])
def test_parameter_counts_within_15_percent_of_published(arch):
    c = complexity(build_net(arch))
    pub = PUBLISHED[arch]
    assert abs(c["params_m"] / pub["params_m"] - 1) <= 0.15, (arch, c["params"])
    # GFLOPs at 720x720 (2 x MACs of conv layers) land close to the thesis' Table 3.2 too
    assert abs(c["gflops"] / pub["gflops_720"] - 1) <= 0.15, (arch, c["gflops"])
    print(f"{arch}: {c['params'] / 1e6:.3f} M params, {c['gflops']:.1f} GFLOPs @720x720 "
          f"(published {pub['params_m']} M, {pub['gflops_720']})")


def test_lwmm_shared_encoder_gives_zero_motion_for_identical_frames():
    """The default LW-MM encoder shares its weights between the streams: identical frames give
    E_a = E_b, so (E_a − E_b)·M_f is a motion signal; the unshared variant (thesis-exact parameter
    count, 1.10 M) does not, which is what killed its manipulator in training."""
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    shared = build_net("lwmm-m2", {**TINY_LWMM})
    ea, eb, _, _ = shared.encode(x, x)
    assert torch.equal(ea, eb)
    unshared = build_net("lwmm-m2", {**TINY_LWMM, "shared_encoder": False})
    ea, eb, _, _ = unshared.encode(x, x)
    assert (ea - eb).abs().mean() > 1e-3 * ea.abs().mean()
    assert complexity(build_net("lwmm-m1", {"shared_encoder": False}))["params"] == 1_103_475


def test_weights_saved_before_the_shared_encoder_still_load(tmp_path):
    old = build_net("lwmm-m2", {**TINY_LWMM, "shared_encoder": False})
    save_weights(tmp_path / "old.pt", old, "lwmm-m2", TINY_LWMM)  # arch_args without the flag, as before
    net, info = load_weights(tmp_path / "old.pt")
    assert info["arch_args"]["shared_encoder"] is False
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x, x, 5.0), old.eval()(x, x, 5.0))


def test_factor_response_probe_reads_a_copying_and_a_magnifying_network():
    class Copy(nn.Module):  # output = current frame: motion d whatever the factor
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))

        def forward(self, ref, cur, alpha):
            return cur

    class Linear(Copy):  # first-order magnification cur + (alpha − 1)(cur − ref): alpha·d for small alpha·d
        def forward(self, ref, cur, alpha):
            return (cur + (alpha.view(-1, 1, 1, 1) - 1) * (cur - ref)).clamp(-1, 1)

    copy = factor_response(Copy(), factors=(1, 2, 4), shifts_px=(0.25, 0.5), images=BENCH_IMAGES[:2])
    for r in copy["rows"]:
        assert r["measured_px"] == pytest.approx(r["shift_px"], abs=0.03)
        assert r["gain"] == pytest.approx(1 / r["factor"], rel=0.1)
    lin = factor_response(Linear(), factors=(1, 2, 4), shifts_px=(0.25,), images=BENCH_IMAGES[:2])
    for r in lin["rows"]:
        assert r["gain"] == pytest.approx(1.0, abs=0.1), r
    assert lin["mean_gain"] > 0.9 > 0.5 > copy["mean_gain"]


def test_mac_counter_is_hand_derivable():
    class One(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.fc = nn.Linear(5, 2)

        def forward(self, ref, cur, alpha):
            y = self.conv(cur)
            return self.fc(y[..., :5])

    # conv: 10*10 outputs x 8 channels x 27 taps; linear: (1*8*10) rows x 2 outputs x 5 inputs
    assert count_macs(One(), 10, 10) == 10 * 10 * 8 * 27 + 8 * 10 * 2 * 5


@pytest.mark.parametrize("arch,args", [("oh", TINY_OH), ("lwmm-m2", TINY_LWMM)])
def test_forward_shapes_and_size_check(arch, args):
    net = build_net(arch, args)
    x = torch.rand(2, 3, 16, 24) * 2 - 1
    assert net(x, x, 10.0).shape == x.shape
    assert net(x, x, torch.tensor([2.0, 30.0])).shape == x.shape
    with pytest.raises(InputError, match="multiple of"):
        net(x[..., :15, :], x[..., :15, :], 10.0)


def test_unknown_architecture_lists_valid_ones():
    with pytest.raises(InputError, match="valid: oh, lwmm-m1, lwmm-m2"):
        build_net("lwmm-m3")


# ------------------------------------------------------------------------------------------------
# training data


def test_generator_respects_factor_and_motion_limits():
    cfg = SynthConfig(size=32, objects=(2, 4))
    gen = SynthPairs(cfg, seed=1)
    subsets = set()
    for i in range(40):
        s = gen.sample(i)
        subsets.add(s["subset"])
        assert 1.0 <= s["alpha"] <= 100.0
        assert s["magnified_px"] <= 30.0 + 1e-9 and s["motion_px"] <= 10.0 + 1e-9
        mags = np.hypot(*s["displacements"].T) * s["alpha"]
        assert mags.max() <= 30.0 + 1e-9
        for k in ("a", "b", "y", "b_pert", "y_pert"):
            assert s[k].shape == (32, 32, 3) and s[k].dtype == np.uint8
    assert {"regular", "static"} <= subsets or len(subsets) >= 3


def test_generator_is_a_pure_function_of_seed_and_index():
    cfg = SynthConfig(size=32, objects=(2, 3))
    a, b = SynthPairs(cfg, 5).sample(7), SynthPairs(cfg, 5).sample(7)
    for k in ("a", "b", "y"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["a"], SynthPairs(cfg, 6).sample(7)["a"])


def test_static_subset_has_no_motion():
    s = SynthPairs(SynthConfig(size=32, objects=(3, 3)), 0).sample(0, subset="static")
    np.testing.assert_array_equal(s["a"], s["b"])
    np.testing.assert_array_equal(s["a"], s["y"])
    assert s["magnified_px"] == 0


def _warp(img, dx, dy):
    return cv2.warpAffine(img, np.float32([[1, 0, dx], [0, 1, dy]]), img.shape[1::-1], flags=cv2.INTER_CUBIC)


def test_rendered_motion_is_the_declared_motion():
    """Background-only scene: b is a moved by d, y is a moved by alpha*d (content moves by +d)."""
    gen = SynthPairs(SynthConfig(size=64, objects=(0, 0)), seed=3)
    for i in range(30):
        s = gen.sample(i, subset="background_only")
        d, al = s["displacements"][0], s["alpha"]
        if 3 < al * np.hypot(*d) < 16 and np.hypot(*d) > 0.5:
            break
    a, b, y = (s[k].astype(np.float32) for k in ("a", "b", "y"))
    inner = np.s_[20:-20, 20:-20]

    def err(p, q):
        return float(((p - q)[inner] ** 2).mean())

    assert err(_warp(a, *d), b) < 0.35 * err(a, b)
    assert err(_warp(a, *(al * d)), y) < 0.35 * err(a, y)
    assert err(_warp(a, *(al * d)), y) < err(_warp(a, *(-al * d)), y)


def test_hdf5_round_trip(tmp_path):
    cfg = SynthConfig(size=32, objects=(1, 2))
    path = dataset_write(tmp_path / "pairs.h5", 3, cfg, seed=2)
    pairs = H5Pairs(path)
    assert len(pairs) == 3 and pairs.cfg == cfg
    want = SynthPairs(cfg, 2).sample(1)
    got = pairs.sample(4)  # wraps to index 1
    for k in ("a", "b", "y", "b_pert", "y_pert"):
        np.testing.assert_array_equal(got[k], want[k])
    assert got["alpha"] == pytest.approx(want["alpha"], rel=1e-6)
    pairs.close()


def test_noise_goes_to_inputs_only():
    s = [SynthPairs(SynthConfig(size=32, objects=(1, 1)), 0).sample(i) for i in range(2)]
    noisy = make_batch(s, NoiseConfig(kind="gaussian", gaussian_sigma=0.05, p_clean=0.0), torch.Generator().manual_seed(0))
    clean = make_batch(s, NoiseConfig(kind="none"), torch.Generator().manual_seed(0))
    assert torch.equal(noisy["y"], clean["y"]) and torch.equal(noisy["a_clean"], clean["a"])
    assert (noisy["a"] - clean["a"]).abs().mean() > 0.005
    assert noisy["a"].min() >= -1 and noisy["a"].max() <= 1


# ------------------------------------------------------------------------------------------------
# losses


def test_edge_loss_of_a_ramp():
    x = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 8, 8)
    assert edge_loss(x, x) == 0
    # horizontal slope 1 vs 0, no vertical change: mean |dx| difference = 1
    assert edge_loss(x, torch.zeros_like(x)).item() == pytest.approx(1.0)


def test_ms_ssim_is_one_for_identical_images():
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2), atol=1e-5)
    assert (ms_ssim(x, (x + 0.3 * torch.rand_like(x)).clamp(0, 1)) < 0.95).all()


def test_vgg16_loads_a_torchvision_state_dict(tmp_path):
    ref = VGG16Features()
    state = {k: torch.randn_like(v) for k, v in ref.state_dict().items() if k.startswith("features.")}
    state["classifier.0.weight"] = torch.zeros(3, 3)  # extra keys of the full model are ignored
    torch.save(state, tmp_path / "vgg.pth")
    vgg = VGG16Features()
    vgg.load_weights(tmp_path / "vgg.pth")
    assert torch.equal(vgg.features[0].weight, state["features.0.weight"])
    assert [tuple(f.shape[1:2]) for f in vgg(torch.rand(1, 3, 32, 32))] == [(64,), (128,), (256,)]
    del state["features.14.weight"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="missing features.14.weight"):
        VGG16Features().load_weights(tmp_path / "bad.pth")
    with pytest.raises(InputError, match="needs ImageNet VGG-16 weights"):
        PerceptualLoss("vgg16")
    assert PerceptualLoss("auto").describe()["kind"] == "msssim"


# ------------------------------------------------------------------------------------------------
# training


def _tiny_cfg(**kw) -> MagTrainConfig:
    base = dict(name="tiny", arch="lwmm-m2", arch_args=TINY_LWMM, data=SynthConfig(size=32, objects=(2, 3)),
                noise=NoiseConfig(kind="gaussian", gaussian_sigma=0.02), batch=2, steps=4, lr=1e-3,
                checkpoint_every=2, log_every=1, val_every=0, val_samples=0, proxy_steps=2)
    base.update(kw)
    return MagTrainConfig(**base)


@pytest.mark.parametrize("arch,args", [("lwmm-m2", TINY_LWMM), ("oh", TINY_OH)])
def test_a_few_steps_reduce_the_loss(tmp_path, arch, args):
    data = dataset_write(tmp_path / "two.h5", 2, SynthConfig(size=32, objects=(2, 3)), seed=0)
    cfg = _tiny_cfg(arch=arch, arch_args=args, data_file=str(data), batch=2, steps=30, lr=3e-3,
                    noise=NoiseConfig(kind="none"), loss={"proxy": 0.0, "perceptual": 0.0} if arch != "oh" else {})
    summary = train_magnifier(cfg, tmp_path / "run", progress=False)
    totals = [h["total"] for h in summary["stages"][-1]["history"] if "total" in h]
    assert summary["done"] and len(totals) == 30
    print(arch, np.mean(totals[:5]), np.mean(totals[-5:]))
    assert np.mean(totals[-5:]) < 0.7 * np.mean(totals[:5])


def test_resume_is_exact(tmp_path):
    straight = train_magnifier(_tiny_cfg(steps=6), tmp_path / "a", progress=False)
    train_magnifier(_tiny_cfg(steps=3), tmp_path / "b", progress=False)
    with pytest.raises(InputError, match="--resume"):
        train_magnifier(_tiny_cfg(steps=6), tmp_path / "b", progress=False)
    with pytest.raises(InputError, match="different seed"):
        train_magnifier(_tiny_cfg(steps=6, seed=1), tmp_path / "b", resume=True, progress=False)
    resumed = train_magnifier(_tiny_cfg(steps=6), tmp_path / "b", resume=True, progress=False)
    a, _ = load_weights(straight["checkpoint"])
    b, _ = load_weights(resumed["checkpoint"])
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    ha = [h["total"] for h in straight["stages"][-1]["history"]]
    hb = [h["total"] for h in resumed["stages"][-1]["history"]]
    assert ha == hb


def test_proxy_stage_then_export(tmp_path):
    cfg = _tiny_cfg(steps=2, loss={"proxy": 1.0, "perceptual": 0.1}, val_every=1, val_samples=2)
    summary = train_magnifier(cfg, tmp_path / "run", progress=False)
    assert [s["stage"] for s in summary["stages"]] == ["proxy", "main"] and summary["done"]
    assert (tmp_path / "run" / "proxy" / "last.pt").exists()
    main_hist = summary["stages"][1]["history"]
    assert all("proxy" in h for h in main_hist if "total" in h)
    assert not any("proxy" in h for h in summary["stages"][0]["history"] if "total" in h)
    out = export_run(tmp_path / "run", tmp_path / "m2.pt", {"note": "test"})
    net, info = load_weights(out)
    assert info["arch"] == "lwmm-m2" and info["card"]["training"]["steps"] == 2
    assert info["card"]["loss"]["perceptual"]["kind"] == "msssim"
    assert "proxy_stage" in info["card"] and out.with_suffix(".md").read_text().startswith("# Model card")


# ------------------------------------------------------------------------------------------------
# Magnifier wrapper


@pytest.mark.parametrize("arch,args", [("oh", TINY_OH), ("lwmm-m2", TINY_LWMM)])
@pytest.mark.parametrize("mode", ["dynamic", "static", "temporal"])
def test_magnifier_modes_on_a_short_clip(small_clip, arch, args, mode):
    net = build_net(arch, args)
    clip = small_clip[:12, :30, :42]  # odd-sized: padded to the network's multiple and cropped back
    mag = LearnedMagnifier(arch, factor=8.0, mode=mode, net=net, band_hz=(1.0, 4.0) if mode == "temporal" else None)
    out = np.concatenate(list(magnify_stream(mag, [clip], 30.0)))
    assert out.shape == clip.shape and out.dtype == np.uint8
    if mode == "dynamic":
        np.testing.assert_array_equal(out[0], clip[0])  # no previous frame: unchanged
    whole = mag.process(to_tensor(clip), 30.0) if mode != "static" else None
    if mode == "dynamic":
        assert torch.isfinite(whole).all()


@pytest.mark.parametrize("arch,args", [("oh", TINY_OH), ("lwmm-m2", TINY_LWMM)])
def test_temporal_window_stream_equals_block_driver(small_clip, arch, args):
    """Temporal mode streams through a bounded window of band-passed features (the encoder runs again
    for each output frame): the same output as the block driver with the same block, to 1 grey level."""
    torch.manual_seed(0)
    net = build_net(arch, args)
    clip = small_clip[:, :30, :42]
    mag = LearnedMagnifier(arch, factor=8.0, mode="temporal", net=net, band_hz=(1.0, 4.0))
    chunks = lambda: (clip[i : i + 5] for i in range(0, len(clip), 5))  # noqa: E731
    ref = np.concatenate(list(blocked_stream(mag, chunks(), 30.0, block_frames=8)))
    out = np.concatenate(list(magnify_stream(mag, chunks(), 30.0, block_frames=8)))
    assert out.shape == clip.shape
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1


def test_network_passes_are_bounded_in_pixels_and_do_not_change_the_output(small_clip, monkeypatch):
    """The streamed temporal mode puts at most NET_PASS_PIXELS through the network at once (one frame at
    1080p); slicing a window batch that way gives the same frames as one pass."""
    import physio.magnify.learned.magnifier as lm

    torch.manual_seed(0)
    mag = LearnedMagnifier("lwmm-m2", factor=8.0, mode="temporal", net=build_net("lwmm-m2", TINY_LWMM),
                           band_hz=(1.0, 4.0), batch_frames=4)
    assert [len(s) for s in mag._passes(torch.zeros(5, 3, 1080, 1920))] == [1] * 5
    assert [len(s) for s in mag._passes(torch.zeros(5, 3, 480, 640))] == [4, 1]
    clip = small_clip[:, :30, :42]
    chunks = lambda: (clip[i : i + 5] for i in range(0, len(clip), 5))  # noqa: E731
    whole = np.concatenate(list(magnify_stream(mag, chunks(), 30.0, block_frames=8)))
    monkeypatch.setattr(lm, "NET_PASS_PIXELS", 30 * 42)  # one frame a pass
    mag.reset()
    sliced = np.concatenate(list(magnify_stream(mag, chunks(), 30.0, block_frames=8)))
    assert np.abs(whole.astype(int) - sliced.astype(int)).max() <= 1


@pytest.mark.parametrize("method", ["oh", "lwmm-m1", "lwmm-m2"])
def test_large_frames_go_through_the_network_in_bands_with_the_same_result(method, monkeypatch):
    """A frame above TILE_PIXELS is encoded and decoded in horizontal bands with TILE_HALO rows of context:
    the shipped networks' receptive fields fit in the halo, so the bands give the whole frame's features
    and output (here three bands of a 264 × 200 frame)."""
    import physio.magnify.learned.magnifier as lm
    from physio.magnify.registry import get_magnifier

    m = get_magnifier(method, learned_mode="temporal", band_hz=(0.7, 2.5))
    xp, _ = m._pad(torch.rand(1, 3, 264, 200, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    with torch.inference_mode():
        whole_codes = m._banded_codes(xp)
        whole = m._banded_from_band(xp, whole_codes)
        monkeypatch.setattr(lm, "TILE_PIXELS", 264 * 200 // 3)
        assert len(m._bands(*xp.shape[-2:])) == 3
        codes = m._banded_codes(xp)
        out = m._banded_from_band(xp, whole_codes)
    assert torch.allclose(codes, whole_codes, atol=1e-5) and torch.allclose(out, whole, atol=1e-5)
    monkeypatch.undo()
    assert len(m._bands(1088, 1920)) == 3 and len(m._bands(480, 640)) == 1  # 1080p: three bands; VGA: one


def test_bands_follow_each_networks_locality_and_halo():
    """MD-MM (a Fourier transform of the whole frame) is never cut into bands; HMN and σ-θ Net get
    their own, wider halo (their receptive fields exceed the default 64 rows)."""
    from physio.magnify.learned.magnifier import TILE_HALO

    assert LearnedMagnifier("mdmm-d2", net=build_net("mdmm-d2"))._bands(1080, 1920) == [(0, 0, 1080, 1080)]
    for arch, halo in (("hmn-m2", 128), ("sigma-theta", 136), ("lwmm-m2", TILE_HALO)):
        bands = LearnedMagnifier(arch, net=build_net(arch))._bands(1088, 1920)
        assert len(bands) == 3
        assert all(a - lo >= min(halo, a) and hi - b >= min(halo, 1088 - b) for lo, a, b, hi in bands)
        assert bands[1][1] - bands[1][0] < halo + 16  # no more context than asked (rounded to the stride)


class _LinearThesisNet(ThesisNet):
    """The ideal first-order magnifier ``cur + (alpha − 1)(cur − ref)`` with the ThesisNet defaults."""

    def forward(self, ref, cur, alpha, return_aux=False):
        return cur + (alpha_tensor(alpha, cur) - 1) * (cur - ref)


def test_thesis_nets_temporal_mode_magnifies_the_band_passed_pixels(monkeypatch):
    """The default temporal mode of the ch. 4–7 networks hands the pair (x − bp(x), x) to the network: for
    the ideal linear magnifier that is linear EVM, x + (alpha − 1)·bp(x), with the same filter."""
    import physio.magnify.learned.nets as nets

    monkeypatch.setitem(nets.ARCHS, "linear-test", (_LinearThesisNet, {}))
    t = np.arange(90) / 30.0
    frames = torch.full((90, 3, 8, 8), 0.5) + 0.01 * torch.sin(torch.as_tensor(2 * np.pi * 1.5 * t, dtype=torch.float32)).view(-1, 1, 1, 1)
    frames = frames + 0.02 * torch.sin(torch.as_tensor(2 * np.pi * 0.1 * t, dtype=torch.float32)).view(-1, 1, 1, 1)
    mag = LearnedMagnifier("linear-test", factor=6.0, mode="temporal", band_hz=(1.0, 2.0), net=_LinearThesisNet())
    out = mag.process(frames, 30.0)
    band = mag._filter(frames * 2 - 1, 30.0)  # the filter works in the network's [-1, 1] range
    expected = frames + 5.0 * band / 2
    assert torch.allclose(out, expected, atol=1e-5)
    gain = float((out - frames)[30:60].std() / (0.01 * np.sqrt(0.5)))
    assert 4.0 < gain < 6.0  # the 1.5 Hz tone grows by ≈ alpha − 1 = 5 (filter gain ≤ 1); the 0.1 Hz drift does not


def test_static_reference_is_kept_across_blocks(small_clip):
    net = build_net("lwmm-m2", TINY_LWMM)
    mag = LearnedMagnifier("lwmm-m2", factor=5.0, mode="static", net=net)
    whole = mag.process(to_tensor(small_clip[:8]), 30.0)
    mag.reset()
    parts = torch.cat([mag.process(to_tensor(small_clip[:4]), 30.0), mag.process(to_tensor(small_clip[4:8]), 30.0)])
    assert torch.allclose(whole, parts, atol=1e-5)


def test_temporal_mode_streams_without_seams(small_clip):
    net = build_net("oh", TINY_OH)
    mag = LearnedMagnifier("oh", factor=4.0, mode="temporal", net=net, band_hz=(2.0, 6.0), filter="iir")
    clip = np.concatenate([small_clip, small_clip[::-1]])[:, :24, :32]
    whole = np.concatenate(list(magnify_stream(mag, [clip], 30.0, block_frames=len(clip))))
    chunked = np.concatenate(list(magnify_stream(mag, (clip[i : i + 5] for i in range(0, len(clip), 5)), 30.0,
                                                 block_frames=8)))
    assert np.abs(whole.astype(int) - chunked.astype(int)).max() <= 2


def test_magnifier_argument_errors(tmp_path):
    net = build_net("oh", TINY_OH)
    with pytest.raises(InputError, match="needs band_hz"):
        LearnedMagnifier("oh", mode="temporal", net=net)
    with pytest.raises(InputError, match="unknown mode"):
        LearnedMagnifier("oh", mode="sideways", net=net)
    with pytest.raises(InputError, match="no trained weights"):
        LearnedMagnifier("oh", weights=tmp_path / "none.pt")
    with pytest.raises(InputError, match="must be a LWMMNet"):
        LearnedMagnifier("lwmm-m1", net=net)
    save_weights(tmp_path / "oh.pt", net, "oh", TINY_OH)
    with pytest.raises(InputError, match="holds oh weights"):
        LearnedMagnifier("lwmm-m2", weights=tmp_path / "oh.pt")
    assert LearnedMagnifier("oh", weights=tmp_path / "oh.pt").describe()["mode"] == "dynamic"


# ------------------------------------------------------------------------------------------------
# circle benchmark


def test_upsample_move_downsample_gives_the_subpixel_shift():
    bg = np.full((96, 96, 3), 0.2, np.float32)
    tex = np.full((41, 41, 3), 0.9, np.float32)
    horiz = (np.array([1.0, 0.0]),)

    def centroid(f):
        m = f[..., 0] - 0.2
        return float((m.sum(0) * np.arange(96)).sum() / m.sum())

    a = render_circles(bg, [tex], [(48, 48)], 20, 0.0, 10, horiz)
    b = render_circles(bg, [tex], [(48, 48)], 20, 0.1, 10, horiz)
    assert centroid(b) - centroid(a) == pytest.approx(0.1, abs=2e-3)
    with pytest.raises(InputError, match="whole number"):
        render_circles(bg, [tex], [(48, 48)], 20, 0.05, 10, horiz)


def test_circle_videos_have_the_declared_amplitudes():
    cfg = CircleBenchConfig.quick()
    v = circle_video(cfg, 0, frames=4, noise_sigma=0.0)
    assert v.background_name == f"skimage:{BENCH_IMAGES[0]}"
    assert measure_amplitude(v, v.inputs)["amp_px"] == pytest.approx(0.1, abs=0.02)
    assert measure_amplitude(v, v.truth)["amp_px"] == pytest.approx(10.0, abs=0.1)
    assert nominal_learned_factor(0.1, 10.0) == pytest.approx(50.5)


def test_no_motion_ground_truth_is_the_input():
    cfg = CircleBenchConfig.quick()
    v = circle_video(cfg, 1, frames=4, amp_in_px=0.0)
    np.testing.assert_array_equal(v.truth, v.inputs)
    assert v.inputs.std(axis=0).mean() > 0.5  # noisy input (sigma 2)
    assert score_video(v.inputs, v.truth) == {"mse": 0.0, "psnr": float("inf"), "ssim": 1.0}


class _Oracle(Magnifier):
    """Renders the video's circles at ±0.2·factor px (a perfectly linear magnifier), ignoring its input."""

    name = "oracle"

    def __init__(self, video, factor):
        self.video, self.factor = video, factor

    def process(self, frames, fps):
        v = self.video
        amp = round(0.2 * self.factor, 1)
        states = [render_circles(v.background, v.textures, v.centres, v.radius_px, s * amp, 10) for s in (1, -1)]
        out = np.stack([states[j % 2] for j in range(len(frames))])
        return torch.from_numpy(out).permute(0, 3, 1, 2).float()


def test_calibration_finds_the_factor_of_a_linear_magnifier():
    cfg = CircleBenchConfig.quick()
    v = circle_video(cfg, 2, frames=4, noise_sigma=0.0)
    method = BenchMethod("oracle", lambda f: _Oracle(v, f), factor=20.0)
    f, trace = calibrate_factor(method, [v], cfg.fps, target_px=10.0, iters=4, tol=0.02)
    assert f == pytest.approx(50.0, rel=0.03)
    assert abs(trace[-1]["amp_px"] - 10.0) <= 0.2


def test_bench_cli_quick(tmp_path):
    from physio.cli import main

    weights = tmp_path / "m2.pt"
    save_weights(weights, build_net("lwmm-m2", TINY_LWMM), "lwmm-m2", TINY_LWMM)
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    rc = main(["bench-magnifiers", "--quick", "--videos", "2", "--frames", "3", "--methods", "identity,lwmm-m2",
               "--weights", f"lwmm-m2={weights}", "-o", str(out), "--markdown", str(md),
               "--plot", str(tmp_path / "sweeps.png")])
    assert rc == 0
    res = json.loads(out.read_text())
    assert (tmp_path / "sweeps.png").stat().st_size > 10_000
    assert set(res["main"]) == {"identity", "lwmm-m2"}
    for key in ("noise_sweep", "subpixel_sweep", "factor_sweep", "no_motion"):
        assert set(res[key]) == {"identity", "lwmm-m2"}
    assert len(res["main"]["identity"]["per_video"]) == 2
    assert res["no_motion"]["identity"]["mse"] == 0.0  # ground truth = input
    assert res["main"]["identity"]["mean"]["mse"] > 100  # doing nothing misses the 10-px motion
    assert res["methods"]["identity"]["measured_amp_px"] == pytest.approx(0.1, abs=0.05)
    assert "| lwmm-m2 |" in md.read_text()
    assert main(["bench-magnifiers", "--quick", "--methods", "nope"]) == 2
    assert main(["bench-magnifiers", "--quick", "--no-sweeps", "--plot", str(tmp_path / "x.png")]) == 2
    # the figure draws the benchmark's own numbers: MSE and SSIM per sweep, the no-motion PSNR bars
    from physio.figures.circles import circle_sweeps_figure

    fig = circle_sweeps_figure(res)
    axes = fig.axes
    assert len(axes) == 8
    line = next(ln for ln in axes[0].get_lines() if ln.get_label() == "lwmm-m2")
    assert list(line.get_ydata()) == pytest.approx([r["mse"] for r in res["noise_sweep"]["lwmm-m2"]])
    assert list(line.get_xdata()) == pytest.approx([r["sigma"] for r in res["noise_sweep"]["lwmm-m2"]])
    bars = [b.get_height() for b in axes[3].patches]
    assert bars == pytest.approx([min(res["no_motion"][n]["psnr"], 100.0) for n in ("identity", "lwmm-m2")])
    with pytest.raises(InputError):
        circle_sweeps_figure({"main": {}})


@pytest.mark.parametrize("arch", ["oh", "lwmm-m1", "lwmm-m2", "mdmm-d2", "kldnas-sm1", "kldnas-sm2"])
def test_shipped_weights_magnify(arch):
    """The weights in models/ (trained on CPU, models/<arch>.md) move a held-out photograph's 0.5-px
    shift further at factor 10 than at factor 1: they magnify, if less than the papers' networks."""
    net, info = load_weights(default_weights_path(arch))
    assert info["arch"] == arch
    res = factor_response(net, factors=(1.0, 10.0), shifts_px=(0.5,), images=BENCH_IMAGES)
    at1, at10 = (r["measured_px"] for r in res["rows"])
    assert at10 > max(2.0 * at1, 1.5 * 0.5), res["rows"]  # grows with the factor, beyond the input shift
