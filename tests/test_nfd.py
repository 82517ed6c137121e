"""Tests of physio.represent.nfd: normalised frame difference (DeepMag eqs. 14 and 16)."""

from __future__ import annotations

import pytest
import torch

from physio.errors import InputError
from physio.represent.nfd import (
    NFD,
    NFD_EPS,
    appearance_standardize,
    downsample_frames,
    nfd,
    nfd_inverse,
    nfd_standardize,
    upsample_frames,
)


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(20200101)


def _clip(gen: torch.Generator, shape=(2, 12, 3, 36, 36), dtype=torch.float64) -> torch.Tensor:
    base = 0.2 + 0.6 * torch.rand(shape[:1] + (1,) + shape[2:], generator=gen, dtype=dtype)
    pulse = 0.01 * torch.randn(shape, generator=gen, dtype=dtype)
    return (base * (1 + pulse)).clamp_min(0)


def test_static_clip_gives_zero():
    frames = torch.full((2, 5, 3, 8, 8), 0.4)
    assert torch.equal(nfd(frames), torch.zeros(2, 4, 3, 8, 8))


def test_hand_computed_value():
    frames = torch.tensor([1.0, 3.0], dtype=torch.float64).reshape(2, 1, 1, 1)
    x = nfd(frames, eps=1e-12)
    assert x.shape == (1, 1, 1, 1)
    assert x.item() == pytest.approx(0.5)  # (3 - 1) / (3 + 1)
    assert nfd_inverse(x, frames[0], eps=1e-12)[1].item() == pytest.approx(3.0)  # (1 + .5) / (1 - .5) * 1


def test_range_open_interval_and_black_frames(gen):
    frames = torch.rand(1, 6, 3, 10, 10, generator=gen)
    frames[0, 1] = 0.0  # fully black frame between bright ones
    frames[0, 3, :, :5] = 0.0  # half black
    x = nfd(frames)
    assert torch.isfinite(x).all()
    assert x.abs().max() < 1.0
    assert x[0, 0].max() < 0 and x[0, 1].min() > 0  # bright -> black -> bright
    black = torch.zeros(1, 3, 1, 4, 4)
    assert torch.equal(nfd(black), torch.zeros(1, 2, 1, 4, 4))  # 0 / eps


def test_inverse_rebuilds_frames_float64(gen):
    frames = _clip(gen)
    frames[:, :, :, 0, 0] = 0.0  # a black pixel is rebuilt too
    x = nfd(frames)
    rebuilt = nfd_inverse(x, frames[:, 0])
    assert rebuilt.shape == frames.shape
    assert torch.allclose(rebuilt, frames, rtol=0, atol=1e-13)


def test_inverse_rebuilds_downsampled_frames(gen):
    video = _clip(gen, (1, 10, 3, 48, 64))
    small = downsample_frames(video, 36)
    rebuilt = nfd_inverse(nfd(small), small[:, 0])
    assert (rebuilt - small).abs().max() < 1e-12


def test_inverse_float32_and_unbatched(gen):
    frames = _clip(gen, (40, 3, 6, 6), torch.float32)
    rebuilt = nfd_inverse(nfd(frames), frames[0])
    assert rebuilt.dtype == torch.float32 and rebuilt.shape == frames.shape
    assert torch.allclose(rebuilt, frames, rtol=1e-5, atol=1e-6)


def test_module_matches_function(gen):
    frames = _clip(gen, (1, 4, 3, 5, 5))
    assert torch.equal(NFD(eps=1e-5)(frames), nfd(frames, eps=1e-5))
    assert "eps=1e-05" in repr(NFD(eps=1e-5))


def test_gradcheck(gen):
    frames = _clip(gen, (1, 3, 1, 3, 3)).requires_grad_()
    assert torch.autograd.gradcheck(nfd, (frames,))
    x = (0.1 * torch.randn(1, 3, 1, 2, 2, generator=gen, dtype=torch.float64)).requires_grad_()
    c0 = torch.rand(1, 1, 2, 2, generator=gen, dtype=torch.float64).add(0.5).requires_grad_()
    assert torch.autograd.gradcheck(nfd_inverse, (x, c0))


def test_standardize_roundtrip(gen):
    x = nfd(_clip(gen))
    z, scale = nfd_standardize(x)
    assert scale.shape == (2, 1, 1, 1, 1)
    assert torch.allclose(z.std(dim=(1, 2, 3, 4), correction=0), torch.ones(2, dtype=z.dtype))
    assert torch.allclose(z * scale, x)
    _, one = nfd_standardize(torch.zeros(3, 1, 2, 2))
    assert one.item() == 1.0


def test_appearance_standardize(gen):
    frames = _clip(gen)
    z, mean, std = appearance_standardize(frames)
    assert torch.allclose(z.mean(dim=(1, 2, 3, 4)), torch.zeros(2, dtype=z.dtype), atol=1e-12)
    assert torch.allclose(z.std(dim=(1, 2, 3, 4), correction=0), torch.ones(2, dtype=z.dtype))
    assert torch.allclose(z * std + mean, frames)


def test_downsample_and_upsample_shapes(gen):
    video = torch.rand(2, 3, 3, 48, 64, generator=gen)
    small = downsample_frames(video)
    assert small.shape == (2, 3, 3, 36, 36) and small.min() >= 0
    assert downsample_frames(video, (12, 16)).shape == (2, 3, 3, 12, 16)
    assert upsample_frames(small, (48, 64)).shape == video.shape
    flat = torch.full((1, 3, 40, 40), 0.3)
    assert torch.allclose(downsample_frames(flat, 10), torch.full((1, 3, 10, 10), 0.3))


def test_downsample_is_antialiased():
    # stripes of period 3 px shrunk 12x average to their mean (plain cv2.INTER_CUBIC gives +-0.46)
    rows = torch.arange(144, dtype=torch.float64)[:, None].expand(144, 144)
    stripes = 0.5 + 0.5 * torch.cos(2 * torch.pi * rows / 3)
    out = downsample_frames(stripes[None, None], 12)
    assert (out - 0.5).abs().max() < 0.02


def test_errors():
    with pytest.raises(InputError, match=r"expected shape .*got \(3, 4, 4\)"):
        nfd(torch.rand(3, 4, 4))
    with pytest.raises(InputError, match="floating-point"):
        nfd(torch.ones(1, 2, 1, 2, 2, dtype=torch.uint8))
    with pytest.raises(InputError, match="at least 2 frames"):
        nfd(torch.rand(1, 1, 3, 4, 4))
    with pytest.raises(InputError, match="non-negative"):
        nfd(torch.rand(1, 2, 3, 4, 4) - 0.5)
    with pytest.raises(InputError, match="eps"):
        nfd(torch.rand(1, 2, 3, 4, 4), eps=0.0)
    with pytest.raises(InputError, match=r"\(-1, 1\)"):
        nfd_inverse(torch.ones(1, 2, 3, 4, 4), torch.rand(1, 3, 4, 4))
    with pytest.raises(InputError, match=r"c0: expected shape \(1, 3, 4, 4\)"):
        nfd_inverse(torch.zeros(1, 2, 3, 4, 4), torch.rand(1, 3, 5, 4))
    with pytest.raises(InputError, match="size"):
        downsample_frames(torch.rand(1, 3, 8, 8), 0)
    with pytest.raises(InputError, match="torch.Tensor"):
        nfd([[0.0]])
    assert NFD_EPS > 0


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize(("hw", "size"), [((461, 524), (36, 36)), ((36, 36), (480, 640)), ((5, 7), (9, 3)),
                                          ((1, 9), (3, 3)), ((120, 160), (36, 36)), ((36, 36), (36, 36))])
def test_resampling_by_matrices_is_torchs_bicubic(hw, size, antialias):
    """``downsample_frames``/``upsample_frames`` resample by two matrix products whose matrices are
    PyTorch's own bicubic operator applied to the identity: equal to ``F.interpolate`` to float rounding,
    for shrinking and growing, square or not, and channels-last input."""
    from torch.nn import functional as F

    from physio.represent.nfd import _resize

    torch.manual_seed(0)
    x = torch.rand(2, 3, *hw) * 255
    ref = F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=antialias)
    tol = 5e-5 * 255  # float32: PyTorch computes its taps in float32, the matrices are float64 rounded once
    assert (_resize(x, size, antialias) - ref).abs().max() < tol
    assert (_resize(x.contiguous(memory_format=torch.channels_last), size, antialias) - ref).abs().max() < tol
    ref64 = F.interpolate(x.double(), size=size, mode="bicubic", align_corners=False, antialias=antialias)
    assert (_resize(x.double(), size, antialias) - ref64).abs().max() < 1e-9


def test_downsample_uint8_in_bounded_pieces_equals_the_whole():
    """``downsample_uint8`` converts a few frames to float at a time (the 1080p memory bound) and gives
    the same frames as resampling the whole float chunk at once; a crop view (not contiguous) is taken
    as it is; bad shapes are refused."""
    import numpy as np

    from physio.magnify.base import to_tensor
    from physio.represent.nfd import downsample_uint8

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (7, 90, 120, 3), dtype=np.uint8)
    view = frames[:, 10:80, 5:115]
    ref = downsample_frames(to_tensor(view), 36)
    one_by_one = downsample_uint8(view, 36, max_bytes=1)  # one frame per piece
    whole = downsample_uint8(view, 36, max_bytes=1 << 30)
    assert one_by_one.shape == (7, 3, 36, 36) and one_by_one.dtype == torch.float32
    assert (one_by_one - ref).abs().max() < 1e-5 and torch.equal(one_by_one, whole)
    for bad in (frames[0], frames[:0], frames[..., :2]):
        with pytest.raises(InputError):
            downsample_uint8(bad)
