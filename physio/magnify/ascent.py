"""Gradient ascent in a network's input space: DeepMag Algorithm 1, eq. 1–4.

For every time point ``t`` (one sample of a batch), starting from ``X_1(t)``::

    G_n = ∇_X ‖y(X_n | θ)‖₂              gradient of the output's L2 norm, weights frozen
    G_n ← G_n / ‖G_n‖₁                    L1 normalisation, per time point        (eq. 2)
    G_n ← G_n ⊙ sgn(G_n ⊙ X_n)            sign correction                          (eq. 3)
    X_{n+1} = X_n + γ G_n,   n = 1 … N−1                                            (eq. 4)

All time points of a chunk are processed at once (per-sample norms, no Python loop over frames).  The
network runs in ``eval()`` mode (no dropout/batch-norm updates) and its weights never change; the
caller's ``requires_grad`` flags are restored afterwards.

**The L1 norm's scale.**  Read literally, ‖G‖₁ sums ``|G|`` over the ``D`` elements of a sample
(D = 36·36·3 = 3888 for PulseNet), so each step moves the sample by a total L1 distance of γ, i.e.
γ / D per element: with the paper's γ = 6·10⁻⁵ and N = 20 an element changes by ~3·10⁻⁷, three orders of
magnitude below the pulse's own normalised frame difference (~10⁻⁴), and nothing would be magnified —
yet the paper reports EVM-like magnification with exactly these values.  They are consistent with the
norm taken as the *mean* absolute value (‖G‖₁ / D): each step then moves an element by γ on average, so
19 steps of 6·10⁻⁵ change X by ~10⁻³ (×10 the pulse's X), and 19 steps of 3.6·10⁻³ rad change the
respiration phase differences by ~0.07 rad.  ``l1="mean"`` (default) is that reading; ``l1="sum"`` is the
literal sum.  The two differ only by the constant factor D in γ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from physio.errors import DivergenceError, InputError

__all__ = ["AscentResult", "gradient_ascent", "sample_l1_norms", "ascent_l1_norms"]


@dataclass
class AscentResult:
    """Output of :func:`gradient_ascent`.

    Attributes
    ----------
    x : Tensor
        ``X_N``, same shape as the input.
    objective : list of Tensor
        ``|y(X_n)|`` per sample, for n = 1 … N (``record=True``), each ``(B,)`` — the learning curve
        of the paper's Fig. 9.
    grad_l1 : list of Tensor
        ``‖∇‖y‖₂‖₁`` per sample before normalisation, n = 1 … N−1 (``record=True``) — Fig. 10.
    """

    x: torch.Tensor
    objective: list = field(default_factory=list)
    grad_l1: list = field(default_factory=list)


PRECISIONS = ("fp32", "bf16")
"""Arithmetic of the ascent's network passes (:func:`gradient_ascent`'s ``precision``)."""


def gradient_ascent(
    net: nn.Module,
    x1: torch.Tensor,
    gamma: float,
    iterations: int = 20,
    *,
    l1_normalize: bool = True,
    sign_correct: bool | str = True,
    l1: str = "mean",
    input_scale: float | torch.Tensor = 1.0,
    sign_reference: torch.Tensor | None = None,
    record: bool = False,
    precision: str = "fp32",
) -> AscentResult:
    """Magnify the network's source in ``x1`` by gradient ascent (Algorithm 1).

    Parameters
    ----------
    net : nn.Module
        Trained network mapping ``(B, C, H, W)`` to ``(B,)`` (the source's derivative).
    x1 : Tensor, shape (B, C, H, W)
        ``X_1``: one motion-representation sample per time point.
    gamma : float
        Step size γ; negative values attenuate the source instead.
    iterations : int
        N: the result is ``X_N`` after N − 1 steps (Algorithm 1's loop ``n = 1 … N−1``).
    l1_normalize, sign_correct : bool
        Switches for the paper's §5.4 ablations (eq. 1 is both off).  ``sign_correct="sample"`` is a
        variant that is *not* the paper's eq. 3: one sign per time point, ``G ← G·sgn(⟨G, X⟩)``, which
        keeps the gradient's spatial pattern and only forbids a step that anti-correlates with ``X``
        as a whole (see ``docs/deepmag.md``).
    l1 : {"mean", "sum"}
        How ‖G‖₁ is scaled (see the module docstring).
    input_scale : float or Tensor
        The network sees ``X / input_scale`` (per-session standardisation); steps are taken in the
        units of ``X`` itself, so γ is comparable across sessions.
    sign_reference : Tensor, optional
        Not the paper's: with ``sign_correct=True``, take the sign of eq. 3 from ``G ⊙ R`` instead of
        ``G ⊙ X_n`` (``R`` broadcastable to ``x1``; e.g. a band-passed or pooled ``X_1``), so the step is
        ``|G| ⊙ sgn(R)``: each element is pushed along the reference's direction, not its own noise's.
    record : bool
        Keep the objective and gradient norms per iteration.
    precision : {"fp32", "bf16"}
        Arithmetic of the network's forward pass and input gradient.  ``"bf16"`` runs them under
        ``torch.autocast`` in bfloat16 (the iterate, the normalisation and the steps stay float32): on
        CPUs with AMX/AVX-512 BF16 3.7× faster for PulseNet (measured, docs/performance.md), the change
        within r 0.9996 of float32's.  Not the paper's; float32 is the default.

    Raises
    ------
    DivergenceError
        NaN/inf in the objective, gradient or iterate.
    """
    if x1.ndim < 2:
        raise InputError(f"x1 must be (B, ...), got shape {tuple(x1.shape)}")
    if iterations < 1:
        raise InputError(f"iterations must be ≥ 1, got {iterations}")
    if sign_correct not in (True, False, "sample"):
        raise InputError(f"sign_correct must be True, False or 'sample', got {sign_correct!r}")
    if l1 not in ("mean", "sum"):
        raise InputError(f"l1 must be 'mean' or 'sum', got {l1!r}")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    ref_sign = None
    if sign_reference is not None:
        if sign_correct is not True:
            raise InputError("sign_reference needs sign_correct=True (element-wise sign correction)")
        ref_sign = torch.sign(sign_reference.detach().to(x1.device, x1.dtype)).expand_as(x1)
    was_training = net.training
    flags = [p.requires_grad for p in net.parameters()]
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    # channels-last (NHWC) convolutions: 1.6x faster forward + input gradient for PulseNet on 2 CPU
    # cores (docs/performance.md); the values are the same to float rounding
    layout = torch.channels_last if x1.ndim == 4 else None
    if layout is not None:
        net.to(memory_format=layout)
        if ref_sign is not None:
            ref_sign = ref_sign.contiguous(memory_format=layout)
    dims = tuple(range(1, x1.ndim))
    denom_scale = float(torch.tensor(x1.shape[1:]).prod()) if l1 == "mean" else 1.0
    result = AscentResult(x=x1)
    x = x1.detach().clone() if layout is None else x1.detach().contiguous(memory_format=layout).clone()
    try:
        with torch.enable_grad():
            for n in range(iterations):
                xr = x.detach().requires_grad_(True)
                with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                    y = net(xr / input_scale)
                obj = y.float().abs()  # ‖y(t)‖₂ of a scalar output, per time point
                if not torch.isfinite(obj).all():
                    raise DivergenceError(f"gradient ascent: non-finite network output at iteration {n + 1}")
                if record:
                    result.objective.append(obj.detach().cpu())
                if n == iterations - 1:
                    break
                (g,) = torch.autograd.grad(obj.sum(), xr)  # per-sample gradients (samples independent)
                g = g.float()
                if record:
                    result.grad_l1.append(g.abs().sum(dim=dims).detach().cpu())
                if l1_normalize:
                    norm = g.abs().sum(dim=dims, keepdim=True) / denom_scale
                    g = g / norm.clamp_min(torch.finfo(g.dtype).tiny)
                if sign_correct == "sample":
                    g = g * torch.sign((g * x).sum(dim=dims, keepdim=True))
                elif ref_sign is not None:
                    g = g.abs() * ref_sign  # = G ⊙ sgn(G ⊙ R)
                elif sign_correct:
                    g = g * torch.sign(g * x)
                x = x + gamma * g
                if not torch.isfinite(x).all():
                    raise DivergenceError(f"gradient ascent: non-finite iterate at iteration {n + 1}")
    finally:
        if layout is not None:
            net.to(memory_format=torch.contiguous_format)
        for p, f in zip(net.parameters(), flags):
            p.requires_grad_(f)
        net.train(was_training)
    result.x = x.detach().contiguous()
    return result


# -- L1 norms (Fig. 10) ---------------------------------------------------------------------------


def sample_l1_norms(x) -> np.ndarray:
    """``Σ|x|`` over every axis but the first: ``(T, ...)`` → ``(T,)`` float64 (one norm per time point)."""
    arr = x.detach().cpu().numpy().astype(np.float64) if hasattr(x, "detach") else np.asarray(x, np.float64)
    if arr.ndim < 2:
        raise InputError(f"x must be (T, ...) with at least one element axis, got shape {arr.shape}")
    return np.abs(arr).reshape(len(arr), -1).sum(axis=1)


def ascent_l1_norms(net, x1, input_scale: float = 1.0, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """L1 norms of ``X₁`` and of the un-normalised gradient ``∇_X‖y(X₁ | θ)‖₂``, per time point.

    Parameters
    ----------
    net : nn.Module
        Trained network ``(B, C, H, W) → (B,)``.
    x1 : Tensor, shape (T, C, H, W)
        Motion representation, one sample per time point.
    input_scale : float
        As in :func:`physio.magnify.ascent.gradient_ascent` (the network sees ``X / input_scale``).
    batch : int
        Samples per forward/backward pass.

    Returns
    -------
    (ndarray (T,), ndarray (T,))
        ``‖X₁‖₁`` and ``‖∇‖y(X₁)‖₂‖₁`` — the two series of the paper's Fig. 10 (§5.4): without L1
        normalisation the step size follows the second, which is not proportional to the first.
    """
    if not isinstance(x1, torch.Tensor) or x1.ndim < 2:
        raise InputError("x1 must be a Tensor (T, ...)")
    grads = []
    for s in range(0, len(x1), int(batch)):
        res = gradient_ascent(net, x1[s : s + batch], gamma=0.0, iterations=2, input_scale=input_scale, record=True)
        grads.append(res.grad_l1[0].double().numpy())
    return sample_l1_norms(x1), np.concatenate(grads)
