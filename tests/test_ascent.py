"""Gradient ascent (DeepMag Algorithm 1): normalisation, sign correction, vectorisation, safety."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from physio.errors import DivergenceError, InputError
from physio.magnify.ascent import gradient_ascent
from physio.nets.pulse import PulseNet


class Linear(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


@pytest.fixture
def net():
    torch.manual_seed(0)
    return PulseNet(channels=(4, 8), hidden=16).eval()


def test_linear_net_closed_form():
    w = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]])
    x = torch.tensor([[[[0.1, 0.3], [-0.2, 0.4]]]])
    res = gradient_ascent(Linear(w), x, gamma=0.01, iterations=3, l1="sum")
    # G = sgn(y)·w; ‖G‖₁ = 3.5; sign correction → |w| ⊙ sgn(x); two steps of γ·|w|/3.5
    expected = x + 2 * 0.01 * w.abs() / 3.5 * torch.sign(x)
    torch.testing.assert_close(res.x, expected)
    res_mean = gradient_ascent(Linear(w), x, gamma=0.01, iterations=3, l1="mean")
    torch.testing.assert_close(res_mean.x - x, 4 * (expected - x))  # D = 4 elements


def _source_plus_noise(n=16, seed=0):
    """Samples x = s·w + noise for a linear 'network' y = w·x: the source is s."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(1, 3, 8, 8, generator=g)
    s = torch.randn(n, 1, 1, 1, generator=g)
    return Linear(w), s * w + 0.3 * torch.randn(n, 3, 8, 8, generator=g), s


def test_objective_grows_with_iterations_and_gamma():
    lin, x, s = _source_plus_noise()
    res = gradient_ascent(lin, x, gamma=0.05, iterations=10, record=True)
    obj = torch.stack(res.objective)  # (N, B)
    assert obj.shape == (10, 16) and len(res.grad_l1) == 9
    assert torch.all(obj[1:] >= obj[:-1])  # monotone learning curve (Fig. 9)
    big = gradient_ascent(lin, x, gamma=0.1, iterations=10, record=True)
    assert torch.all(big.objective[-1] > obj[-1])
    # the magnified source keeps its sign (no 180° flips)
    assert torch.all(torch.sign(lin(res.x)) == torch.sign(lin(x)))


def test_sign_correction_keeps_input_signs(net):
    x = torch.randn(8, 3, 36, 36) * 1e-3
    res = gradient_ascent(net, x, gamma=1e-4, iterations=5)
    delta = res.x - x
    moved = delta != 0
    assert moved.any()
    assert torch.all(torch.sign(delta[moved]) == torch.sign(x[moved]))  # every step pushes along X
    off = gradient_ascent(net, x, gamma=1e-4, iterations=5, sign_correct=False).x - x
    agree = (torch.sign(off) == torch.sign(x))[off != 0].float().mean()
    assert agree < 0.9  # without it, steps go against X for a good share of elements


def test_l1_normalisation_sets_step_size(net):
    x = torch.randn(4, 3, 36, 36) * 1e-3
    res = gradient_ascent(net, x, gamma=2e-4, iterations=2)  # one step
    step = (res.x - x).abs().mean(dim=(1, 2, 3))
    torch.testing.assert_close(step, torch.full((4,), 2e-4), rtol=1e-4, atol=0)


def test_vectorised_equals_per_sample(net):
    x = torch.randn(6, 3, 36, 36) * 1e-3
    batch = gradient_ascent(net, x, gamma=3e-4, iterations=4).x
    single = torch.cat([gradient_ascent(net, x[i : i + 1], gamma=3e-4, iterations=4).x for i in range(6)])
    torch.testing.assert_close(batch, single, rtol=1e-5, atol=1e-9)


def test_negative_gamma_attenuates():
    lin, x, _ = _source_plus_noise()
    res = gradient_ascent(lin, x, gamma=-0.02, iterations=5, record=True)
    assert (res.objective[-1] < res.objective[0]).float().mean() > 0.8


def test_weights_frozen_and_mode_restored(net):
    net.train()
    before = [p.clone() for p in net.parameters()]
    gradient_ascent(net, torch.randn(2, 3, 36, 36), gamma=1e-3, iterations=3)
    assert net.training and all(p.requires_grad for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_errors(net):
    with pytest.raises(InputError):
        gradient_ascent(net, torch.randn(2, 3, 36, 36), gamma=1e-3, iterations=0)
    with pytest.raises(InputError):
        gradient_ascent(net, torch.randn(2, 3, 36, 36), gamma=1e-3, l1="max")
    with pytest.raises(DivergenceError):
        gradient_ascent(net, torch.full((2, 3, 36, 36), float("nan")), gamma=1e-3, iterations=3)


def test_per_sample_sign_variant_keeps_the_gradient_pattern_and_never_anticorrelates():
    """``sign_correct="sample"`` (not the paper's eq. 3): one sign per time point, so every step is the
    plain (normalised) gradient up to a sign that makes it correlate positively with X."""
    torch.manual_seed(0)
    net = PulseNet(channels=(4, 8), hidden=8).eval()
    x = torch.randn(6, 3, 36, 36) * 0.01
    plain = gradient_ascent(net, x, 1e-4, 2, sign_correct=False).x - x
    samp = gradient_ascent(net, x, 1e-4, 2, sign_correct="sample").x - x
    for p, s, xi in zip(plain, samp, x):
        assert torch.allclose(s.abs(), p.abs(), rtol=1e-4, atol=1e-8)  # the same pattern, up to one sign
        assert float((s * xi).sum()) >= 0
    with pytest.raises(InputError, match="sign_correct"):
        gradient_ascent(net, x, 1e-4, 2, sign_correct="pixel")


def test_bf16_precision_gives_the_same_change_to_its_rounding():
    """``precision="bf16"`` runs the network's passes in bfloat16 (autocast): the change stays float32 and
    follows float32's (r > 0.99 on a PulseNet-shaped network; measured 0.9996 with the shipped one)."""
    from physio.magnify.deepmag import DeepMag
    from physio.nets.pulse import PulseNet

    torch.manual_seed(0)
    net = PulseNet(channels=(4, 8), hidden=16)
    x = torch.randn(16, 3, 36, 36) * 0.01
    a = gradient_ascent(net, x, 1e-3, 5, input_scale=0.01).x - x
    b = gradient_ascent(net, x, 1e-3, 5, input_scale=0.01, precision="bf16").x - x
    assert b.dtype == torch.float32
    assert float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]) > 0.99
    with pytest.raises(InputError):
        gradient_ascent(net, x, 1e-3, 5, precision="fp8")
    with pytest.raises(InputError):
        DeepMag(net, "pulse", device="cpu", precision="half")


def test_precision_reaches_deepmag_from_the_command_line_options():
    """``physio magnify --method deepmag --precision bf16`` builds DeepMag with it (and reports it)."""
    from physio.magnify.registry import get_magnifier

    mag = get_magnifier("deepmag", source="pulse", roi="full", device="cpu", precision="bf16")
    assert mag.precision == "bf16" and mag.describe()["precision"] == "bf16"
    assert get_magnifier("deepmag", source="pulse", roi="full", device="cpu").precision == "fp32"
