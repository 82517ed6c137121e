"""MD-MM: multi-domain learning network for motion magnification, models D1 and D2 (thesis ch. 5).

Singh, Murala and Kosuru, "Multi domain learning for motion magnification", CVPR 2023; thesis
chapter 5.  Two frames and a factor give one magnified frame in two stages (thesis Fig. 5.3):

1. **FDMM** (frequency domain, Fig. 5.4) — per colour channel, the 2-D Fourier transforms of the
   current frame ``I_1`` and the reference ``I_0`` are split into amplitude and phase (Eq. 5.5).  Two
   parallel manipulators predict the magnified spectrum as residuals on ``I_1``'s:

   * phase: ``φ_m = φ_1 + P(m · wrap(φ_1 − φ_0), φ_1)``,
   * amplitude: ``ℓ_m = ℓ_1 + Q(m · (ℓ_1 − ℓ_0), ℓ_1)`` with ``ℓ = log(A + ε)``,

   ``P`` and ``Q`` being chains of *fixed concatenate blocks* (FCB: ``ELU(conv3×3×f(concat(previous
   output, fixed input)))``, the fixed input being ``I_1``'s phase or log-amplitude at every block)
   followed by a linear 3×3 head to the 3 colour channels.  ``Î_m = F⁻¹{A_m, φ_m}``.
2. **SDMST** (spatial domain, Fig. 5.5) — corrects ``Î_m``'s blur, ringing and occlusion errors:

   * RMTE (Eq. 5.6): ``R_m = FCB×6{ m · ψ · FCB×2{(I_1 − I_0), I_1}, I_1 }`` (+ 3×3 head to 3
     channels), with the spatial attention ``ψ = sigmoid(conv3×3×f(Î_m − I_1))``;
   * MSTG (Eq. 5.7): ``I_0, I_1, Î_m, R_m`` are average-pooled to ``/2, /4, /8``; from the lowest
     scale up, ``I_{m/n} = Î_{m/n} + FCB×6{(I^prev_{m/n} − I_{0/n} + R_{m/n}), I_{1/n}}`` (+ head), where
     ``I^prev_{m/8} = Î_{m/8}`` and otherwise ``I^prev_{m/n} = ConvT(concat(I_{m/2n}, I_{1/2n}))`` (4×4
     transposed convolution, stride 2).  The last scale (``n = 1``) is ``Î_m`` plus the full-resolution
     texture correction, and the output is its ``tanh``.

Shapes: ``ref, cur: (B, 3, H, W)`` in ``[-1, 1]``, ``H`` and ``W`` multiples of 8 (three poolings) →
``(B, 3, H, W)`` in ``(-1, 1)``; the spectra are ``(B, 3, H, W//2 + 1)``.

Choices the thesis leaves open (digest §9 note 5)
-------------------------------------------------
* **The factor.**  physio's ``alpha`` is the *total* motion factor (output = reference displaced by
  ``alpha·d``; ``alpha = 1`` returns the current frame, see :mod:`.nets`).  The thesis' own α is the
  *added* motion: Eq. 5.1 writes the magnified signal as ``f(x + (1 + α)δ)`` and builds it on the
  current frame's phase.  So wherever the thesis multiplies by α (the FDMM differences, by the
  digest's reading, and ``α·ψ`` in Eq. 5.6) we multiply by ``m = alpha − 1``.  With this choice the
  ideal phase residual for a translation is exactly linear in the manipulator's input,
  ``φ_m − φ_1 = (alpha − 1)·wrap(φ_1 − φ_0)``, and ``alpha = 1`` zeroes every motion input.
* **Spectra as images.**  ``rfft2`` per colour channel with ``norm="ortho"`` (amplitudes independent of
  the frame size up to ``sqrt(H·W)`` at DC; at most ``sqrt(H·W)`` for frames in ``[-1, 1]``), and
  ``fftshift`` along the vertical frequency axis, so that the ``(H, W//2 + 1)`` spectrum is a
  contiguous frequency grid (rows −H/2 … H/2 − 1, columns 0 … W/2) centred on DC.  The reason: under a
  translation ``d`` the phase difference is the plane ``ω·d`` (wrapped), and a 3×3 convolution can read
  its slope — the displacement — and its wrap lines only when neighbouring pixels are neighbouring
  frequencies; unshifted, the plane would break at the middle row.  Convolutions zero-pad; the
  borders they see are the ±Nyquist rows and the Nyquist column, which carry the least energy.
* **Amplitude as log-amplitude** ``ℓ = log(A + ε)``, ``ε = 1e-3`` (below the ≈2e-3 per-frequency
  amplitude of 8-bit quantisation noise under ``norm="ortho"``): raw amplitudes span four decades between DC and the
  high frequencies, while log-amplitudes are O(1) inputs, their difference is a log-ratio (scale
  free), and ``exp`` keeps ``A_m ≥ 0``.  ``A_m = max(exp(min(ℓ_m, ½·log(H·W))) − ε, 0)``: the cap is the
  largest amplitude a frame in ``[-1, 1]`` can have, so ``exp`` never overflows.  Constant frames
  (zero amplitude away from DC, where ``angle`` is 0) give finite phases and log-amplitudes.
* **Phase as network input.**  The motion input is the wrapped difference ``wrap(φ_1 − φ_0) =
  angle(F_1 · conj(F_0))`` in ``(−π, π]``, multiplied by ``m``; the fixed input of the phase FCBs is
  ``(cos φ_1, sin φ_1)`` (6 channels), which has no jump at ±π.  The residual is added to ``φ_1``
  itself (any real value: ``polar`` wraps it).
* **Heads.**  An FCB ends in ELU (≥ −1), but the residuals (phase, log-amplitude, texture) are signed
  and unbounded, so every FCB chain ends in a linear 3×3 convolution to 3 channels; those heads are
  initialised at 1/10 of PyTorch's default scale so that the untrained network starts near
  ``Î_m ≈ I_1`` (phase and amplitude inputs of ±m·π would otherwise throw random spectra at SDMST).
* **ψ** is one 3×3×f convolution of ``Î_m − I_1`` and a sigmoid (digest: "a sigmoid of
  conv(Î_m − I_1)"); it gates the f feature channels of ``FCB×2``.
* **MSTG scales.**  Eq. 5.7 has ``i ∈ (0, 3)`` with ``I^0_{m/8} = Î_{m/8}``; we read four FCB×6
  stages at ``/8, /4, /2, /1`` (the full-resolution one yields "the final texture feature map added to
  Î_m").  This reading is also the one under which the published parameter *and* FLOP counts are
  met together: without the full-resolution stage D1 would lose 15.1 k parameters (13 %) and
  15.6 GFLOPs (26 %) at the same f.  ``R_{m/n}``, ``Î_{m/n}``, ``I_{0/n}``, ``I_{1/n}`` are average-pooled
  (the thesis replaces the U-Net encoder by average pooling).
* **Chain lengths.**  RMTE ``FCB×2`` and ``FCB×6`` and MSTG ``FCB×6`` as printed; the FDMM chains'
  length is not given: 6 each (like the other chains).  D1 and D2 differ only in ``f`` (thesis
  §5.2.2); the values are not given (the text's "Table 6.2" does not hold them).  ``f = 16`` (D1) and
  ``f = 10`` (D2), the widths whose parameter counts come closest to Table 5.2 (counts below).
* **Frame borders.**  The FFT treats a frame as periodic, so a magnified phase shift moves content
  circularly across the border; SDMST sees that as one more error to correct (the thesis does not
  discuss it).  For the same reason the network is global (``local = False``): the magnifier puts
  every frame through it whole, never in bands (its banding of frames above 0.8 Mpx assumes a
  bounded receptive field).

Counts (``physio.magnify.learned.complexity``, 720×720; GFLOPs = 2 × MACs of the convolutions —
the two forward and one inverse FFT of a pair, ``O(HW log HW)`` each, are *not* counted, nor are the element-wise ops):
D1 ``f = 16``: 114 942 parameters (−1.8 %), 59.3 GFLOPs (−9 %; published 0.117 M, 65.4); D2
``f = 10``: 52 194 parameters (−1.5 %), 26.6 GFLOPs (−12 %; published 0.053 M, 30.4).  The next
widths overshoot the parameters (f = 17: 127 731, +9 %; f = 11: 60 987, +15 %).  The FLOPs sit ~10 %
below the table at matched parameters, whatever the width; a full complex ``fft2`` grid instead of
``rfft2``'s half grid would double the FDMM's 17 GFLOPs (D1) and overshoot instead.  The parameters
split (D1) as: phase manipulator 17.7 k, amplitude manipulator 15.1 k, RMTE 21.0 k (``FCB×2`` 3.6 k,
ψ 0.4 k, ``FCB×6`` 16.9 k), MSTG 61.2 k (four ``FCB×6`` 15.1 k each, three transposed convolutions
0.9 k).

Training loss (thesis Eq. 5.8): ``10·L1 + 0.1·L_p + L_edge`` (shared, :class:`~.losses.ThesisObjective`)
plus :meth:`MDMMNet.extra_losses` ``{"phase", "amplitude"}``, see there.

References
----------
.. [1] J. Singh, S. Murala and G. S. R. Kosuru, "Multi domain learning for motion magnification",
   CVPR 2023, pp. 13914–13923; J. Singh, "Deep learning based approaches for video motion
   magnification", PhD thesis, IIT Ropar, 2024, chapter 5.
.. [2] N. Wadhwa, M. Rubinstein, F. Durand and W. T. Freeman, "Phase-based video motion processing",
   SIGGRAPH 2013 (the phase-difference magnification that FDMM learns).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.magnify.learned.blocks import ThesisNet, alpha_tensor, check_pair, conv

__all__ = ["FCB", "FCBChain", "MDMMNet", "spectrum", "to_image", "wrap_phase", "ARCHS", "PUBLISHED", "EPS"]

EPS = 1e-3
"""ε of the log-amplitude ``log(A + ε)`` (``norm="ortho"`` spectra)."""


def wrap_phase(x: Tensor) -> Tensor:
    """``x`` wrapped to ``(−π, π]``."""
    return math.pi - torch.remainder(math.pi - x, 2 * math.pi)


def spectrum(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel ``rfft2`` (``norm="ortho"``, fftshifted along the rows) of ``x (B, C, H, W)`` →
    ``(log-amplitude, phase)``, each ``(B, C, H, W//2 + 1)``; ``log(|F| + ε)`` and ``angle(F)``."""
    z = torch.fft.fftshift(torch.fft.rfft2(x, norm="ortho"), dim=-2)
    return torch.log(z.abs() + EPS), torch.angle(z)


def to_image(logamp: Tensor, phase: Tensor, size: tuple[int, int]) -> Tensor:
    """Inverse of :func:`spectrum`: ``A = max(exp(min(ℓ, ½ log HW)) − ε, 0)``, ``F = A·e^{iφ}`` →
    the real ``(B, C, H, W)`` frame (``irfft2``; the DC and Nyquist columns are Hermitian-projected)."""
    h, w = size
    amp = (torch.exp(logamp.clamp(max=0.5 * math.log(h * w))) - EPS).clamp(min=0.0)
    z = torch.polar(amp, phase)
    return torch.fft.irfft2(torch.fft.ifftshift(z, dim=-2), s=(h, w), norm="ortho")


class FCB(nn.Module):
    """Fixed concatenate block: ``ELU(conv3×3×f(concat(x, fixed)))`` (thesis §5.2.2)."""

    def __init__(self, c_in: int, c_fixed: int, f: int) -> None:
        super().__init__()
        self.conv = conv(c_in + c_fixed, f)

    def forward(self, x: Tensor, fixed: Tensor) -> Tensor:
        return F.elu(self.conv(torch.cat([x, fixed], dim=1)))


class FCBChain(nn.Module):
    """``n`` FCBs sharing one fixed input, then (``c_out > 0``) a linear 3×3 head to ``c_out`` channels.

    Parameters
    ----------
    c_in, c_fixed, f : int
        Channels of the first block's input, of the fixed input, and of every block's output.
    n : int
        Number of FCBs.
    c_out : int
        Channels of the linear head (0: no head, the output has ``f`` channels).
    head_gain : float
        Scale of the head's initial weights and bias relative to PyTorch's default initialisation.
    """

    def __init__(self, c_in: int, c_fixed: int, f: int, n: int, c_out: int = 3, head_gain: float = 0.1) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(FCB(c_in if i == 0 else f, c_fixed, f) for i in range(n))
        self.head = None
        if c_out:
            self.head = conv(f, c_out)
            with torch.no_grad():
                self.head.weight.mul_(head_gain)
                self.head.bias.mul_(head_gain)

    def forward(self, x: Tensor, fixed: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x, fixed)
        return x if self.head is None else self.head(x)


class MDMMNet(ThesisNet):
    """MD-MM (thesis ch. 5): FDMM (frequency domain) then SDMST (RMTE + MSTG), see the module notes.

    Parameters
    ----------
    f : int
        Channels of every FCB (D1: 16, D2: 10).
    n_fdmm : int
        FCBs in each FDMM manipulator chain (phase and amplitude; 6).
    n_diff, n_rmte : int
        FCBs of RMTE before (``FCB×2``) and after (``FCB×6``) the attention-weighted scaling.
    n_mstg : int
        FCBs per MSTG scale (``FCB×6``).
    scales : int
        MSTG scales: ``/2^(scales−1)`` … ``/1`` (4: /8, /4, /2, /1); ``multiple = 2^(scales−1)``.

    Shape
    -----
    ``(B, 3, H, W)`` × 2 + alpha → ``(B, 3, H, W)``; ``H, W`` multiples of 8.  With ``return_aux``:
    ``fdmm`` (``Î_m``, ``(B, 3, H, W)``, not squashed), ``logamp_m`` and ``phase_m`` (the FDMM
    spectrum, ``(B, 3, H, W//2 + 1)``, fftshifted along the rows), ``texture`` (``R_m``).
    """

    multiple = 8
    local = False  # the Fourier transforms see the whole frame: the magnifier never cuts it into bands

    def __init__(self, f: int = 16, n_fdmm: int = 6, n_diff: int = 2, n_rmte: int = 6, n_mstg: int = 6,
                 scales: int = 4) -> None:
        super().__init__()
        if scales < 1:
            raise ValueError(f"MDMMNet: scales must be ≥ 1, got {scales}")
        self.f, self.scales = f, scales
        self.multiple = 2 ** (scales - 1)
        # FDMM: phase stream (fixed input cos φ_1, sin φ_1) and amplitude stream (fixed input ℓ_1)
        self.phase_manipulator = FCBChain(3, 6, f, n_fdmm)
        self.amplitude_manipulator = FCBChain(3, 3, f, n_fdmm)
        # SDMST / RMTE
        self.diff = FCBChain(3, 3, f, n_diff, c_out=0)
        self.attention = conv(3, f)
        self.rmte = FCBChain(f, 3, f, n_rmte)
        # SDMST / MSTG, lowest scale first
        self.mstg = nn.ModuleList(FCBChain(3, 3, f, n_mstg) for _ in range(scales))
        self.up = nn.ModuleList(nn.ConvTranspose2d(6, 3, 4, stride=2, padding=1) for _ in range(scales - 1))

    # -- FDMM ---------------------------------------------------------------------------------------
    def fdmm(self, ref: Tensor, cur: Tensor, m: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(Î_m, ℓ_m, φ_m)`` from the frames and the added-motion factor ``m = alpha − 1 (B,1,1,1)``."""
        l1, p1 = spectrum(cur)
        l0, p0 = spectrum(ref)
        dphase = wrap_phase(p1 - p0)
        phase = p1 + self.phase_manipulator(m * dphase, torch.cat([torch.cos(p1), torch.sin(p1)], dim=1))
        logamp = l1 + self.amplitude_manipulator(m * (l1 - l0), l1)
        return to_image(logamp, phase, cur.shape[-2:]), logamp, phase

    # -- SDMST --------------------------------------------------------------------------------------
    def residual_texture(self, ref: Tensor, cur: Tensor, fdmm: Tensor, m: Tensor) -> Tensor:
        """RMTE, Eq. 5.6: ``R_m = FCB×6{m·ψ·FCB×2{(I_1 − I_0), I_1}, I_1}`` → ``(B, 3, H, W)``."""
        psi = torch.sigmoid(self.attention(fdmm - cur))
        return self.rmte(m * psi * self.diff(cur - ref, cur), cur)

    def texture_generation(self, ref: Tensor, cur: Tensor, fdmm: Tensor, texture: Tensor) -> Tensor:
        """MSTG, Eq. 5.7, from ``/2^(scales−1)`` up to ``/1`` → the corrected frame (before tanh)."""
        out = i1_low = None
        for i, chain in enumerate(self.mstg):
            k = 2 ** (self.scales - 1 - i)
            i0, i1, im, rm = (t if k == 1 else F.avg_pool2d(t, k) for t in (ref, cur, fdmm, texture))
            prev = im if out is None else self.up[i - 1](torch.cat([out, i1_low], dim=1))
            out = im + chain(prev - i0 + rm, i1)
            i1_low = i1
        return out

    def forward(self, ref: Tensor, cur: Tensor, alpha, return_aux: bool = False):
        check_pair(ref, cur, self.multiple, "MDMMNet")
        m = alpha_tensor(alpha, cur) - 1.0
        fdmm, logamp, phase = self.fdmm(ref, cur, m)
        texture = self.residual_texture(ref, cur, fdmm, m)
        out = torch.tanh(self.texture_generation(ref, cur, fdmm, texture))
        if return_aux:
            return out, {"fdmm": fdmm, "logamp_m": logamp, "phase_m": phase, "texture": texture}
        return out

    def extra_losses(self, batch: dict, out: Tensor, aux: dict, proxy=None, previous=None) -> dict[str, Tensor]:
        """Thesis Eq. 5.8's frequency terms against the target ``y``'s spectrum (:func:`spectrum`):

        * ``phase = mean |wrap(φ_m − φ_gt)|`` (radians, wrapped to ``(−π, π]``),
        * ``amplitude = mean |ℓ_m − ℓ_gt|``, ``ℓ = log(A + ε)``.

        Which output: the FDMM's, ``Î_m`` — Eq. 5.8 names ``φ_m`` and ``A_m``, the manipulators'
        outputs, and the ablation D1-N2 calls these terms the frequency-domain regularisers; the
        final frame is already held by the L1, edge and perceptual terms.  The spectrum compared is
        the manipulators' ``(ℓ_m, φ_m)`` itself, which *is* ``rfft2(Î_m)`` in every column but the two
        self-conjugate ones (DC and Nyquist columns, which ``irfft2`` Hermitian-projects): taking
        ``angle(rfft2(Î_m))`` instead would give a ``1/|F|`` gradient that explodes at the many
        near-zero frequencies, whereas these terms have bounded gradients with respect to the
        residuals.  Log-amplitudes, because the L1 of raw amplitudes would be almost entirely the DC
        term (amplitudes span four decades).  Both are ≥ 0 and finite, also for constant frames.
        """
        lg, pg = spectrum(batch["y"])
        return {"phase": wrap_phase(aux["phase_m"] - pg).abs().mean(),
                "amplitude": (aux["logamp_m"] - lg).abs().mean()}


ARCHS: dict[str, tuple[type[nn.Module], dict]] = {
    "mdmm-d1": (MDMMNet, {"f": 16}),
    "mdmm-d2": (MDMMNet, {"f": 10}),
}
"""Architecture name → (class, default keyword arguments)."""

PUBLISHED = {
    "mdmm-d1": {"params_m": 0.117, "gflops_720": 65.4, "table": "thesis Table 5.2 (720x720)"},
    "mdmm-d2": {"params_m": 0.053, "gflops_720": 30.4, "table": "thesis Table 5.2 (720x720)"},
}
"""Thesis Table 5.2 (720×720, RTX 2080; runtimes are not given)."""
