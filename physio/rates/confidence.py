"""When not to trust a rate: per-frame validity, a torso region that must be plausible, and a confidence.

`physio rates` reports a number for every video it can read; this module says how much that number is
worth, from what the measurement itself shows (no ground truth):

* **validity** — a frame is usable when the face is found in it and (for the rPPG methods) its skin
  mean is finite and not dark (every channel ≥ :data:`DARK_LEVEL` grey levels).  Unusable frames are
  bridged (:func:`bridge`), never a refusal of the whole video; ``valid_fraction`` is reported.
* **torso plausibility** — the breathing region must be a real region under the face
  (:func:`torso_problem`), otherwise it is reported as not found (``br_bpm: null`` and a reason).
* **confidence** (:func:`confidence`) — a score in [0, 1] per estimate: the *lowest* of its component
  scores, each a linear ramp between a "not usable" and a "fine" value (:data:`RAMPS`):

  ============== ======================================================= ========= =======
  component      measure                                                 score 0   score 1
  ============== ======================================================= ========= =======
  ``snr``        SNR of the waveform at its own peak (dB, ±6 bpm window)  −3 dB     3 dB
  ``agreement``  largest distance of an estimator from their median       12 bpm    3 bpm
  ``detector``   mean face-detector confidence                            0.5       0.85
  ``region``     face (pulse) or torso (breath) box height, pixels        24 px     64 px
  ``valid``      fraction of usable frames                                0.5       0.9
  ============== ======================================================= ========= =======

  ``level`` is ``high`` (≥ 0.7), ``medium`` (≥ 0.4) or ``low``; the components below 0.7 are listed
  as ``reasons``.  The ramps were set on the shared real clips (``docs/rates.md`` lists the values
  measured on each), not tuned to a reference.
"""

from __future__ import annotations

import math

import numpy as np

from physio.errors import InputError

__all__ = ["DARK_LEVEL", "RAMPS", "usable_means", "bridge", "torso_problem", "confidence", "spread"]

DARK_LEVEL = 1.0
"""A skin mean below this in any channel (grey levels, 0–255) is not usable (dark or clipped frame)."""

RAMPS: dict[str, tuple[float, float]] = {
    "snr": (-3.0, 3.0),
    "agreement": (12.0, 3.0),
    "detector": (0.5, 0.85),
    "region": (24.0, 64.0),
    "valid": (0.5, 0.9),
}
"""Per component: (value scoring 0, value scoring 1); a linear ramp between, clipped."""

LEVELS = ((0.7, "high"), (0.4, "medium"), (0.0, "low"))

MIN_TORSO_PX = 16
"""A torso box narrower or lower than this cannot carry a breathing measurement."""

MIN_TORSO_FACE_HEIGHTS = 0.4
"""A torso box lower than this many face heights is a strip at the frame's edge, not a chest."""


def usable_means(rgb: np.ndarray) -> np.ndarray:
    """``(T,)`` bool: frames whose skin mean is finite and ≥ :data:`DARK_LEVEL` in every channel."""
    rgb = np.asarray(rgb, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(rgb).all(axis=1) & (rgb >= DARK_LEVEL).all(axis=1)


def bridge(values: np.ndarray, valid: np.ndarray, what: str) -> np.ndarray:
    """``values`` (T, …) with the rows where ``valid`` is False linearly interpolated between the usable
    rows around them (held before the first and after the last); :class:`InputError` when no row is."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if not valid.any():
        raise InputError(f"{what}: no usable skin in any frame (face not found, or frames dark)")
    if valid.all():
        return values
    t = np.arange(len(values))
    flat = values.reshape(len(values), -1)
    out = np.empty_like(flat)
    for k in range(flat.shape[1]):
        out[:, k] = np.interp(t, t[valid], flat[valid, k])
    return out.reshape(values.shape)


def torso_problem(torso_box, face_box) -> str | None:
    """Why a torso box is not a plausible breathing region (None if it is): too small, cut to a strip by
    the frame's edge (lower than 0.4 face heights), or not below the face's centre."""
    if torso_box is None:
        return "no torso region found"
    x0, y0, x1, y1 = (int(v) for v in torso_box)
    w, h = x1 - x0, y1 - y0
    if w < MIN_TORSO_PX or h < MIN_TORSO_PX:
        return f"torso region too small ({w}×{h} px; needs ≥ {MIN_TORSO_PX} px each way)"
    if face_box is not None:
        fx0, fy0, fx1, fy1 = (int(v) for v in face_box)
        fh = fy1 - fy0
        if h < MIN_TORSO_FACE_HEIGHTS * fh:
            return (f"torso region cut off by the frame ({w}×{h} px under a {fx1 - fx0}×{fh} px face: "
                    f"lower than {MIN_TORSO_FACE_HEIGHTS:g} face heights)")
        if y0 < (fy0 + fy1) / 2:
            return "torso region is not below the face"
    return None


def spread(estimates: dict[str, float]) -> float:
    """Largest distance (per minute) of a finite estimate from the median of all of them (NaN if < 2)."""
    v = np.array([x for x in estimates.values() if x is not None and math.isfinite(x)], float)
    return float(np.max(np.abs(v - np.median(v)))) if v.size >= 2 else float("nan")


def _ramp(value: float, lo: float, hi: float) -> float:
    return float(np.clip((value - lo) / (hi - lo), 0.0, 1.0))


def confidence(**measures: float | None) -> dict:
    """The confidence of one estimate from its measures (keys of :data:`RAMPS`; None/NaN: not measured,
    left out).  Returns ``{"score", "level", "reasons", "measures"}``."""
    scores, shown = {}, {}
    for key, value in measures.items():
        if key not in RAMPS:
            raise InputError(f"unknown confidence measure {key!r}; valid: {', '.join(RAMPS)}")
        if value is None or not math.isfinite(float(value)):
            continue
        shown[key] = round(float(value), 3)
        scores[key] = _ramp(float(value), *RAMPS[key])
    score = min(scores.values()) if scores else 0.0
    level = next(name for floor, name in LEVELS if score >= floor)
    reasons = [_reason(k, shown[k]) for k, s in sorted(scores.items(), key=lambda kv: kv[1]) if s < 0.7]
    return {"score": round(score, 3), "level": level, "reasons": reasons, "measures": shown}


def _reason(key: str, value: float) -> str:
    return {
        "snr": f"weak spectral peak (SNR {value:.1f} dB)",
        "agreement": f"estimators disagree by up to {value:.1f} bpm",
        "detector": f"face detector unsure (confidence {value:.2f})",
        "region": f"small region ({value:.0f} px high)",
        "valid": f"only {100 * value:.0f} % of frames usable",
    }[key]
