"""Factor response of a two-frame magnifier: does its output motion follow ``alpha · d``?

The probe the model cards report, and the check that caught a network which ignored its factor.
A held-out photograph (:data:`.data.BENCH_IMAGES`, never seen in training) is shifted horizontally by
``d`` pixels — rendered at ``supersample``× resolution, moved by whole high-resolution pixels and
area-downsampled, so the shift is exact to ``1/supersample`` px — and the pair ``(reference,
shifted)`` goes through the network at each factor ``alpha``.  The output's displacement from the
reference is measured by ECC image alignment (OpenCV ``findTransformECC``, pure translation, on the
grey image without a border of ``border`` px); the ideal is ``alpha · d`` (Oh et al.'s definition).

``gain`` = measured / ideal: 1 is a perfect magnifier, ``1/alpha`` a network that copies the
current frame.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from physio.errors import InputError
from physio.magnify.learned.data import BENCH_IMAGES, _skimage_image

__all__ = ["shifted_pair", "measure_shift", "factor_response"]


def shifted_pair(image: np.ndarray, shift_px: float, size: int = 128, supersample: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Central ``size × size`` crop of ``image`` (float ``(H, W, 3)`` in [0, 1]) and the same crop
    moved right by ``shift_px`` (rounded to ``1/supersample`` px); both float32 in [0, 1]."""
    S = int(supersample)
    hi = cv2.resize(image, None, fx=S, fy=S, interpolation=cv2.INTER_CUBIC)
    o = int(round(shift_px * S))
    cy, cx = hi.shape[0] // 2, hi.shape[1] // 2
    half = size * S // 2
    if cy < half or cx < half + abs(o):
        raise InputError(f"image {image.shape[:2]} too small for a {size}-px crop moved by {shift_px} px")

    def crop(offset: int) -> np.ndarray:
        c = hi[cy - half: cy + half, cx - half - offset: cx + half - offset]
        return np.clip(cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA), 0, 1).astype(np.float32)

    return crop(0), crop(o)


def measure_shift(reference: np.ndarray, moved: np.ndarray, border: int = 8) -> float:
    """Horizontal displacement (px, positive = right) of ``moved`` relative to ``reference``
    (float ``(H, W, 3)`` in [0, 1]) by ECC translation alignment; NaN when ECC does not converge."""
    def grey(x: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(np.clip(x, 0, 1).astype(np.float32), cv2.COLOR_RGB2GRAY)
        return g[border:-border, border:-border] if border else g

    warp = np.eye(2, 3, dtype=np.float32)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    try:
        _, warp = cv2.findTransformECC(grey(reference), grey(moved), warp, cv2.MOTION_TRANSLATION, crit, None, 5)
    except cv2.error:
        return float("nan")
    return float(warp[0, 2])


def _to_pm1(frames: list[np.ndarray], device) -> torch.Tensor:
    """``(H, W, 3)`` images in [0, 1] → one ``(N, 3, H, W)`` batch in [−1, 1]."""
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).to(device) * 2 - 1


@torch.no_grad()
def factor_response(net: torch.nn.Module, factors=(1.0, 3.0, 10.0, 30.0), shifts_px=(0.25, 0.5, 1.0),
                    images: tuple[str, ...] = BENCH_IMAGES[:3], size: int = 128) -> dict:
    """Output displacement of ``net(ref, cur, alpha)`` for every ``(shift, factor)``, mean over images.

    Returns ``{"rows": [{"shift_px", "factor", "ideal_px", "measured_px", "gain"}, ...],
    "mean_gain": float, "images": [...], "size_px": size}``; ``mean_gain`` averages ``gain`` over the
    rows with ``factor > 1``.
    """
    if not factors or not shifts_px:
        raise InputError("factor_response needs at least one factor and one shift")
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    pics = [_skimage_image(n) for n in images]
    rows = []
    for d in shifts_px:
        refs, curs = zip(*(shifted_pair(p, d, size) for p in pics))
        ref_b, cur_b = _to_pm1(refs, device), _to_pm1(curs, device)
        for a in factors:  # all images in one forward pass per (shift, factor)
            out = (net(ref_b, cur_b, torch.full((len(refs),), float(a), device=device)) + 1) / 2
            out = out.permute(0, 2, 3, 1).cpu().numpy()
            moved = [measure_shift(ref, o) for ref, o in zip(refs, out)]
            m = float(np.nanmean(moved)) if np.isfinite(moved).any() else float("nan")
            ideal = float(a) * float(d)
            rows.append({"shift_px": float(d), "factor": float(a), "ideal_px": round(ideal, 4),
                         "measured_px": round(m, 4), "gain": round(m / ideal, 4)})
    net.train(was_training)
    gains = [r["gain"] for r in rows if r["factor"] > 1 and np.isfinite(r["gain"])]
    return {"rows": rows, "mean_gain": round(float(np.mean(gains)), 4) if gains else float("nan"),
            "images": list(images), "size_px": size}
