"""Losses of the learned magnifiers: L1, edge, perceptual (VGG-16 or MS-SSIM), and the two objectives.

* :func:`edge_loss` — ``mean|∂x ŷ − ∂x y| + mean|∂y ŷ − ∂y y|`` (finite differences; Aittala & Durand
  2018, thesis Eq. 3.4).
* :class:`PerceptualLoss` — ``Σ_i mean|φ_i(ŷ) − φ_i(y)|`` over VGG-16 activations relu1_2, relu2_2,
  relu3_3 (Johnson et al. 2016; thesis Eq. 3.5).  ImageNet weights cannot be downloaded here, so
  :class:`VGG16Features` rebuilds torchvision's ``vgg16().features`` layer for layer and loads a
  user-given state dict (torchvision's ``vgg16-397923af.pth`` loads as is).  Without weights the
  documented substitute is ``1 − MS-SSIM`` (:func:`ms_ssim`, Wang et al. 2003), and the model card
  records which one was used.
* :class:`OhObjective` — Oh et al. (2018): ``w_l1 · L1(ŷ, y) + w_reg · (L1(V_a, V_b) +
  L1(V_b', V_y') + L1(M_b, M_b'))`` where ``'`` marks the colour-perturbed current and target frames:
  textures of frames that differ only in motion must agree, and so must shapes of frames that differ
  only in colour.
* :class:`LWMMObjective` — LW-MM (thesis Eq. 3.6): ``10·L1 + 0.1·L_p + L_edge + L_A + L_M`` with
  ``L_A = |φ(A) − F_t| + |φ(A) − F_{t−1}|`` against the clean frames (average-pooled to φ's half
  resolution) and the proxy feature loss ``L_M = |(E*_a − E*_b)·M_f − (E_a − E_b)·M_f|``, the frozen
  proxy seeing the clean frames while the model sees the noisy ones.
* :class:`ThesisObjective` — the networks of thesis ch. 4–7 (:class:`~.blocks.ThesisNet`):
  ``10·L1 + 0.1·L_p + L_edge`` (Eq. 5.x, 6.x, 7.x share it) plus the network's own terms
  (``net.extra_losses``: MD-MM's phase and amplitude L1, HMN's contrastive loss), each weighted by the
  :class:`LossWeights` field of its name.

A *batch* is a dict of float tensors in ``[-1, 1]``: ``a`` (reference, noisy), ``b`` (current,
noisy), ``a_clean``, ``b_clean``, ``y`` (magnified target, clean), ``b_pert`` (perturbed current,
noisy), ``y_pert`` (perturbed target, clean), all ``(B, 3, H, W)``, and ``alpha`` ``(B,)``.

References
----------
.. [1] M. Aittala and F. Durand, "Burst image deblurring using permutation invariant convolutional
   neural networks", ECCV 2018.
.. [2] J. Johnson, A. Alahi and L. Fei-Fei, "Perceptual losses for real-time style transfer and
   super-resolution", ECCV 2016.
.. [3] Z. Wang, E. P. Simoncelli and A. C. Bovik, "Multiscale structural similarity for image quality
   assessment", Asilomar 2003.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from physio.errors import InputError
from physio.magnify.learned.nets import LWMMNet, OhNet, ThesisNet

__all__ = [
    "edge_loss",
    "ms_ssim",
    "ssim_map",
    "VGG16Features",
    "PerceptualLoss",
    "LossWeights",
    "OhObjective",
    "LWMMObjective",
    "ThesisObjective",
    "make_objective",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
VGG16_TAPS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_3": 29}
"""Index of each named activation in torchvision's ``vgg16().features``."""


def edge_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference of horizontal and vertical finite differences, ``(B, C, H, W)``."""
    dx = (pred[..., :, 1:] - pred[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (pred[..., 1:, :] - pred[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def _gaussian_window(size: int, sigma: float, channels: int, like: Tensor) -> Tensor:
    x = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g.view(1, 1, 1, -1).expand(channels, 1, 1, size).contiguous()


def _blur(x: Tensor, win: Tensor) -> Tensor:
    c = x.shape[1]
    x = F.conv2d(x, win, groups=c)
    return F.conv2d(x, win.transpose(-1, -2), groups=c)


def ssim_map(x: Tensor, y: Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5):
    """Per-image mean SSIM and contrast-structure term, ``(B,)`` each (valid Gaussian window)."""
    win = _gaussian_window(win_size, sigma, x.shape[1], x)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = _blur(x, win), _blur(y, win)
    sxx = _blur(x * x, win) - mx * mx
    syy = _blur(y * y, win) - my * my
    sxy = _blur(x * y, win) - mx * my
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mx * my + c1) / (mx * mx + my * my + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(x: Tensor, y: Tensor, data_range: float = 1.0, win_size: int = 11, max_scales: int = 5) -> Tensor:
    """Multi-scale SSIM of ``(B, C, H, W)`` images in ``[0, data_range]`` → ``(B,)``.

    Uses as many of the 5 standard scales as the image allows (the coarsest must still hold one
    ``win_size`` window) and renormalises the standard exponents over them.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise InputError(f"ms_ssim: expected two equal (B, C, H, W) tensors, got {tuple(x.shape)}, {tuple(y.shape)}")
    side = min(x.shape[-2:])
    if side < win_size:
        raise InputError(f"ms_ssim: images of {side} px are smaller than the {win_size}-px window")
    n = max(1, min(max_scales, 1 + int(math.floor(math.log2(side / win_size)))))
    w = torch.tensor(MS_SSIM_WEIGHTS[:n], dtype=x.dtype, device=x.device)
    w = w / w.sum()
    vals = []
    for i in range(n):
        s, cs = ssim_map(x, y, data_range, win_size)
        vals.append(s if i == n - 1 else cs)
        if i < n - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stack = torch.stack(vals, dim=1).clamp(min=1e-6)
    return torch.prod(stack ** w, dim=1)


class VGG16Features(nn.Module):
    """torchvision's ``vgg16().features`` (same layer indices and state-dict keys), cut at ``last``.

    Parameters
    ----------
    layers : tuple of str
        Activations returned by :meth:`forward`, from :data:`VGG16_TAPS`.
    """

    def __init__(self, layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_3")) -> None:
        super().__init__()
        bad = [l for l in layers if l not in VGG16_TAPS]
        if bad:
            raise InputError(f"unknown VGG-16 layer(s) {bad}; valid: {', '.join(VGG16_TAPS)}")
        self.taps = sorted(VGG16_TAPS[l] for l in layers)
        mods: list[nn.Module] = []
        cin = 3
        for v in VGG16_CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
            if len(mods) > self.taps[-1]:
                break
        self.features = nn.Sequential(*mods[: self.taps[-1] + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def load_weights(self, path: str | os.PathLike) -> str:
        """Load a torchvision VGG-16 state dict (extra keys such as ``classifier.*`` are ignored).

        Returns the file's SHA-256.  Raises :class:`InputError` when a needed tensor is missing or has
        the wrong shape.
        """
        p = Path(path)
        if not p.is_file():
            raise InputError(f"{p}: VGG-16 weights file not found")
        raw = torch.load(p, map_location="cpu", weights_only=True)
        if isinstance(raw, dict) and "state_dict" in raw:
            raw = raw["state_dict"]
        own = self.state_dict()
        wanted = {k: v for k, v in own.items() if k.startswith("features.")}
        missing = [k for k in wanted if k not in raw]
        if missing:
            raise InputError(f"{p}: not a torchvision VGG-16 state dict (missing {', '.join(missing[:3])} …)")
        for k, v in wanted.items():
            if tuple(raw[k].shape) != tuple(v.shape):
                raise InputError(f"{p}: {k} has shape {tuple(raw[k].shape)}, expected {tuple(v.shape)}")
        self.load_state_dict({**own, **{k: raw[k] for k in wanted}})
        return hashlib.sha256(p.read_bytes()).hexdigest()

    def forward(self, x01: Tensor) -> list[Tensor]:
        """Images in ``[0, 1]`` → the tapped activations."""
        x = (x01 - self.mean) / self.std
        out = []
        for i, m in enumerate(self.features):
            x = m(x)
            if i in self.taps:
                out.append(x)
        return out


class PerceptualLoss(nn.Module):
    """``L_p`` on images in ``[-1, 1]``: VGG-16 feature L1, or ``1 − MS-SSIM`` as the substitute.

    Parameters
    ----------
    kind : str
        ``"vgg16"`` (needs ``vgg_weights``), ``"msssim"``, or ``"auto"``: VGG-16 when ``vgg_weights``
        is given, else MS-SSIM.
    vgg_weights : path, optional
        torchvision ``vgg16`` state dict (e.g. ``vgg16-397923af.pth``).
    """

    def __init__(self, kind: str = "auto", vgg_weights: str | None = None) -> None:
        super().__init__()
        if kind not in ("auto", "vgg16", "msssim"):
            raise InputError(f"perceptual loss kind must be auto, vgg16 or msssim, got {kind!r}")
        if kind == "auto":
            kind = "vgg16" if vgg_weights else "msssim"
        if kind == "vgg16" and not vgg_weights:
            raise InputError("perceptual loss 'vgg16' needs ImageNet VGG-16 weights (vgg_weights: path); "
                             "use 'msssim' or 'auto' without them")
        self.kind = kind
        self.vgg_sha256 = None
        self.vgg = None
        if kind == "vgg16":
            self.vgg = VGG16Features()
            self.vgg_sha256 = self.vgg.load_weights(vgg_weights)
            self.vgg.requires_grad_(False).eval()

    def describe(self) -> dict:
        if self.kind == "vgg16":
            return {"kind": "vgg16", "layers": ["relu1_2", "relu2_2", "relu3_3"], "weights_sha256": self.vgg_sha256}
        return {"kind": "msssim", "note": "1 - MS-SSIM substitute (no ImageNet VGG-16 weights available)"}

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        p01, t01 = (pred.clamp(-1, 1) + 1) / 2, (target + 1) / 2
        if self.vgg is not None:
            return sum((fp - ft).abs().mean() for fp, ft in zip(self.vgg(p01), self.vgg(t01)))
        return (1.0 - ms_ssim(p01, t01)).mean()


@dataclass
class LossWeights:
    """Weights of the loss terms (zero switches a term off).  Defaults: thesis Eq. 3.6 and Oh et al."""

    l1: float = 10.0
    perceptual: float = 0.1
    edge: float = 1.0
    appearance: float = 1.0
    proxy: float = 1.0
    oh_regularizer: float = 0.1
    phase: float = 1.0  # MD-MM: L1 of the output's Fourier phase against the target's (thesis Eq. 5.x)
    amplitude: float = 1.0  # MD-MM: L1 of the Fourier amplitude
    contrastive: float = 1.0  # HMN: contrastive loss of the fine-tuning stage (thesis ch. 7)

    def __post_init__(self) -> None:
        for k, v in vars(self).items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise InputError(f"loss weight {k} must be a finite number ≥ 0, got {v!r}")


class OhObjective:
    """Oh et al.'s loss (see module notes); ``__call__(batch) → (loss, {term: value})``."""

    def __init__(self, net: nn.Module, weights: LossWeights) -> None:
        self.net, self.w = net, weights

    def __call__(self, batch: dict) -> tuple[Tensor, dict]:
        net, w = self.net, self.w
        out, aux = net(batch["a"], batch["b"], batch["alpha"], return_aux=True)
        parts = {"l1": (out - batch["y"]).abs().mean()}
        total = w.l1 * parts["l1"]
        if w.oh_regularizer > 0:
            tex_a, _ = net.encode(batch["a"])
            tex_bp, shape_bp = net.encode(batch["b_pert"])
            tex_yp, _ = net.encode(batch["y_pert"])
            parts["texture"] = (tex_a - aux["texture_cur"]).abs().mean() + (tex_bp - tex_yp).abs().mean()
            parts["shape"] = (aux["shape_cur"] - shape_bp).abs().mean()
            total = total + w.oh_regularizer * (parts["texture"] + parts["shape"])
        return total, {k: float(v.detach()) for k, v in parts.items()} | {"total": float(total.detach())}

    def describe(self) -> dict:
        return {"objective": "oh2018", "weights": {"l1": self.w.l1, "regularizer": self.w.oh_regularizer}}


def _reconstruction_terms(out: Tensor, y: Tensor, w: "LossWeights", perceptual: "PerceptualLoss | None"):
    """``w.l1·L1 + w.edge·L_edge + w.perceptual·L_p`` of ``out`` against ``y`` → ``(parts, total)``."""
    parts = {"l1": (out - y).abs().mean()}
    total = w.l1 * parts["l1"]
    if w.edge > 0:
        parts["edge"] = edge_loss(out, y)
        total = total + w.edge * parts["edge"]
    if w.perceptual > 0 and perceptual is not None:
        parts["perceptual"] = perceptual(out, y)
        total = total + w.perceptual * parts["perceptual"]
    return parts, total


class LWMMObjective:
    """LW-MM's loss (thesis Eq. 3.6); ``proxy`` is the frozen noise-free network or ``None``."""

    def __init__(self, net: nn.Module, weights: LossWeights, perceptual: PerceptualLoss | None = None,
                 proxy: nn.Module | None = None) -> None:
        self.net, self.w, self.perceptual, self.proxy = net, weights, perceptual, proxy
        if proxy is not None:
            proxy.requires_grad_(False).eval()

    def __call__(self, batch: dict) -> tuple[Tensor, dict]:
        net, w = self.net, self.w
        out, aux = net(batch["a"], batch["b"], batch["alpha"], return_aux=True)
        parts, total = _reconstruction_terms(out, batch["y"], w, self.perceptual)
        if w.appearance > 0:
            phi = net.phi(aux["appearance"])
            ta, tb = F.avg_pool2d(batch["a_clean"], 2), F.avg_pool2d(batch["b_clean"], 2)
            parts["appearance"] = (phi - tb).abs().mean() + (phi - ta).abs().mean()
            total = total + w.appearance * parts["appearance"]
        if w.proxy > 0 and self.proxy is not None:
            with torch.no_grad():
                target = self.proxy.scaled_motion(batch["a_clean"], batch["b_clean"], batch["alpha"])
            parts["proxy"] = (target - aux["scaled_motion"]).abs().mean()
            total = total + w.proxy * parts["proxy"]
        return total, {k: float(v.detach()) for k, v in parts.items()} | {"total": float(total.detach())}

    def describe(self) -> dict:
        d = {"objective": "lwmm", "weights": {k: getattr(self.w, k) for k in ("l1", "perceptual", "edge", "appearance", "proxy")},
             "proxy": self.proxy is not None}
        if self.perceptual is not None:
            d["perceptual"] = self.perceptual.describe()
        return d


class ThesisObjective:
    """``10·L1 + 0.1·L_p + L_edge + Σ_k w_k · net.extra_losses(...)[k]`` (see the module notes).

    ``proxy`` (frozen, noise-free) and ``previous`` (the network's own snapshot from the end of the last
    epoch; set by the training loop) are handed to ``extra_losses``; a term whose weight is 0 is skipped.
    """

    def __init__(self, net: ThesisNet, weights: LossWeights, perceptual: PerceptualLoss | None = None,
                 proxy: nn.Module | None = None) -> None:
        self.net, self.w, self.perceptual, self.proxy = net, weights, perceptual, proxy
        self.previous: nn.Module | None = None
        if proxy is not None:
            proxy.requires_grad_(False).eval()

    def __call__(self, batch: dict) -> tuple[Tensor, dict]:
        net, w = self.net, self.w
        out, aux = net(batch["a"], batch["b"], batch["alpha"], return_aux=True)
        parts, total = _reconstruction_terms(out, batch["y"], w, self.perceptual)
        for k, v in net.extra_losses(batch, out, aux, proxy=self.proxy, previous=self.previous).items():
            weight = getattr(w, k, None)
            if weight is None:
                raise InputError(f"{type(net).__name__}: loss term {k!r} has no weight in LossWeights")
            if weight > 0:
                parts[k] = v
                total = total + weight * v
        return total, {k: float(v.detach()) for k, v in parts.items()} | {"total": float(total.detach())}

    def describe(self) -> dict:
        d = {"objective": "thesis", "weights": {k: getattr(self.w, k) for k in ("l1", "perceptual", "edge")},
             "extra": {k: getattr(self.w, k) for k in ("phase", "amplitude", "contrastive")},
             "proxy": self.proxy is not None}
        if self.perceptual is not None:
            d["perceptual"] = self.perceptual.describe()
        return d


def make_objective(net: nn.Module, weights: LossWeights, perceptual: PerceptualLoss | None = None,
                   proxy: nn.Module | None = None):
    """The objective that belongs to ``net``'s class (:class:`OhObjective`, :class:`LWMMObjective` or
    :class:`ThesisObjective`)."""
    if isinstance(net, OhNet):
        return OhObjective(net, weights)
    if isinstance(net, LWMMNet):
        return LWMMObjective(net, weights, perceptual, proxy)
    if isinstance(net, ThesisNet):
        return ThesisObjective(net, weights, perceptual, proxy)
    raise InputError(f"no objective for network class {type(net).__name__}")
