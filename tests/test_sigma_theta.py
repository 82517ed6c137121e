"""σ-θ Net (thesis ch. 6): size, forward contract, numerically safe phase, directions, training, magnifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from physio.errors import InputError
from physio.magnify.base import magnify_stream, to_tensor
from physio.magnify.learned.catalog import LEARNED
from physio.magnify.learned.complexity import complexity
from physio.magnify.learned.data import NoiseConfig, SynthConfig, SynthPairs, make_batch
from physio.magnify.learned.losses import LossWeights, PerceptualLoss, make_objective
from physio.magnify.learned.magnifier import LearnedMagnifier
from physio.magnify.learned.nets import ARCHS, PUBLISHED, build_net
from physio.magnify.learned.sigma_theta import (
    DirectionalManipulator,
    SigmaThetaNet,
    safe_phase,
    wrap_angle,
)
from physio.magnify.learned.train import MagTrainConfig, train_magnifier

TINY = {"c": 4, "n_dir": 3, "n_pre": 1, "n_half": 1, "n_post": 1}


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


def _frames(b=2, h=32, w=32):
    ref = torch.rand(b, 3, h, w) * 2 - 1
    return ref, (ref.roll(1, -1) + 0.02 * torch.randn_like(ref)).clamp(-1, 1)


def test_registered_and_size_within_15_percent_of_table_6_2():
    assert ARCHS["sigma-theta"][0] is SigmaThetaNet and LEARNED["sigma-theta"].file == "sigma_theta.pt"
    c = complexity(build_net("sigma-theta"))  # runs on the meta device
    pub = PUBLISHED["sigma-theta"]
    assert c["params"] == 88_202
    assert abs(c["params_m"] / pub["params_m"] - 1) <= 0.15
    assert abs(c["gflops"] / pub["gflops_720"] - 1) <= 0.15
    print(f"sigma-theta: {c['params']} params, {c['gflops']:.1f} GFLOPs @720 (published 0.085 M, 48.8)")


def test_forward_shape_range_and_alpha_forms():
    net = build_net("sigma-theta").eval()
    ref, cur = _frames(2, 32, 48)
    with torch.no_grad():
        out_f = net(ref, cur, 10.0)
        out_t = net(ref, cur, torch.tensor([10.0, 10.0]))
        out_2, aux = net(ref, cur, torch.tensor([2.0, 40.0]), return_aux=True)
    assert out_f.shape == ref.shape and out_f.abs().max() < 1
    assert torch.allclose(out_f, out_t)
    assert not torch.allclose(out_2[0], out_2[1])
    assert aux["manip_full"].shape == ref.shape and aux["manip_half"].shape == (2, 3, 16, 24)
    with pytest.raises(InputError, match="multiple of"):
        net(ref[..., :31, :], cur[..., :31, :], 10.0)
    with pytest.raises(InputError, match="alpha"):
        net(ref, cur, torch.tensor([1.0, 2.0, 3.0]))


def test_gradients_reach_every_parameter():
    net = build_net("sigma-theta")
    ref, cur = _frames()
    net(ref, cur, torch.tensor([5.0, 30.0])).square().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
            or p.grad.abs().sum() == 0]
    assert not dead


@pytest.mark.parametrize("pair", ["riesz", "rotated"])
def test_constant_frames_give_finite_output_and_gradients(pair):
    """atan2(0, 0): constant frames have zero gradients and zero even part everywhere."""
    net = SigmaThetaNet(pair=pair)
    x = torch.full((2, 3, 16, 16), 0.3, requires_grad=True)
    out = net(x, x, torch.tensor([1.0, 80.0]))
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_safe_phase_and_wrap():
    odd = torch.tensor([0.0, 1.0, 0.0, -1e-5], requires_grad=True)
    even = torch.tensor([0.0, 0.0, -1.0, 1e-5], requires_grad=True)
    phi = safe_phase(odd, even, 1e-3)
    assert torch.allclose(phi.detach(), torch.tensor([0.0, math.pi / 2, math.pi, 0.0]))
    phi.sum().backward()
    assert torch.isfinite(odd.grad).all() and odd.grad[0] == 0 and even.grad[0] == 0
    d = torch.linspace(-7, 7, 1001)
    w = wrap_angle(d)
    assert (w > -math.pi).all() and (w <= math.pi + 1e-6).all()
    assert torch.allclose(w, torch.atan2(torch.sin(d), torch.cos(d)), atol=1e-5)
    assert wrap_angle(torch.tensor(-math.pi)).item() == pytest.approx(math.pi)


def _stripes(shift: float, size: int = 48, period: float = 12.0) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - shift
    row = 0.5 * torch.sin(2 * math.pi * x / period)
    return row.view(1, 1, 1, -1).expand(1, 3, size, size).contiguous()


def test_riesz_pair_is_directional():
    """Vertical stripes shifted along x: the phase moves for θ = 0 and not for θ = 90°."""
    m = DirectionalManipulator(n_dir=2)
    with torch.no_grad():
        m.theta.copy_(torch.tensor([0.0, math.pi / 2]))
        _, p1 = m.polar(_stripes(0.0))
        _, p2 = m.polar(_stripes(0.5))
    d = wrap_angle(p2 - p1)[..., 8:-8, 8:-8].reshape(3, 2, -1)  # (colour, direction, pixels)
    along, across = d[:, 0].abs().mean(), d[:, 1].abs().median()
    assert along == pytest.approx(2 * math.pi * 0.5 / 12.0, rel=0.15), along  # local phase: ω·d
    assert across < 1e-3, across


def test_rotated_pair_is_degenerate_in_theta():
    """The (∇^θ, ∇^{θ+90°}) reading: same R and same wrapped phase difference for every θ."""
    m = DirectionalManipulator(n_dir=9, pair="rotated")
    ref, cur = _frames(1)
    with torch.no_grad():
        r1, p1 = m.polar(ref)
        r2, p2 = m.polar(cur)
    r1, dphi = r1.view(1, 3, 9, 32, 32), wrap_angle(p2 - p1).view(1, 3, 9, 32, 32)
    assert torch.allclose(r1, r1[:, :, :1].expand_as(r1), atol=1e-5)
    diff = wrap_angle(dphi - dphi[:, :, :1])
    assert diff.abs().max() < 1e-3


def test_no_extra_losses_and_objective_parts_finite():
    net = build_net("sigma-theta")
    pairs = SynthPairs(SynthConfig(size=32, objects=(2, 3)), seed=0)
    batch = make_batch([pairs.sample(i) for i in range(2)], NoiseConfig(kind="gaussian", gaussian_sigma=0.02),
                       torch.Generator().manual_seed(0))
    out, aux = net(batch["a"], batch["b"], batch["alpha"], return_aux=True)
    assert net.extra_losses(batch, out, aux) == {}
    objective = make_objective(net, LossWeights(), PerceptualLoss("msssim"))
    total, parts = objective(batch)
    assert set(parts) == {"l1", "edge", "perceptual", "total"}
    assert all(math.isfinite(v) and v >= 0 for v in parts.values())
    total.backward()


def test_twenty_training_steps_write_a_checkpoint(tmp_path):
    cfg = MagTrainConfig(name="st", arch="sigma-theta", data=SynthConfig(size=32, objects=(2, 3)),
                         noise=NoiseConfig(kind="gaussian", gaussian_sigma=0.02), batch=2, steps=20, lr=1e-3,
                         loss={"appearance": 0.0, "proxy": 0.0, "perceptual": 0.1}, checkpoint_every=10,
                         log_every=5, val_every=0, val_samples=0, threads=1)
    summary = train_magnifier(cfg, tmp_path / "run", progress=False)
    assert summary["done"] and [s["stage"] for s in summary["stages"]] == ["main"]
    assert (tmp_path / "run" / "last.pt").exists()
    totals = [h["total"] for h in summary["stages"][-1]["history"] if "total" in h]
    assert len(totals) == 4 and all(math.isfinite(t) for t in totals)


@pytest.mark.parametrize("mode", ["dynamic", "temporal"])
def test_magnifier_modes(small_clip, mode):
    net = build_net("sigma-theta", TINY)
    clip = small_clip[:10, :30, :42]  # padded to even size and cropped back
    mag = LearnedMagnifier("sigma-theta", factor=8.0, mode=mode, net=net,
                           band_hz=(1.0, 4.0) if mode == "temporal" else None)
    out = np.concatenate(list(magnify_stream(mag, [clip], 30.0)))
    assert out.shape == clip.shape and out.dtype == np.uint8
    whole = mag.process(to_tensor(clip), 30.0)
    assert torch.isfinite(whole).all()
    if mode == "dynamic":
        np.testing.assert_array_equal(out[0], clip[0])
