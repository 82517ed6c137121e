"""Learned motion-magnification networks: Oh et al. (2018) and LW-MM (Singh et al., WACV 2023).

``nn.Module`` definitions only (no loading, devices or losses).  Every network maps a *reference*
frame, a *current* frame and a magnification factor ``alpha`` to one magnified frame:

    ``net(ref, cur, alpha)`` with ``ref, cur: (B, 3, H, W)`` in ``[-1, 1]``, ``alpha``: float or ``(B,)``
    → ``(B, 3, H, W)`` in ``[-1, 1]`` (approximately; Oh's output is not squashed).

**Convention for alpha** (both networks, training data and every mode): if the current frame shows
the reference displaced by ``d`` pixels, the output shows the reference displaced by ``alpha * d``,
i.e. the current frame with ``(alpha - 1) * d`` *added* motion (Oh et al.'s definition).  ``alpha = 1``
asks for the current frame unchanged.  Oh's manipulator multiplies by ``alpha - 1``; LW-MM's
multiplies the feature difference by ``M_f = alpha`` (thesis Eq. 3.2).  ``H`` and ``W`` must be
multiples of 4 (Oh) or 2 (LW-MM); :class:`physio.magnify.learned.magnifier.LearnedMagnifier` pads.

Architectures (3×3 convolutions and ReLU unless stated; ``ResBlock`` = conv-ReLU-conv + identity)

* :class:`OhNet` (Oh et al. 2018, Fig. 2): encoder 7×7×16 → 3×3×32 stride 2 → 3 ResBlocks (32);
  texture branch 3×3×32 stride 2 → 2 ResBlocks (¼ resolution); shape branch 3×3×32 → 2 ResBlocks
  (½ resolution).  Manipulator ``M_b + h((alpha - 1) · g(M_b - M_a))`` with ``g`` = conv + ReLU and
  ``h`` = conv + 1 ResBlock.  Decoder: texture nearest-upsampled ×2 + conv, concatenated with the
  manipulated shape (64 channels) → 9 ResBlocks → nearest-upsample ×2 → 3×3×32 → 7×7×3.
  0.89 M parameters, 270.7 GFLOPs at 720×720 (published: 0.98 M, 268.6).
* :class:`LWMMNet` (Singh et al. 2023; thesis ch. 3, Fig. 3.1): two encoder streams with their own
  weights (stream *a* sees the current frame, *b* the reference); each residual block of a stream
  convolves the concatenation of its own and the peer stream's features ("feature sharing").  Stem
  3×3×C → 2 shared blocks (C) → 2×2 max-pool → 3×3×2C → shared block → ``E'`` → shared block → ``E``.
  Appearance encoder ``A``: 3×3×2C on concat(E'_a, E'_b) → 3 ResBlocks (2C); its training head ``phi``
  = 3×3×3 conv + tanh (compared with the ½-resolution input frames).  Manipulator ``M``:
  ``(E_a - E_b) · alpha`` → 3×3×2C + ReLU → 3 ResBlocks (2C), *added* to ``A``'s output.  Decoder:
  10 ResBlocks (2C) → nearest-upsample ×2 → 3×3×C + ReLU → 3 ResBlocks (C) → 3×3×3 + tanh.
  C = 24 (M1): 1.10 M parameters, 367.5 GFLOPs at 720×720 (published 1.10 M, 375.5); C = 8 (M2):
  0.124 M, 41.3 GFLOPs (published 0.12 M, 42.4).  The block counts not given in the thesis text were
  chosen to match both published parameter counts and FLOPs (see ``docs/learned-magnifiers.md``).

References
----------
.. [1] T.-H. Oh, R. Jaroensri, C. Kim, M. Elgharib, F. Durand, W. T. Freeman and W. Matusik,
   "Learning-based video motion magnification", ECCV 2018.
.. [2] J. Singh, S. Murala and G. S. R. Kosuru, "Lightweight network for video motion magnification",
   WACV 2023; J. Singh, "Deep learning based approaches for video motion magnification", PhD thesis,
   IIT Ropar, 2024, chapter 3.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.errors import InputError
from physio.magnify.learned.blocks import ResBlock, SharedResBlock, ThesisNet, alpha_tensor, check_pair, conv
# thesis ch. 4-7 networks (each module has its own ARCHS and PUBLISHED, merged below)
from physio.magnify.learned import hmn, kldnas, mdmm, sigma_theta

__all__ = ["ResBlock", "SharedResBlock", "ThesisNet", "OhNet", "LWMMNet", "ARCHS", "PUBLISHED", "build_net", "alpha_tensor"]

_conv, _check_pair = conv, check_pair


class OhNet(nn.Module):
    """Oh et al. (2018) learning-based motion magnification (the two-frame model).

    Parameters
    ----------
    ch : int
        Width of encoder, texture, shape and manipulator features (paper: 32); the decoder uses 2·ch.
    n_enc, n_texture, n_shape, n_dec : int
        Residual blocks in the shared encoder (3), texture branch (2), shape branch (2), decoder (9).

    Shape
    -----
    ``(B, 3, H, W)`` × 2 + alpha → ``(B, 3, H, W)``, H and W multiples of 4.  Texture ``(B, ch, H/4, W/4)``,
    shape ``(B, ch, H/2, W/2)``.
    """

    multiple = 4

    def __init__(self, ch: int = 32, n_enc: int = 3, n_texture: int = 2, n_shape: int = 2, n_dec: int = 9) -> None:
        super().__init__()
        self.ch = ch
        self.encoder = nn.Sequential(
            _conv(3, ch // 2, 7), nn.ReLU(), _conv(ch // 2, ch, 3, stride=2), nn.ReLU(),
            *[ResBlock(ch) for _ in range(n_enc)],
        )
        self.texture = nn.Sequential(_conv(ch, ch, 3, stride=2), nn.ReLU(), *[ResBlock(ch) for _ in range(n_texture)])
        self.shape = nn.Sequential(_conv(ch, ch), nn.ReLU(), *[ResBlock(ch) for _ in range(n_shape)])
        self.g = nn.Sequential(_conv(ch, ch), nn.ReLU())
        self.h = nn.Sequential(_conv(ch, ch), ResBlock(ch))
        self.texture_up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(ch, ch), nn.ReLU())
        self.decoder = nn.Sequential(
            *[ResBlock(2 * ch) for _ in range(n_dec)],
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(2 * ch, ch), nn.ReLU(), _conv(ch, 3, 7),
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Frame ``(B, 3, H, W)`` → ``(texture, shape)`` representations."""
        f = self.encoder(x)
        return self.texture(f), self.shape(f)

    def encode_shape(self, x: Tensor) -> Tensor:
        return self.shape(self.encoder(x))

    def manipulate(self, shape_cur: Tensor, delta: Tensor, alpha) -> Tensor:
        """``shape_cur + h((alpha - 1) · g(delta))``; ``delta`` = shape difference (or band-passed shape)."""
        return shape_cur + self.h((alpha_tensor(alpha, delta) - 1.0) * self.g(delta))

    def decode(self, texture: Tensor, shape: Tensor) -> Tensor:
        return self.decoder(torch.cat([self.texture_up(texture), shape], dim=1))

    def forward(self, ref: Tensor, cur: Tensor, alpha, return_aux: bool = False):
        _check_pair(ref, cur, self.multiple, "OhNet")
        shape_ref = self.encode_shape(ref)
        tex_cur, shape_cur = self.encode(cur)
        out = self.decode(tex_cur, self.manipulate(shape_cur, shape_cur - shape_ref, alpha))
        if return_aux:
            return out, {"texture_cur": tex_cur, "shape_cur": shape_cur, "shape_ref": shape_ref}
        return out


class _Stream(nn.Module):
    """One encoder stream of LW-MM (its own weights); run in lock-step with its peer."""

    def __init__(self, c: int, n_full: int, n_half: int, tap: int) -> None:
        super().__init__()
        self.stem = _conv(3, c)
        self.full_blocks = nn.ModuleList(SharedResBlock(c) for _ in range(n_full))
        self.down = _conv(c, 2 * c)
        self.half_blocks = nn.ModuleList(SharedResBlock(2 * c) for _ in range(n_half))
        self.tap = tap


class LWMMNet(nn.Module):
    """LW-MM: feature-sharing encoder, appearance encoder, manipulator and decoder (thesis ch. 3).

    Parameters
    ----------
    c : int
        Channels at full resolution (M1: 24, M2: 8); ``2c`` after max-pooling.
    n_full, n_half : int
        Feature-sharing residual blocks per stream at full (2) and half (2) resolution.
    tap : int
        Half-resolution block after which ``E'`` (the appearance encoder's input) is taken (1).
    n_app, n_man : int
        Residual blocks of the appearance encoder (3) and manipulator (3).
    n_dec_half, n_dec_full : int
        Decoder residual blocks before (10) and after (3) upsampling.
    shared_encoder : bool
        One set of weights for both encoder streams (default; identical frames give ``E_a = E_b``).
        ``False``: separate weights, the thesis' parameter counts, but untrainable here
        (docs/learned-magnifiers.md).

    Shape
    -----
    ``(B, 3, H, W)`` × 2 + alpha → ``(B, 3, H, W)``, H and W even.  ``E``, ``E'``, ``A``: ``(B, 2c, H/2, W/2)``.
    """

    multiple = 2

    def __init__(
        self, c: int = 24, n_full: int = 2, n_half: int = 2, tap: int = 1, n_app: int = 3, n_man: int = 3,
        n_dec_half: int = 10, n_dec_full: int = 3, shared_encoder: bool = True,
    ) -> None:
        super().__init__()
        if not 1 <= tap <= n_half:
            raise InputError(f"LWMMNet: tap must be in [1, n_half={n_half}], got {tap}")
        self.c = c
        self.stream_a = _Stream(c, n_full, n_half, tap)  # current frame (both frames when shared)
        self.stream_b = None if shared_encoder else _Stream(c, n_full, n_half, tap)  # reference frame
        d = 2 * c
        self.appearance = nn.Sequential(_conv(2 * d, d), nn.ReLU(), *[ResBlock(d) for _ in range(n_app)])
        self.phi = nn.Sequential(_conv(d, 3), nn.Tanh())
        self.manipulator = nn.Sequential(_conv(d, d), nn.ReLU(), *[ResBlock(d) for _ in range(n_man)])
        self.decoder = nn.Sequential(
            *[ResBlock(d) for _ in range(n_dec_half)],
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(d, c), nn.ReLU(),
            *[ResBlock(c) for _ in range(n_dec_full)],
            _conv(c, 3), nn.Tanh(),
        )

    def encode(self, cur: Tensor, ref: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run both streams in lock-step → ``(E_a, E_b, E'_a, E'_b)`` (a: current, b: reference)."""
        sa = self.stream_a
        sb = sa if self.stream_b is None else self.stream_b
        xa, xb = F.relu(sa.stem(cur)), F.relu(sb.stem(ref))
        for ba, bb in zip(sa.full_blocks, sb.full_blocks):
            xa, xb = ba(xa, xb), bb(xb, xa)
        xa, xb = F.relu(sa.down(F.max_pool2d(xa, 2))), F.relu(sb.down(F.max_pool2d(xb, 2)))
        tap_a = tap_b = None
        for i, (ba, bb) in enumerate(zip(sa.half_blocks, sb.half_blocks), start=1):
            xa, xb = ba(xa, xb), bb(xb, xa)
            if i == sa.tap:
                tap_a, tap_b = xa, xb
        return xa, xb, tap_a, tap_b

    def appear(self, tap_a: Tensor, tap_b: Tensor) -> Tensor:
        return self.appearance(torch.cat([tap_a, tap_b], dim=1))

    def manipulate(self, motion: Tensor, alpha) -> Tensor:
        """``M(motion · alpha)``; ``motion`` = ``E_a - E_b`` (or a band-passed feature series)."""
        return self.manipulator(motion * alpha_tensor(alpha, motion))

    def scaled_motion(self, ref: Tensor, cur: Tensor, alpha) -> Tensor:
        """``(E_a − E_b) · alpha`` only (what the proxy feature loss compares); no decoder."""
        ea, eb, _, _ = self.encode(cur, ref)
        return (ea - eb) * alpha_tensor(alpha, ea)

    def forward(self, ref: Tensor, cur: Tensor, alpha, return_aux: bool = False):
        _check_pair(ref, cur, self.multiple, "LWMMNet")
        ea, eb, ta, tb = self.encode(cur, ref)
        app = self.appear(ta, tb)
        scaled = (ea - eb) * alpha_tensor(alpha, ea)
        out = self.decoder(app + self.manipulator(scaled))
        if return_aux:
            return out, {"scaled_motion": scaled, "appearance": app}
        return out


ARCHS: dict[str, tuple[type[nn.Module], dict]] = {
    "oh": (OhNet, {}),
    "lwmm-m1": (LWMMNet, {"c": 24}),
    "lwmm-m2": (LWMMNet, {"c": 8}),
}
"""Architecture name → (class, default keyword arguments)."""

PUBLISHED = {
    "oh": {"params_m": 0.98, "gflops_720": 268.6, "runtime_ms_720_rtx2080": 95},
    "lwmm-m1": {"params_m": 1.10, "gflops_720": 375.5, "runtime_ms_720_rtx2080": 142},
    "lwmm-m2": {"params_m": 0.12, "gflops_720": 42.4, "runtime_ms_720_rtx2080": 38},
}
"""Thesis Table 3.2 (720×720, RTX 2080); the modules of ch. 4–7 add their tables' rows."""

THESIS_MODULES: tuple = (kldnas, mdmm, sigma_theta, hmn)
"""Modules of the thesis' ch. 4–7 networks; each has its own ``ARCHS`` and ``PUBLISHED``, merged here."""
ARCHS.update({name: spec for module in THESIS_MODULES for name, spec in module.ARCHS.items()})
PUBLISHED.update({name: row for module in THESIS_MODULES for name, row in module.PUBLISHED.items()})


def build_net(arch: str, arch_args: dict | None = None) -> nn.Module:
    """Instantiate architecture ``arch`` (``"oh"``, ``"lwmm-m1"``, ``"lwmm-m2"``) with overrides."""
    if arch not in ARCHS:
        raise InputError(f"unknown learned magnifier architecture {arch!r}; valid: {', '.join(ARCHS)}")
    cls, defaults = ARCHS[arch]
    kwargs = {**defaults, **(arch_args or {})}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"{arch}: bad architecture arguments {kwargs}: {exc}") from None
