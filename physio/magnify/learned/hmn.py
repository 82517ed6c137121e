"""HMN, the hierarchical magnification network (Singh, thesis ch. 7; "HM-MN" in ch. 8).

``net(ref, cur, alpha)``: two frames ``(B, 3, H, W)`` in ``[-1, 1]`` (``ref`` = frame t−1, ``cur`` =
frame t) and the magnification factor → one magnified frame ``(B, 3, H, W)`` in ``[-1, 1]`` (tanh).
``H`` and ``W`` must be multiples of 4 (two ×2 average-pooling steps).  No encoders and no feature
regularizers: motion is read from differences of Sobel edges, which the thesis assumes carry less of
the (texture-borne) noise.

Architecture (thesis Figs. 7.1, 7.2, Eqs. 7.1–7.3; 3×3 convolutions, ReLU, ``ResBlock`` =
conv-ReLU-conv + identity, see :mod:`.blocks`)

Three levels ``m = 1, 2, 3`` at full, ½ and ¼ resolution; level ``m`` has width ``w_m = c·m`` and the
base dilation ``r_m`` from ``(m, r) ∈ {(1, 8), (2, 4), (3, 1)}`` (Eq. 7.1).

* **Level inputs.**  ``x^m`` = the frame average-pooled by ``2^(m−1)`` (area averaging; ``x^1`` is the
  frame).  ``F_t^m = ReLU(conv_{3→c}(x_t^m))`` and ``F_{t−1}^m`` likewise, *one convolution per level
  shared by both frames* (the thesis does not say how the "input features" are made).  ``E_d^m =
  Sobel(x_t^m) − Sobel(x_{t−1}^m)``: the ∂x and ∂y Sobel responses of the three colour channels
  (:func:`.blocks.sobel`), 6 channels, parameter-free (the thesis draws ``E_d^m`` with ``c`` channels
  but never says how edges become ``c`` features; the MSM's first convolution does that here).
* **MSM block** (multi-scale manipulator), per level, all convolutions ``w_m`` wide:

  - ``F = conv^{dil r}(concat(E_d, F_t, F_{t−1}))`` (Eq. 7.1; no activation, as printed);
  - ``W_1 = F + F ⊙ BN(σ(F))`` (Eq. 7.2);
  - ``W_{n+1} = W_1 + W_1 ⊙ BN(σ(conv^{dil r+n}(concat(W_n, F))))``, ``n = 1, 2, 3`` (Eq. 7.3, serial:
    each layer sees the previous one's output; dilations ``r, r+1, r+2, r+3`` over the four
    convolutions, digest note 7: 8–11 at full, 4–7 at ½, 1–4 at ¼ resolution); one BatchNorm per
    gate, the only normalization in the network;
  - ``N^m = ResBlocks_{n_post}(ReLU(conv((alpha − 1) · W_4)))`` — the **motion features** ("MSM output",
    the features of Fig. 7.3 and of the contrastive loss).

  **alpha convention** (the package's, see :mod:`.nets`): ``alpha = 1`` returns ``cur``.  The thesis
  multiplies ``W_4`` by ``M_f``; here by ``alpha − 1`` (Oh et al.'s manipulator): the motion branch then
  carries the motion to *add* to the current frame, and at ``alpha = 1`` it gets zeros whatever the
  frames, so the output depends only on the texture features and training (factor 1 … 100)
  teaches the decoder to reproduce ``cur`` there.
* **MD block** (multi-resolution decoder), per level: texture features ``T^m = ReLU(conv_{2c→w_m}(
  concat(F_t^m, F_{t−1}^m)))`` (both frames, "aids in denoising the texture area"; ablation H4 feeds
  frame t only) are *added* to ``N^m`` → ``D^m = ResBlocks_{n_md}(T^m + N^m)``.
* **Hierarchy**, coarse to fine: ``G^3 = D^3``; ``G^2 = ResBlocks_{n_fuse2}(ReLU(conv_{5c→2c}(concat(up(G^3),
  D^2))))``; ``G^1 = ResBlocks_{n_fuse1}(ReLU(conv_{3c→c}(concat(up(G^2), D^1))))``; output
  ``tanh(conv_{c→3}(G^1))``.  ``up`` = bilinear ×2 (pyramid-style reconstruction; the thesis only says
  "up-sampled").

Residual-block counts (not in the text; chosen so that *both* published parameter counts and GFLOPs
come out, with the same counts for both models): ``n_post = 2``, ``n_md = 8``, ``n_fuse2 = 6``,
``n_fuse1 = 9``.  c = 24 (M1): 2.51 M parameters, 603.7 GFLOPs at 720×720 (Table 7.1: 2.5 M, 602.5);
c = 8 (M2): 0.283 M, 68.1 GFLOPs (0.28 M, 68.3).  At 384×384 the same networks cost 171.7 and 19.4
GFLOPs: Table 7.1's "384×384" label does not fit (its baseline rows are the 720×720 numbers of
Table 3.2 as well), 720×720 does.

**Contrastive loss** (Eq. 7.4, fine-tuning only; :meth:`HMNNet.extra_losses`)::

    C = Σ_m mean|N_e^m − N*^m| / (Σ_m mean|N_e^m − N_{e−1}^m| + eps),   eps = contrastive_eps · Σ_m mean|N*^m|

``N_e`` = this network's motion features on the noisy inputs, ``N*`` = the noise-free *proxy* network's
(same architecture, trained first without noise) on the clean inputs, ``N_{e−1}`` = the network's own
frozen snapshot from the end of the previous epoch, on the noisy inputs; the three levels are pooled
into one ratio (the thesis writes one ratio over all ``(m, r)``).  No gradient flows into the proxy or
the snapshot.  Choices the thesis leaves open:

* *BatchNorm*: the frozen networks normalize with the statistics of the batch whenever ``N_e`` does
  (training), their running statistics untouched; with the running statistics instead (the frozen
  networks' ``eval()`` mode), the train/eval difference alone was as large as the distance to the proxy
  (measured after 30 steps, level 1: 3.1 vs 3.4) and the ratio measured nothing.  In ``eval()``
  (validation) all three use running statistics.
* *eps* (thesis: none): right after each snapshot ``N_{e−1} = N_e`` exactly and the ratio is
  ``num / eps``.  The features scale with ``alpha − 1`` (0 … 99), so ``eps`` is relative to the
  proxy's feature size: ``contrastive_eps = 0.1`` keeps that step at ≈ 10× the relative distance to
  the proxy, while a few steps into an epoch the denominator is already ≥ the feature size (measured
  on M2 after 200 steps at lr 1e-3: relative change 1.1 after 4 steps), so ``eps`` hardly matters there.
* The thesis gives the levels as ``(m, r) ∈ {(1, 9), (2, 5), (3, 1)}`` there against ``{(1, 8), (2, 4),
  (3, 1)}`` in Eq. 7.1; one network has one set of dilations, Eq. 7.1's are used (``dilations``).

BatchNorm: the magnifier runs the network in ``eval()`` mode (running statistics), training uses batch
statistics; batches of 1 frame work in both (the statistics are over ``B·H·W`` positions).

References
----------
.. [1] J. Singh, "Deep learning based approaches for video motion magnification", PhD thesis, IIT Ropar,
   2024, chapter 7; J. Singh, S. Murala and G. S. R. Kosuru, "HMN: Hierarchical magnification network
   for video motion magnification", IEEE Trans. Multimedia (under review).
.. [2] T.-H. Oh et al., "Learning-based video motion magnification", ECCV 2018 (the ``alpha − 1``
   manipulator).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.errors import InputError
from physio.magnify.learned.blocks import ResBlock, ThesisNet, alpha_tensor, check_pair, conv, sobel

__all__ = ["MSMBlock", "HMNLevel", "HMNNet", "ARCHS", "PUBLISHED"]

EDGE_CHANNELS = 6
"""Sobel ∂x and ∂y of the three colour channels."""


def _dilated(cin: int, cout: int, dilation: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)


class MSMBlock(nn.Module):
    """Multi-scale manipulator of one level (Eqs. 7.1–7.3) up to ``W_4`` (before the factor).

    Parameters
    ----------
    cin : int
        Channels of ``concat(E_d, F_t, F_{t−1})``.
    width : int
        ``c·m``.
    dilation : int
        ``r``; the four convolutions use ``r, r+1, r+2, r+3``.
    n_serial : int
        Serial gated layers after ``W_1`` (thesis: 3).

    Shape
    -----
    ``(B, cin, h, w)`` → ``(B, width, h, w)``.
    """

    def __init__(self, cin: int, width: int, dilation: int, n_serial: int = 3) -> None:
        super().__init__()
        self.first = _dilated(cin, width, dilation)
        self.bn_first = nn.BatchNorm2d(width)
        self.serial = nn.ModuleList(_dilated(2 * width, width, dilation + n) for n in range(1, n_serial + 1))
        self.bn_serial = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(n_serial))

    @staticmethod
    def _norm(bn: nn.BatchNorm2d, x: Tensor, batch_stats: bool | None) -> Tensor:
        if batch_stats:  # the statistics of this batch, running statistics left untouched
            return F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
        return bn(x)

    def forward(self, x: Tensor, batch_stats: bool | None = None) -> Tensor:
        """``batch_stats=True`` normalizes with this batch's statistics whatever the module's mode and
        without updating the running ones (the frozen networks of the contrastive loss); ``None``: the
        BatchNorm layers' own behaviour."""
        f = self.first(x)
        w1 = f + f * self._norm(self.bn_first, torch.sigmoid(f), batch_stats)
        w = w1
        for cv, bn in zip(self.serial, self.bn_serial):
            w = w1 + w1 * self._norm(bn, torch.sigmoid(cv(torch.cat([w, f], dim=1))), batch_stats)
        return w


class HMNLevel(nn.Module):
    """One level ``m``: input features, MSM block with its factor-scaled tail, and the MD block.

    Parameters
    ----------
    c : int
        Base width; the level is ``c·m`` wide, its input features ``c``.
    m : int
        Level (1 = full resolution).
    dilation : int
        Base dilation ``r`` of the MSM block.
    n_post, n_md : int
        Residual blocks after the factor (MSM tail) and in the MD block.
    """

    def __init__(self, c: int, m: int, dilation: int, n_post: int, n_md: int) -> None:
        super().__init__()
        w = c * m
        self.m, self.width = m, w
        self.features = conv(3, c)  # shared by frame t and frame t−1
        self.msm = MSMBlock(EDGE_CHANNELS + 2 * c, w, dilation)
        self.tail = nn.Sequential(conv(w, w), nn.ReLU(), *[ResBlock(w) for _ in range(n_post)])
        self.texture = nn.Sequential(conv(2 * c, w), nn.ReLU())
        self.md = nn.Sequential(*[ResBlock(w) for _ in range(n_md)])

    def inputs(self, ref: Tensor, cur: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Frames at this level → ``(E_d, F_t, F_{t−1})``."""
        k = 2 ** (self.m - 1)
        if k > 1:
            ref, cur = F.avg_pool2d(ref, k), F.avg_pool2d(cur, k)
        gx_c, gy_c = sobel(cur)
        gx_r, gy_r = sobel(ref)
        e = torch.cat([gx_c - gx_r, gy_c - gy_r], dim=1)
        return e, F.relu(self.features(cur)), F.relu(self.features(ref))

    def motion(self, e: Tensor, f_cur: Tensor, f_ref: Tensor, alpha, batch_stats: bool | None = None) -> Tensor:
        """MSM output ``N^m = tail((alpha − 1) · W_4)``."""
        w4 = self.msm(torch.cat([e, f_cur, f_ref], dim=1), batch_stats)
        return self.tail((alpha_tensor(alpha, w4) - 1.0) * w4)

    def decode(self, f_cur: Tensor, f_ref: Tensor, motion: Tensor) -> Tensor:
        """MD block: ``ResBlocks(texture(F_t, F_{t−1}) + N^m)``."""
        return self.md(self.texture(torch.cat([f_cur, f_ref], dim=1)) + motion)


class HMNNet(ThesisNet):
    """HMN (thesis ch. 7): edge-difference MSM blocks at three resolutions + multi-resolution decoder.

    Parameters
    ----------
    c : int
        Base width (M1: 24, M2: 8); level ``m`` is ``c·m`` wide.
    n_post : int
        Residual blocks after the factor in each MSM tail (2).
    n_md : int
        Residual blocks of each level's MD block (8).
    n_fuse2, n_fuse1 : int
        Residual blocks after fusing level 3 into level 2 (6) and level 2 into level 1 (9).
    dilations : sequence of 3 ints
        Base dilation ``r`` of levels 1, 2, 3 (Eq. 7.1: 8, 4, 1).
    contrastive_eps : float
        ``eps`` of the contrastive loss's denominator, relative to the proxy's feature size (0.1).

    Shape
    -----
    ``(B, 3, H, W)`` × 2 + alpha → ``(B, 3, H, W)``, H and W multiples of 4.  Motion features ``N^m``:
    ``(B, c·m, H/2^(m−1), W/2^(m−1))``.
    """

    multiple = 4
    halo = 128  # receptive radius ≥ 160 px; beyond 64 rows the input's influence is < 1e-7 of the total (measured at initialisation)
    uses_proxy = True

    def __init__(self, c: int = 24, n_post: int = 2, n_md: int = 8, n_fuse2: int = 6, n_fuse1: int = 9,
                 dilations: Sequence[int] = (8, 4, 1), contrastive_eps: float = 0.1) -> None:
        super().__init__()
        dilations = tuple(int(d) for d in dilations)
        if len(dilations) != 3 or min(dilations) < 1:
            raise InputError(f"HMNNet: dilations must be 3 integers ≥ 1, got {dilations}")
        if c < 1 or min(n_post, n_md, n_fuse2, n_fuse1) < 0:
            raise InputError("HMNNet: c must be ≥ 1 and the block counts ≥ 0")
        if not contrastive_eps > 0:
            raise InputError(f"HMNNet: contrastive_eps must be > 0, got {contrastive_eps}")
        self.c, self.contrastive_eps = c, float(contrastive_eps)
        self.levels = nn.ModuleList(HMNLevel(c, m, r, n_post, n_md) for m, r in zip((1, 2, 3), dilations))
        self.fuse2 = nn.Sequential(conv(5 * c, 2 * c), nn.ReLU(), *[ResBlock(2 * c) for _ in range(n_fuse2)])
        self.fuse1 = nn.Sequential(conv(3 * c, c), nn.ReLU(), *[ResBlock(c) for _ in range(n_fuse1)])
        self.out = conv(c, 3)

    @staticmethod
    def _up(x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def msm_features(self, ref: Tensor, cur: Tensor, alpha, batch_stats: bool | None = None) -> list[Tensor]:
        """The motion features ``[N^1, N^2, N^3]`` only (no decoder): what the contrastive loss compares.
        ``batch_stats``: see :meth:`MSMBlock.forward`."""
        check_pair(ref, cur, self.multiple, "HMNNet")
        return [lv.motion(*lv.inputs(ref, cur), alpha, batch_stats) for lv in self.levels]

    def forward(self, ref: Tensor, cur: Tensor, alpha, return_aux: bool = False):
        check_pair(ref, cur, self.multiple, "HMNNet")
        motions, decoded = [], []
        for lv in self.levels:
            e, f_cur, f_ref = lv.inputs(ref, cur)
            n = lv.motion(e, f_cur, f_ref, alpha)
            motions.append(n)
            decoded.append(lv.decode(f_cur, f_ref, n))
        g = self.fuse2(torch.cat([self._up(decoded[2]), decoded[1]], dim=1))
        g = self.fuse1(torch.cat([self._up(g), decoded[0]], dim=1))
        out = torch.tanh(self.out(g))
        if return_aux:
            return out, {"msm": motions}
        return out

    def extra_losses(self, batch: dict, out: Tensor, aux: dict, proxy: nn.Module | None = None,
                     previous: nn.Module | None = None) -> dict[str, Tensor]:
        """``{"contrastive": C}`` (module notes) when both ``proxy`` and ``previous`` are given, else ``{}``."""
        if proxy is None or previous is None:
            return {}
        n_e = aux["msm"]
        stats = self.training  # normalize the frozen networks' features the way n_e was normalized
        with torch.no_grad():
            pos = proxy.msm_features(batch["a_clean"], batch["b_clean"], batch["alpha"], batch_stats=stats)
            neg = previous.msm_features(batch["a"], batch["b"], batch["alpha"], batch_stats=stats)
            eps = self.contrastive_eps * sum(p.abs().mean() for p in pos)
        num = sum((a - p).abs().mean() for a, p in zip(n_e, pos))
        den = sum((a - q).abs().mean() for a, q in zip(n_e, neg))
        return {"contrastive": num / (den + eps + 1e-12)}


ARCHS: dict[str, tuple[type[nn.Module], dict]] = {
    "hmn-m1": (HMNNet, {"c": 24}),
    "hmn-m2": (HMNNet, {"c": 8}),
}
"""Architecture name → (class, default keyword arguments)."""

PUBLISHED = {
    "hmn-m1": {"params_m": 2.5, "gflops_720": 602.5, "table": "thesis Table 7.1 (labelled 384×384; fits 720×720)"},
    "hmn-m2": {"params_m": 0.28, "gflops_720": 68.3, "table": "thesis Table 7.1 (labelled 384×384; fits 720×720)"},
}
"""Thesis Table 7.1 (no runtimes given)."""
