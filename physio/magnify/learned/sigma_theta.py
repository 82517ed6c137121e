"""σ-θ Net: learnable directional scale-space filters for motion magnification (thesis ch. 6).

``net(ref, cur, alpha)`` with ``ref = I_t1``, ``cur = I_t2`` in ``[-1, 1]``; output in ``(−1, 1)`` (tanh).
``alpha`` follows the package convention (:mod:`.nets`): the output shows ``ref`` displaced by
``alpha · d``; the thesis' α is our ``alpha − 1`` (its Eq. 1.1 writes ``(1 + α)δ``), so the manipulator
multiplies its differences by ``alpha − 1`` as Oh et al.'s code does, and ``r(x) = x`` is then the exact
linear magnifier (with ``alpha`` itself ``r`` could not return the unchanged phase at ``alpha = 1``).

Architecture (thesis Fig. 6.1; ELU after every convolution except the last of ``r`` and the head)
------------------------------------------------------------------------------------------------
**Manipulator** (:class:`DirectionalManipulator`), run on the frame pair at full and at ½ resolution
(2×2 average pooling), with separate weights per resolution:

1. Learnable scale space (Eq. 6.6, :class:`ScaleSpace`): ``I^σ = W0·I + Σ_{i=1..3} W_i·(I ⊗ G_{m_i×m_i})``,
   ``m_i = 3, 5, 7``, one learnable σ per kernel (``softplus(ρ) + 0.05``, initialised 0.5, 1, 1.5),
   ``W = softmax``; per colour channel, replicated border, separable kernels rebuilt from σ each call.
2. Steerable gradients (Eq. 6.5): Sobel ``∇^0, ∇^90`` of ``I^σ`` (:func:`.blocks.sobel`, /8) and
   ``∇^θ = ∇^0 cos θ + ∇^90 sin θ`` for 9 learnable θ initialised to ``kπ/9`` (evenly over ``[0, π)``).
3. Phase and magnitude per colour and direction (27 maps each) — **open choice, see below**:
   ``φ = atan2(odd, even)`` (:func:`safe_phase`), ``R = sqrt(even² + odd² + ε²)``, ε = 1e-3.
4. Eqs. 6.7/6.8 per direction, ``g = alpha − 1``:
   ``φ_m = φ_t2 + r_φ(g·wrap(φ_t2 − φ_t1), φ_t2)``, ``R_m = R_t2 + r_R(g·(R_t2 − R_t1), R_t2)``, the
   phase difference wrapped to ``(−π, π]`` (:func:`wrap_angle`); then the softmax-weighted sum over the 9
   directions (``W^θ``, per colour channel).  ``r`` (:class:`SeparableR`, Fig. 6.1c): two
   depthwise-separable blocks on ``concat(difference, t2 value)`` (54 → 27 → 27 channels); the
   pointwise convolutions mix colours and directions (isotropic noise looks alike in every direction).
5. Eq. 6.9 **as printed**: ``M = R_m cos φ_m + R_m sin φ_m``, 3 channels (one per colour).  Chosen over
   the two-channel ``(R cos φ, R sin φ)`` because Fig. 6.1(d) and §6.2.2 *add* ``I_t2`` to the
   manipulator features, which needs one map per frame channel; the sum is ``√2·R_m·sin(φ_m + π/4)``,
   and since φ_m and R_m are both learned the projection costs the network little.

**Decoder** (MSCC, Eq. 6.10, :class:`MSCC`): ``f̃ = ELU(Conv3×3×c(concat(f, I_t2)))``,
``f = W0·f̃ + Σ_{i=1..3} W_i·ELU(Conv^{dil 2^i}_{3×3×c}(ELU(Conv_{3×3×⌈c/2^i⌉}(f̃))))`` (softmax W; for
c = 12 the compressed widths are 6, 3, 2 — ⌈12/8⌉ = 2; for 2c = 24: 12, 6, 3).  ``I_t2`` is concatenated
at the block's resolution.  Layout (resolution fusion by MSCC blocks, Fig. 6.1e):

* full resolution: ``M_full + I_t2`` → 3 MSCC(c = 12);
* stride-2 3×3 conv c → 2c, concatenated with ``M_half + I_t2↓`` → 3 MSCC(2c = 24) at ½ resolution;
* nearest ×2 upsampling → 3×3 conv 2c → c, concatenated with the full-resolution features → 3 MSCC(c)
  (the first one fuses the two resolutions) → 3×3 conv c → 3 + tanh.

**Size.**  88,202 parameters (thesis Table 6.2: 0.085 M, +3.8 %; text: ~0.084 M) and 48.2 GFLOPs at
720×720 by :func:`.complexity.complexity` (2 × MACs of Conv/Linear modules; published 48.8, −1.2 %).
Split: manipulators 2 × 6,127 (each: two ``r`` of 3,051, 7 scale-space and 18 direction parameters),
MSCC blocks 11,205 (full, before) + 45,723 (½) + 13,473 (full, after), down/up/head convolutions
5,547.  The counter does not see the filters applied with ``F.conv2d`` from computed kernels (scale
space, Sobel, mean removal, steering): ≈ 630 MACs per output pixel, +0.65 GFLOPs at 720×720 (48.9 in
all).  Block counts (3 + 3 + 3) were chosen to meet both published numbers; the thesis gives only
c = 12 and 2c after downsampling.  Everything runs on the ``meta`` device (``atan2``, ``remainder``,
``where``, padding), so :func:`.complexity.complexity` works as is.

**Receptive field.**  The theoretical radius is 132 px (dilations 2/4/8 in 9 MSCC blocks, three of them
at ½ resolution), beyond the magnifier's default 64-row tiling halo (used only for frames above 0.8
Mpixel), so the network asks for ``halo = 136`` rows (at initialisation the share of ``|∂out/∂in|``
beyond 64 px was 3e-8 already).

Open choices (thesis silent or ambiguous; digest §9 note 6)
-----------------------------------------------------------
* **Phase and magnitude of a directional gradient** (``pair``).  The reading suggested in the digest,
  the complex pair ``(∇^θ, ∇^{θ+90°})``, is a *rotation* of ``(∇^0, ∇^90)``: its magnitude is
  ``|∇|`` for every θ and its phase is ``φ_0 − θ``, so after differencing every direction carries the
  same ``wrap(Δφ)`` and ``ΔR`` and the 9 learnable θ only shift a constant (tested).  The default
  ``pair="riesz"`` follows the Riesz-pyramid construction of Wadhwa et al. (2014), the quadrature
  counterpart of the steerable pyramid the chapter imitates: the *even* part is the band-passed
  scale-space feature ``I^σ − G_{σ=2, 9×9} ⊗ I^σ`` (local mean removed) and the *odd* part the steered
  gradient ``∇^θ I^σ``.  For a local sinusoid along direction β the odd part scales with ``cos(θ − β)``,
  so phase differences measure motion along θ and vanish across it (tested: a 12-px grating shifted
  0.5 px along x moves the θ = 0 phase by 0.264 rad on average, ω·d = 0.262, and the θ = 90° phase by
  0; both at initialisation): the directions are
  genuinely different filters, θ and W^θ choose among them, and σ sets the band.  ``pair="rotated"``
  keeps the other reading for comparison.
* **atan2 at the origin.**  Where ``even² + odd² < ε²`` the phase is defined as 0 with zero gradient
  (double ``where``), and ``R`` has the ε floor, so constant frames give finite outputs and gradients.
* **Phase averaging over directions** is done on the phases as Eq. 6.7 prints it (not on complex
  values), and ``r``'s second input is the raw phase ``φ_t2``, also as printed.
* **Resolutions**: two (full, ½), each with its own manipulator parameters; the ½-resolution
  manipulator output enters the decoder at ½ resolution and is fused by the MSCC blocks.
* No extra loss terms: the objective is ``10·L1 + 1·L_edge + 0.1·L_p`` (Eq. 6.11).
* Temporal mode: the :class:`~.blocks.ThesisNet` default (pixel-domain pair ``(F_t − bp(F)_t, F_t)``).

References
----------
.. [1] J. Singh, "Deep learning based approaches for video motion magnification", PhD thesis, IIT Ropar,
   2024, chapter 6 (σ-θ Net; IEEE Trans. Image Processing, under review).
.. [2] W. T. Freeman and E. H. Adelson, "The design and use of steerable filters", IEEE TPAMI 13(9), 1991.
.. [3] N. Wadhwa, M. Rubinstein, F. Durand and W. T. Freeman, "Riesz pyramids for fast phase-based video
   magnification", ICCP 2014.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.errors import InputError
from physio.magnify.learned.blocks import ThesisNet, alpha_tensor, check_pair, sobel

__all__ = [
    "KERNEL_SIZES", "wrap_angle", "safe_phase", "ScaleSpace", "DirectionalManipulator", "SeparableR", "MSCC",
    "SigmaThetaNet", "ARCHS", "PUBLISHED",
]

KERNEL_SIZES = (3, 5, 7)
"""Gaussian kernel sizes ``m_i = 2i + 1`` of the learnable scale space (thesis Eq. 6.6)."""

SIGMA_MIN = 0.05
"""Floor of the learnable standard deviations (``σ = softplus(ρ) + SIGMA_MIN``): a kernel never divides by 0."""

MEAN_SIGMA, MEAN_SIZE = 2.0, 9
"""Fixed Gaussian that removes the local mean of the scale-space feature (the even part of the pair)."""

PAIRS = ("riesz", "rotated")


def wrap_angle(d: Tensor) -> Tensor:
    """``d`` wrapped to ``(−π, π]`` (``π − ((π − d) mod 2π)``; gradient 1 away from the jumps)."""
    return math.pi - torch.remainder(math.pi - d, 2 * math.pi)


def safe_phase(odd: Tensor, even: Tensor, eps: float) -> Tensor:
    """``atan2(odd, even)``, 0 where ``|(even, odd)| < eps``, with zero (finite) gradient there.

    ``atan2``'s gradient ``(−odd, even)/(even² + odd²)`` is ``0/0`` at the origin; the inputs of the
    masked points are replaced by ``(1, 0)`` *before* ``atan2`` (the double-``where`` trick), so no NaN
    enters the backward pass.
    """
    small = even * even + odd * odd < eps * eps
    e = torch.where(small, torch.ones_like(even), even)
    o = torch.where(small, torch.zeros_like(odd), odd)
    return torch.where(small, torch.zeros_like(even), torch.atan2(o, e))


def _gauss1d(size: int, sigma: Tensor | float, like: Tensor) -> Tensor:
    x = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


def _separable_blur(x: Tensor, g: Tensor) -> Tensor:
    """Depthwise separable filtering of ``x (B, C, H, W)`` with the 1-D kernel ``g`` (replicated border)."""
    c, r = x.shape[1], (g.numel() - 1) // 2
    kx = g.view(1, 1, 1, -1).expand(c, 1, 1, g.numel())
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), kx, groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), kx.transpose(-1, -2), groups=c)


def _inv_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


class ScaleSpace(nn.Module):
    """Learnable Gaussian scale space ``I^σ = W0·I + Σ_i W_i · (I ⊗ G_{m_i×m_i}(σ_i))`` (Eq. 6.6).

    ``W = softmax(logits)``; ``σ_i = softplus(ρ_i) + SIGMA_MIN``, initialised to ``(m_i − 1)/4``
    (0.5, 1, 1.5: the kernel spans ±2σ).  Per colour channel, replicated border.
    """

    def __init__(self, sizes: tuple[int, ...] = KERNEL_SIZES) -> None:
        super().__init__()
        if not sizes or any(m < 1 or m % 2 == 0 for m in sizes):
            raise InputError(f"ScaleSpace: kernel sizes must be odd and ≥ 1, got {sizes}")
        self.sizes = tuple(int(m) for m in sizes)
        self.sigma_raw = nn.Parameter(torch.tensor([_inv_softplus((m - 1) / 4 - SIGMA_MIN) if m > 1 else 0.0
                                                    for m in self.sizes]))
        self.logits = nn.Parameter(torch.zeros(len(self.sizes) + 1))

    def sigmas(self) -> Tensor:
        return F.softplus(self.sigma_raw) + SIGMA_MIN

    def forward(self, x: Tensor) -> Tensor:
        w, sig = torch.softmax(self.logits, 0), self.sigmas()
        out = w[0] * x
        for i, m in enumerate(self.sizes):
            out = out + w[i + 1] * _separable_blur(x, _gauss1d(m, sig[i], x))
        return out


class SeparableR(nn.Module):
    """``r(d, x)``: two depthwise-separable blocks on ``concat(d, x)`` (thesis Fig. 6.1c).

    Block 1: depthwise 3×3 on the ``2n`` input channels → pointwise ``2n → n`` → ELU; block 2:
    depthwise 3×3 → pointwise ``n → n`` (linear: ``r`` is a residual added to ``x``).
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.dw1 = nn.Conv2d(2 * n, 2 * n, 3, padding=1, groups=2 * n)
        self.pw1 = nn.Conv2d(2 * n, n, 1)
        self.dw2 = nn.Conv2d(n, n, 3, padding=1, groups=n)
        self.pw2 = nn.Conv2d(n, n, 1)

    def forward(self, d: Tensor, x: Tensor) -> Tensor:
        h = F.elu(self.pw1(self.dw1(torch.cat([d, x], dim=1))))
        return self.pw2(self.dw2(h))


class DirectionalManipulator(nn.Module):
    """The motion manipulator at one resolution (thesis Eqs. 6.5–6.9); see the module notes.

    Parameters
    ----------
    channels : int
        Colour channels of the frames (3).
    n_dir : int
        Directions θ_k (9), initialised to ``kπ/n_dir``, learnable.
    pair : str
        ``"riesz"`` (default): the complex pair ``(I^σ − G_2 ⊗ I^σ, ∇^θ I^σ)``; ``"rotated"``:
        ``(∇^θ I^σ, ∇^{θ+90°} I^σ)`` (degenerate in θ, kept for comparison; module notes).
    eps : float
        Magnitudes below it have phase 0 (:func:`safe_phase`); ``R = sqrt(even² + odd² + eps²)``.

    Shape
    -----
    ``ref, cur (B, C, H, W)`` → ``M (B, C, H, W)``; :meth:`polar` gives ``(B, C·n_dir, H, W)`` maps
    ordered colour-major (channel ``c·n_dir + k``).
    """

    def __init__(self, channels: int = 3, n_dir: int = 9, sizes: tuple[int, ...] = KERNEL_SIZES,
                 pair: str = "riesz", eps: float = 1e-3) -> None:
        super().__init__()
        if pair not in PAIRS:
            raise InputError(f"DirectionalManipulator: pair must be one of {PAIRS}, got {pair!r}")
        if n_dir < 1 or eps <= 0:
            raise InputError(f"DirectionalManipulator: need n_dir ≥ 1 and eps > 0, got {n_dir}, {eps}")
        self.channels, self.n_dir, self.pair, self.eps = channels, n_dir, pair, float(eps)
        self.scale = ScaleSpace(sizes)
        self.theta = nn.Parameter(torch.arange(n_dir, dtype=torch.float32) * (math.pi / n_dir))
        self.dir_logits = nn.Parameter(torch.zeros(n_dir))
        n = channels * n_dir
        self.r_phase = SeparableR(n)
        self.r_mag = SeparableR(n)

    def polar(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Magnitude ``R`` and phase ``φ`` per colour and direction, each ``(B, C·n_dir, H, W)``."""
        s = self.scale(x)
        gx, gy = sobel(s)
        cos, sin = torch.cos(self.theta).view(1, 1, -1, 1, 1), torch.sin(self.theta).view(1, 1, -1, 1, 1)
        gx, gy = gx.unsqueeze(2), gy.unsqueeze(2)
        steered = gx * cos + gy * sin  # Eq. 6.5: ∇^θ = ∇^0 cos θ + ∇^90 sin θ, (B, C, K, H, W)
        if self.pair == "riesz":
            even = (s - _separable_blur(s, _gauss1d(MEAN_SIZE, MEAN_SIGMA, s))).unsqueeze(2).expand_as(steered)
            odd = steered
        else:
            even, odd = steered, gy * cos - gx * sin  # ∇^{θ+90°}
        mag = torch.sqrt(even * even + odd * odd + self.eps**2)
        phase = safe_phase(odd, even, self.eps)
        return mag.flatten(1, 2), phase.flatten(1, 2)

    def _merge(self, x: Tensor) -> Tensor:
        """Softmax-weighted sum over directions, ``(B, C·K, H, W) → (B, C, H, W)``."""
        b, _, h, w = x.shape
        wts = torch.softmax(self.dir_logits, 0).view(1, 1, -1, 1, 1)
        return (x.view(b, self.channels, self.n_dir, h, w) * wts).sum(2)

    def forward(self, ref: Tensor, cur: Tensor, alpha) -> Tensor:
        mag, phase = self.polar(torch.cat([ref, cur], dim=0))
        b = ref.shape[0]
        r1, r2, p1, p2 = mag[:b], mag[b:], phase[:b], phase[b:]
        gain = alpha_tensor(alpha, cur) - 1.0  # thesis α = our alpha − 1 (module notes)
        phase_m = p2 + self.r_phase(gain * wrap_angle(p2 - p1), p2)  # Eq. 6.7, per direction
        mag_m = r2 + self.r_mag(gain * (r2 - r1), r2)  # Eq. 6.8
        phase_m, mag_m = self._merge(phase_m), self._merge(mag_m)
        return mag_m * torch.cos(phase_m) + mag_m * torch.sin(phase_m)  # Eq. 6.9 as printed


class MSCC(nn.Module):
    """Multi-scale channel-compression block (thesis Eq. 6.10).

    ``f̃ = ELU(Conv3×3×c(concat(f, guide)))``; branch ``i ∈ {1, 2, 3}``:
    ``ELU(Conv^{dil 2^i}_{3×3×c}(ELU(Conv_{3×3×⌈c/2^i⌉}(f̃))))``; output
    ``W0·f̃ + Σ_i W_i·branch_i`` with ``W = softmax(logits)``.  ``guide`` is the current frame at the
    block's resolution (3 channels).
    """

    def __init__(self, cin: int, c: int, guide: int = 3, levels: int = 3) -> None:
        super().__init__()
        self.fuse = nn.Conv2d(cin + guide, c, 3, padding=1)
        self.branches = nn.ModuleList()
        for i in range(1, levels + 1):
            k, d = max(1, math.ceil(c / 2**i)), 2**i
            self.branches.append(nn.Sequential(nn.Conv2d(c, k, 3, padding=1), nn.ELU(),
                                               nn.Conv2d(k, c, 3, padding=d, dilation=d), nn.ELU()))
        self.logits = nn.Parameter(torch.zeros(levels + 1))

    def forward(self, f: Tensor, guide: Tensor) -> Tensor:
        t = F.elu(self.fuse(torch.cat([f, guide], dim=1)))
        w = torch.softmax(self.logits, 0)
        out = w[0] * t
        for i, branch in enumerate(self.branches, start=1):
            out = out + w[i] * branch(t)
        return out


class SigmaThetaNet(ThesisNet):
    """σ-θ Net (thesis ch. 6, Fig. 6.1): directional scale-space manipulator + MSCC decoder.

    Parameters
    ----------
    c : int
        Decoder channels at full resolution (12); ``2c`` at half resolution.
    n_dir : int
        Learnable directions per manipulator (9).
    n_pre, n_half, n_post : int
        MSCC blocks at full resolution before downsampling, at half resolution, and after the fusion
        with the upsampled half-resolution path (chosen for the published size, module notes).
    pair : str
        Phase/magnitude reading, ``"riesz"`` or ``"rotated"`` (:class:`DirectionalManipulator`).
    eps : float
        Phase/magnitude floor of the manipulator.

    Shape
    -----
    ``(B, 3, H, W)`` × 2 + alpha → ``(B, 3, H, W)`` in ``(−1, 1)``, H and W even.
    """

    multiple = 2
    halo = 136  # receptive radius 132 px (module notes)

    def __init__(self, c: int = 12, n_dir: int = 9, n_pre: int = 3, n_half: int = 3, n_post: int = 3,
                 pair: str = "riesz", eps: float = 1e-3) -> None:
        super().__init__()
        if c < 2 or min(n_pre, n_half, n_post) < 1:
            raise InputError(f"SigmaThetaNet: need c ≥ 2 and at least one MSCC block per stage, got "
                             f"c={c}, n_pre={n_pre}, n_half={n_half}, n_post={n_post}")
        self.c = c
        self.manip_full = DirectionalManipulator(3, n_dir, pair=pair, eps=eps)
        self.manip_half = DirectionalManipulator(3, n_dir, pair=pair, eps=eps)
        self.pre = nn.ModuleList([MSCC(3, c)] + [MSCC(c, c) for _ in range(n_pre - 1)])
        self.down = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        self.low = nn.ModuleList([MSCC(2 * c + 3, 2 * c)] + [MSCC(2 * c, 2 * c) for _ in range(n_half - 1)])
        self.up = nn.Conv2d(2 * c, c, 3, padding=1)
        self.post = nn.ModuleList([MSCC(2 * c, c)] + [MSCC(c, c) for _ in range(n_post - 1)])
        self.head = nn.Conv2d(c, 3, 3, padding=1)

    def manipulate(self, ref: Tensor, cur: Tensor, alpha) -> tuple[Tensor, Tensor]:
        """Magnified-gradient features ``(M_full (B,3,H,W), M_half (B,3,H/2,W/2))``."""
        m_full = self.manip_full(ref, cur, alpha)
        m_half = self.manip_half(F.avg_pool2d(ref, 2), F.avg_pool2d(cur, 2), alpha)
        return m_full, m_half

    def forward(self, ref: Tensor, cur: Tensor, alpha, return_aux: bool = False):
        check_pair(ref, cur, self.multiple, "SigmaThetaNet")
        m_full, m_half = self.manipulate(ref, cur, alpha)
        cur_half = F.avg_pool2d(cur, 2)
        f = m_full + cur  # Fig. 6.1(d): I_t2 added to the manipulator features
        for block in self.pre:
            f = block(f, cur)
        h = torch.cat([F.elu(self.down(f)), m_half + cur_half], dim=1)
        for block in self.low:
            h = block(h, cur_half)
        g = torch.cat([f, F.elu(self.up(F.interpolate(h, scale_factor=2, mode="nearest")))], dim=1)
        for block in self.post:
            g = block(g, cur)
        out = torch.tanh(self.head(g))
        if return_aux:
            return out, {"manip_full": m_full, "manip_half": m_half}
        return out


ARCHS: dict[str, tuple[type[nn.Module], dict]] = {"sigma-theta": (SigmaThetaNet, {})}
"""Architecture name → (class, default keyword arguments)."""

PUBLISHED = {"sigma-theta": {"params_m": 0.085, "gflops_720": 48.8}}
"""Thesis Table 6.2 (720×720); the text also says ~0.084 M.  No runtime is given for ch. 6."""
