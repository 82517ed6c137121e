"""Tests of physio.represent.pyramid: complex steerable pyramid and phase differences."""

from __future__ import annotations

import math

import pytest
import torch

from physio.errors import InputError
from physio.represent.pyramid import (
    Pyramid,
    SteerablePyramid,
    phase_differences,
    rgb_to_yiq,
    wrap_phase,
    yiq_to_rgb,
)

SIZES = [(64, 64), (123, 97), (97, 123), (65, 80)]
N = 64  # side of the grating images


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(2013)


def _grating(kx: int, ky: int, shift: float = 0.0, n: int = N) -> torch.Tensor:
    """0.5 + 0.25 cos(2 pi (f . p - shift) / lambda), frequency (kx, ky) / n cycles/pixel, y up.

    ``shift`` moves the pattern by that many pixels along its frequency direction.
    """
    rows, cols = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64),
                                indexing="ij")
    norm = math.hypot(kx, ky)
    lam = n / norm
    along = (kx * cols + ky * (-rows)) / norm
    return 0.5 + 0.25 * torch.cos(2 * math.pi * (along - shift) / lam)


def _fourier_shift(img: torch.Tensor, dx: float, dy_down: float) -> torch.Tensor:
    """Periodic sub-pixel translation of img (H, W) by dx columns right and dy_down rows down."""
    fy = torch.fft.fftfreq(img.shape[-2], dtype=img.dtype)[:, None]
    fx = torch.fft.fftfreq(img.shape[-1], dtype=img.dtype)[None, :]
    return torch.fft.ifft2(torch.fft.fft2(img) * torch.exp(-2j * math.pi * (fx * dx + fy * dy_down))).real


@pytest.mark.parametrize("bandwidth", ["octave", "half-octave"])
@pytest.mark.parametrize("size", SIZES)
def test_reconstruction_is_exact(bandwidth, size, gen):
    pyr = SteerablePyramid(bandwidth=bandwidth)
    img = torch.rand(2, 3, *size, generator=gen)
    assert (pyr.reconstruct(pyr.build(img)) - img).abs().max() < 1e-4
    img64 = img.double()
    assert (pyr.reconstruct(pyr.build(img64)) - img64).abs().max() < 1e-10  # float32 masks rebuilt in float64


def test_tight_frame_energy(gen):
    # Parseval: analysis masks squared sum to 1 -> image energy = residual energies + half of band energies
    pyr = SteerablePyramid(height=3)
    img = torch.rand(1, 1, 65, 80, generator=gen, dtype=torch.float64) - 0.5
    p = pyr.build(img)
    h, w = img.shape[-2:]
    energy = p.highpass.square().sum() + p.lowpass.square().sum() * h * w / p.lowpass[0, 0].numel()
    for band in p.levels:
        energy = energy + band.abs().square().sum() / 2 * h * w / band[0, 0, 0].numel()
    assert energy.item() == pytest.approx(img.square().sum().item(), rel=1e-10)


def test_shapes_dtypes_and_video_input(gen):
    pyr = SteerablePyramid(height=3)
    p = pyr(torch.rand(2, 1, 64, 48, generator=gen))
    assert isinstance(p, Pyramid)
    assert [tuple(b.shape) for b in p.levels] == [(2, 1, 4, 64, 48), (2, 1, 4, 32, 24), (2, 1, 4, 16, 12)]
    assert p.levels[0].dtype == torch.complex64 and p.highpass.shape == (2, 1, 64, 48)
    assert p.lowpass.shape == (2, 1, 8, 6)
    video = torch.rand(2, 5, 1, 32, 32, generator=gen)
    pv = pyr.build(video)
    assert pv.levels[1].shape == (2, 5, 1, 4, 16, 16)
    assert (pyr.reconstruct(pv) - video).abs().max() < 1e-4
    assert torch.equal(pyr.build_level(video, 1), pv.levels[1])
    assert pyr.angles_deg == [0.0, 45.0, 90.0, 135.0]
    assert SteerablePyramid(bandwidth="half-octave").level_size(480, 640, 2) == (240, 320)
    assert SteerablePyramid(orientations=6).build(torch.rand(1, 1, 32, 32)).levels[0].shape[2] == 6
    assert pyr.state_dict() == {}  # masks are derived, not saved


@pytest.mark.parametrize("k, freq", enumerate([(8, 0), (5, 5), (0, 8), (-5, 5)]))
def test_shift_moves_phase_by_2pi_d_over_lambda(k, freq):
    d = 0.7
    lam = N / math.hypot(*freq)  # 8 or 9.05 px, centre of the octave band of level 1
    frames = torch.stack([_grating(*freq), _grating(*freq, shift=d)])[None, :, None]
    out = phase_differences(frames, SteerablePyramid(height=3), level=1, size=None)
    x = out.x[0, 0, k]
    expected = -2 * math.pi * d / lam
    assert x.mean().item() == pytest.approx(expected, rel=0.02)
    assert x.std().item() < 1e-6
    assert out.amplitude[0, 0, 0].mean(dim=(-2, -1)).argmax().item() == k  # strongest in its own band


def test_shift_phase_on_non_periodic_grating():
    lam, d = 10.0, 0.5  # 6.4 periods: edges leak, the centre follows the formula
    cols = torch.arange(96, dtype=torch.float64)[None, :].expand(96, 96)
    frames = torch.stack([0.5 + 0.25 * torch.cos(2 * math.pi * (cols - s) / lam) for s in (0.0, d)])
    x = phase_differences(frames[None, :, None], level=1, size=None).x[0, 0, 0]
    centre = x[12:36, 12:36]
    assert centre.median().item() == pytest.approx(-2 * math.pi * d / lam, rel=0.02)


def test_resampled_phase_difference_keeps_value():
    frames = torch.stack([_grating(8, 0), _grating(8, 0, shift=0.5)])[None, :, None]
    x = phase_differences(frames, level=1, size=123).x
    assert x.shape == (1, 1, 4, 123, 123)
    assert torch.allclose(x[0, 0, 0], torch.full((123, 123), -2 * math.pi * 0.5 / 8, dtype=x.dtype))


def test_90_degree_band_sees_vertical_motion(gen):
    texture = torch.rand(N, N, generator=gen, dtype=torch.float64)
    pyr = SteerablePyramid(height=3)

    def weighted_abs_x(dx: float, dy: float, k: int) -> float:
        frames = torch.stack([texture, _fourier_shift(texture, dx, dy)])[None, :, None]
        out = phase_differences(frames, pyr, level=1, size=None)
        a = out.amplitude[0, 0, 0, k]
        return ((a * out.x[0, 0, k].abs()).sum() / a.sum()).item()

    vertical, horizontal = (0.0, 0.3), (0.3, 0.0)
    assert weighted_abs_x(*vertical, k=2) > 3 * weighted_abs_x(*vertical, k=0)
    assert weighted_abs_x(*horizontal, k=0) > 3 * weighted_abs_x(*horizontal, k=2)


@pytest.mark.parametrize("freq", [(8, 0), (5, 5), (0, 8)])
def test_phase_offsets_translate_the_image(freq):
    # band k holds the grating's frequency f or -f, whichever lies in its half-plane; adding
    # -2 pi (f_k . d) to every band moves the image by d pixels along f
    d = 1.3
    pyr = SteerablePyramid(height=3)
    img = _grating(*freq)[None, None]
    p = pyr.build(img)
    angle = math.atan2(freq[1], freq[0])
    side = torch.tensor([math.copysign(1.0, math.cos(angle - math.radians(a))) for a in pyr.angles_deg],
                        dtype=torch.float64)[:, None, None]
    offsets = [(-2 * math.pi * d * math.hypot(*freq) / N * side).expand(b.shape[-3:]) for b in p.levels]
    moved = pyr.reconstruct(p, phase_offsets=offsets)
    assert (moved[0, 0] - _grating(*freq, shift=d)).abs().max() < 1e-10
    assert torch.equal(pyr.reconstruct(p, phase_offsets=[None] * 3), pyr.reconstruct(p))


@pytest.mark.parametrize("bandwidth, step", [("octave", 1.0), ("half-octave", 0.5)])
def test_spread_phase_scales_by_half_per_octave(bandwidth, step):
    pyr = SteerablePyramid(height=4, bandwidth=bandwidth)
    p = pyr.build(torch.rand(2, 1, 64, 64))
    delta = torch.ones(2, 1, 4, 123, 123)
    spread = pyr.spread_phase(delta, p, level=2)
    for r, (off, band) in enumerate(zip(spread, p.levels)):
        assert off.shape == band.shape
        assert torch.allclose(off, torch.full_like(off, 2.0 ** (-step * (r - 2))))


def test_mask_cache_is_bounded(gen):
    pyr = SteerablePyramid(height=1)
    for side in range(16, 16 + SteerablePyramid.CACHED_SIZES + 3):
        img = torch.rand(1, 1, side, side, generator=gen)
        assert (pyr.reconstruct(pyr.build(img)) - img).abs().max() < 1e-4
    sizes = {name.split("_")[1] for name, _ in pyr.named_buffers()}
    assert len(sizes) == SteerablePyramid.CACHED_SIZES
    img = torch.rand(1, 1, 16, 16, generator=gen)  # evicted size: rebuilt on demand
    assert (pyr.reconstruct(pyr.build(img)) - img).abs().max() < 1e-4


def test_gradcheck_build_and_reconstruct(gen):
    pyr = SteerablePyramid(height=1)
    img = torch.rand(1, 1, 9, 8, generator=gen, dtype=torch.float64, requires_grad=True)
    # random projections keep the number of backward passes (one per output) small
    proj_a = torch.randn(3, 72 * 10, generator=gen, dtype=torch.float64)
    proj_s = torch.randn(3, 72, generator=gen, dtype=torch.float64)

    def analysis(x: torch.Tensor) -> torch.Tensor:
        p = pyr.build(x)
        parts = [p.highpass, torch.view_as_real(p.levels[0]), p.lowpass]
        flat = torch.cat([t.flatten() for t in parts])
        return proj_a[:, : flat.numel()] @ flat

    def phase_shifted(x: torch.Tensor) -> torch.Tensor:
        p = pyr.build(x)
        out = pyr.reconstruct(p, phase_offsets=[torch.full(p.levels[0].shape, 0.3, dtype=x.dtype)])
        return proj_s @ out.flatten()

    assert torch.autograd.gradcheck(analysis, (img,))
    assert torch.autograd.gradcheck(phase_shifted, (img,))


def test_phase_differences_shapes_and_colour(gen):
    frames = torch.rand(2, 3, 3, 64, 64, generator=gen)
    out = phase_differences(frames, level=2)
    assert out.x.shape == (2, 2, 4, 123, 123)
    assert out.amplitude.shape == out.phase.shape == (2, 3, 1, 4, 16, 16)
    assert out.x.min() > -math.pi and out.x.max() <= math.pi
    assert phase_differences(frames, level=2, size=20, luminance=False, chunk=4).x.shape == (2, 2, 12, 20, 20)
    rec = out.amplitude * torch.exp(1j * out.phase)
    y = rgb_to_yiq(frames)[:, :, :1]
    assert torch.allclose(rec, SteerablePyramid().build_level(y, 2), atol=1e-5)


def test_yiq_roundtrip_and_luminance(gen):
    rgb = torch.rand(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(rgb)), rgb, atol=1e-12)
    grey = torch.full((3, 2, 2), 0.6, dtype=torch.float64)
    assert torch.allclose(rgb_to_yiq(grey), torch.tensor([0.6, 0.0, 0.0], dtype=torch.float64)[:, None, None]
                          .expand(3, 2, 2), atol=1e-6)


def test_wrap_phase():
    x = torch.tensor([-math.pi, math.pi, 3 * math.pi / 2, -3 * math.pi / 2, 0.1], dtype=torch.float64)
    expected = torch.tensor([math.pi, math.pi, -math.pi / 2, math.pi / 2, 0.1], dtype=torch.float64)
    assert torch.allclose(wrap_phase(x), expected)


def test_errors():
    with pytest.raises(InputError, match=r"expected shape \(B, C, H, W\).*got \(64, 64\)"):
        SteerablePyramid().build(torch.rand(64, 64))
    with pytest.raises(InputError, match=r"height=6 too large for a 97x123 image: at most 4"):
        SteerablePyramid(height=6).build(torch.rand(1, 1, 97, 123))
    with pytest.raises(InputError, match="too small"):
        SteerablePyramid().build(torch.rand(1, 1, 6, 40))
    with pytest.raises(InputError, match="floating-point"):
        SteerablePyramid().build(torch.rand(1, 1, 8, 8, dtype=torch.complex64))
    with pytest.raises(InputError, match="bandwidth"):
        SteerablePyramid(bandwidth="quarter-octave")
    with pytest.raises(InputError, match="height"):
        SteerablePyramid(height=0)
    with pytest.raises(InputError, match=r"level: expected an int in \[0, 3\], got 4"):
        SteerablePyramid().build_level(torch.rand(1, 1, 64, 64), 4)
    with pytest.raises(InputError, match="at least 2 frames"):
        phase_differences(torch.rand(1, 1, 1, 32, 32))
    with pytest.raises(InputError, match=r"expected shape \(B, T, C, H, W\)"):
        phase_differences(torch.rand(2, 1, 32, 32))
    pyr = SteerablePyramid(height=2)
    p = pyr.build(torch.rand(1, 1, 32, 32))
    with pytest.raises(InputError, match="expected 2 levels"):
        pyr.reconstruct(Pyramid(p.highpass, p.levels[:1], p.lowpass))
    with pytest.raises(InputError, match="phase_offsets: expected 2 entries"):
        pyr.reconstruct(p, phase_offsets=[None])
    with pytest.raises(InputError, match="3 channels"):
        rgb_to_yiq(torch.rand(4, 8, 8))
