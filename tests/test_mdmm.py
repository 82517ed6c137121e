"""MD-MM D1/D2 (thesis ch. 5): sizes, contract, Fourier plumbing, losses, training, Magnifier modes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from physio.errors import InputError
from physio.magnify.base import magnify_stream, to_tensor
from physio.magnify.learned.catalog import LEARNED
from physio.magnify.learned.complexity import complexity
from physio.magnify.learned.data import NoiseConfig, SynthConfig
from physio.magnify.learned.losses import LossWeights, PerceptualLoss, make_objective
from physio.magnify.learned.magnifier import LearnedMagnifier
from physio.magnify.learned.mdmm import EPS, MDMMNet, spectrum, to_image, wrap_phase
from physio.magnify.learned.nets import PUBLISHED, build_net
from physio.magnify.learned.train import MagTrainConfig, train_magnifier

TINY = {"f": 4, "n_fdmm": 2, "n_diff": 1, "n_rmte": 2, "n_mstg": 2}


pytestmark = pytest.mark.usefixtures("seeded_one_thread")


def _pair(b=2, h=32, w=40, shift=1):
    x = torch.rand(b, 3, h, w) * 2 - 1
    return x, torch.roll(x, shift, dims=-1)


@pytest.mark.parametrize("arch", ["mdmm-d1", "mdmm-d2"])
def test_registered_and_size_within_15_percent_of_table_5_2(arch):
    assert arch in LEARNED and arch in PUBLISHED
    net = build_net(arch)
    assert isinstance(net, MDMMNet) and net.multiple == 8
    c = complexity(net)  # meta device, 720x720; FFTs are not counted (conv MACs only)
    pub = PUBLISHED[arch]
    assert abs(c["params_m"] / pub["params_m"] - 1) <= 0.15, c["params"]
    assert abs(c["gflops"] / pub["gflops_720"] - 1) <= 0.15, c["gflops"]
    assert c["params"] == {"mdmm-d1": 114_942, "mdmm-d2": 52_194}[arch]
    print(f"{arch}: {c['params']} params, {c['gflops']:.1f} GFLOPs @720 (published {pub['params_m']} M, {pub['gflops_720']})")


def test_forward_shape_range_alpha_forms_and_multiple():
    net = build_net("mdmm-d2").eval()
    ref, cur = _pair()
    with torch.no_grad():
        out = net(ref, cur, 10.0)
        assert out.shape == cur.shape and out.abs().max() < 1
        per = net(ref, cur, torch.tensor([10.0, 10.0]))
        assert torch.allclose(out, per, atol=1e-6)
        two = net(ref, cur, torch.tensor([2.0, 30.0]))
        assert torch.allclose(two[0], net(ref[:1], cur[:1], 2.0)[0], atol=1e-5)
        assert not torch.allclose(two[1], out[1], atol=1e-4)  # the factor matters
    with pytest.raises(InputError, match="multiple of 8"):
        net(ref[..., :28, :], cur[..., :28, :], 10.0)
    with pytest.raises(InputError, match="alpha"):
        net(ref, cur, torch.tensor([1.0, 2.0, 3.0]))


def test_gradients_reach_every_parameter():
    net = build_net("mdmm-d2")
    ref, cur = _pair()
    out, aux = net(ref, cur, torch.tensor([3.0, 20.0]), return_aux=True)
    loss = out.square().mean() + sum(net.extra_losses({"y": torch.roll(cur, 2, -1)}, out, aux).values())
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_constant_frame_pair_is_numerically_safe():
    """Zero amplitude everywhere but DC: log(A + ε) and angle(0) stay finite, and so does everything after."""
    net = build_net("mdmm-d2")
    c = torch.full((2, 3, 16, 16), 0.3)
    c[1] = -1.0
    out, aux = net(c, c, torch.tensor([1.0, 100.0]), return_aux=True)
    losses = net.extra_losses({"y": c}, out, aux)
    for t in (out, aux["fdmm"], aux["logamp_m"], aux["phase_m"], *losses.values()):
        assert torch.isfinite(t).all()
    sum(losses.values()).add(out.mean()).backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())
    la, ph = spectrum(c)
    assert torch.isfinite(la).all() and la.min() >= math.log(EPS) - 1e-6 and torch.isfinite(ph).all()


def test_wrap_and_spectrum_round_trip():
    x = torch.linspace(-7, 7, 101)
    w = wrap_phase(x)
    assert w.min() > -math.pi and w.max() <= math.pi + 1e-6
    assert torch.allclose(torch.cos(w), torch.cos(x), atol=1e-5) and torch.allclose(torch.sin(w), torch.sin(x), atol=1e-5)
    assert wrap_phase(torch.tensor(-math.pi)).item() == pytest.approx(math.pi)
    img = torch.rand(2, 3, 24, 32) * 2 - 1
    la, ph = spectrum(img)
    assert la.shape == (2, 3, 24, 17)
    assert torch.allclose(to_image(la, ph, (24, 32)), img, atol=1e-5)
    # fftshift along the rows: DC sits in the middle row, column 0; ortho norm: DC = mean·sqrt(HW)
    la, ph = spectrum(torch.full((1, 1, 24, 32), 0.5))
    assert la[0, 0, 12, 0].item() == pytest.approx(math.log(0.5 * math.sqrt(24 * 32) + EPS), abs=1e-5)
    assert torch.allclose(la[0, 0].flatten()[torch.arange(24 * 17) != 12 * 17], torch.tensor(math.log(EPS)), atol=1e-3)


def test_fdmm_spectrum_is_the_spectrum_of_its_image():
    """extra_losses compares the FDMM's (ℓ_m, φ_m); they are rfft2(Î_m) except the DC and Nyquist columns."""
    net = build_net("mdmm-d2")
    ref, cur = _pair(1, 32, 32)
    with torch.no_grad():
        _, aux = net(ref, cur, 5.0, return_aux=True)
    la, ph = spectrum(aux["fdmm"])
    inner = (slice(None), slice(None), slice(None), slice(1, -1))
    amp = (torch.exp(aux["logamp_m"]) - EPS).clamp(min=0)
    assert torch.allclose(torch.log(amp + EPS)[inner], la[inner], atol=1e-3)
    strong = la[inner] > -2  # the phase of a near-zero amplitude is noise
    assert wrap_phase(aux["phase_m"][inner] - ph[inner])[strong].abs().max() < 1e-3


class _LinearPhase(nn.Module):
    """The ideal phase manipulator for a translation: residual = its input m·wrap(φ_1 − φ_0)."""

    def forward(self, x, fixed):
        return x


class _Zero(nn.Module):
    def forward(self, x, fixed):
        return torch.zeros_like(x)


def test_fdmm_layout_magnifies_a_translation_with_the_ideal_manipulators():
    """With P = identity and Q = 0 the FDMM is phase-based magnification: a 1-px circular shift with
    alpha = 3 becomes a 3-px shift, alpha = 1 returns the current frame (checks the FFT layout, the
    wrap and the alpha − 1 convention).  Shifts of 1 px: larger ones wrap the phase difference at high
    frequencies, the ambiguity of thesis Fig. 5.2 that SDMST has to repair."""
    net = build_net("mdmm-d2")
    net.phase_manipulator, net.amplitude_manipulator = _LinearPhase(), _Zero()
    x = torch.rand(1, 3, 32, 40) * 2 - 1
    for shift, alpha, expect in ((1, 3.0, 3), (1, 1.0, 1), (-1, 4.0, -4), ((1, 1), 2.0, (2, 2))):
        dims = (-2, -1) if isinstance(shift, tuple) else -1
        with torch.no_grad():
            im, _, _ = net.fdmm(x, torch.roll(x, shift, dims=dims), torch.tensor(alpha - 1).view(1, 1, 1, 1))
        assert torch.allclose(im, torch.roll(x, expect, dims=dims), atol=1e-4), (shift, alpha)


def test_extra_losses_finite_nonnegative_and_in_the_objective():
    net = build_net("mdmm-d2")
    ref, cur = _pair(2, 32, 32)
    batch = {"a": ref, "b": cur, "y": torch.roll(cur, 3, -1), "alpha": torch.tensor([4.0, 4.0])}
    out, aux = net(ref, cur, batch["alpha"], return_aux=True)
    ex = net.extra_losses(batch, out, aux)
    assert set(ex) == {"phase", "amplitude"}
    for v in ex.values():
        assert v.ndim == 0 and torch.isfinite(v) and v >= 0
    assert ex["phase"] <= math.pi
    obj = make_objective(net, LossWeights(), PerceptualLoss("msssim"))
    total, parts = obj(batch)
    assert {"l1", "edge", "perceptual", "phase", "amplitude"} <= set(parts) and math.isfinite(parts["total"])
    expected = 10 * parts["l1"] + parts["edge"] + 0.1 * parts["perceptual"] + parts["phase"] + parts["amplitude"]
    assert parts["total"] == pytest.approx(expected, rel=1e-5)


def test_twenty_training_steps_write_a_checkpoint(tmp_path):
    cfg = MagTrainConfig(name="tiny_mdmm", arch="mdmm-d2", arch_args=TINY, data=SynthConfig(size=32, objects=(2, 3)),
                         noise=NoiseConfig(kind="gaussian", gaussian_sigma=0.02), batch=2, steps=20, lr=1e-3,
                         checkpoint_every=10, log_every=5, val_every=0, val_samples=0, proxy_steps=0, threads=1,
                         loss={"proxy": 0.0, "appearance": 0.0})
    summary = train_magnifier(cfg, tmp_path / "run", progress=False)
    assert summary["done"] and (tmp_path / "run" / "last.pt").exists()
    hist = [h for h in summary["stages"][-1]["history"] if "total" in h]
    assert len(hist) == 4 and all(math.isfinite(h["total"]) and "phase" in h and "amplitude" in h for h in hist)


@pytest.mark.parametrize("mode", ["dynamic", "temporal"])
def test_magnifier_modes(small_clip, mode):
    net = build_net("mdmm-d2", TINY)
    clip = small_clip[:10, :30, :42]  # padded to multiples of 8 and cropped back
    mag = LearnedMagnifier("mdmm-d2", factor=8.0, mode=mode, net=net, band_hz=(1.0, 4.0) if mode == "temporal" else None)
    out = np.concatenate(list(magnify_stream(mag, [clip], 30.0)))
    assert out.shape == clip.shape and out.dtype == np.uint8
    if mode == "dynamic":
        np.testing.assert_array_equal(out[0], clip[0])
    whole = mag.process(to_tensor(clip), 30.0)
    assert torch.isfinite(whole).all()
