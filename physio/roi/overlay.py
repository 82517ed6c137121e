"""Overlay drawing: what the pipeline looks at, on the frame itself (``physio roi``; ``physio live``'s window)."""

from __future__ import annotations

import cv2
import numpy as np

from physio.roi.tracking import RoiFrame

__all__ = ["roi_overlay", "live_overlay", "live_faces_overlay", "STATUS_COLOURS"]

STATUS_COLOURS: dict[str, tuple[int, int, int]] = {
    "detected": (40, 220, 40),
    "tracked": (150, 230, 60),
    "interpolated": (240, 220, 40),
    "held": (255, 140, 0),
    "derived": (80, 170, 255),
    "full": (200, 200, 200),
    "missing": (255, 40, 40),
}
"""RGB colour of a box per status."""

MASK_TINT = (0, 255, 120)


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float) -> None:
    thick = max(1, int(round(scale * 2)))
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


def roi_overlay(frame: np.ndarray, roi: RoiFrame, mask: np.ndarray | None = None, tint: float = 0.35) -> np.ndarray:
    """Draw a frame's regions on a copy of it.

    Parameters
    ----------
    frame : ndarray (H, W, 3) uint8 RGB
    roi : RoiFrame
        The frame's regions (e.g. ``track.frame(i)``).
    mask : ndarray (H, W) bool, optional
        Skin mask to tint (default: ``roi.face_mask()``).
    tint : float
        Opacity of the mask tint.

    Returns
    -------
    ndarray (H, W, 3) uint8 RGB
        The skin mask tinted green, the face box and torso box coloured by status
        (:data:`STATUS_COLOURS`), and a status line at the top.
    """
    out = np.array(frame, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    if mask is None:
        mask = roi.face_mask() if roi.face_status != "full" else np.zeros((h, w), bool)
    if mask.any():
        sel = out[mask].astype(np.float32)
        out[mask] = np.clip((1 - tint) * sel + tint * np.array(MASK_TINT, np.float32), 0, 255).astype(np.uint8)
    thick = max(1, int(round(min(h, w) / 240)))
    for box, status in ((roi.torso_box, roi.torso_status), (roi.face_box, roi.face_status)):
        if box is not None:
            x0, y0, x1, y1 = box
            cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), STATUS_COLOURS.get(status, (255, 255, 255)), thick)
    scale = max(0.35, min(h, w) / 900)
    line_h = int(30 * scale) + 4
    face = f"face {roi.face_status}"
    if roi.face_detector:
        face += f" {roi.face_detector} {roi.face_confidence:.2f}"
    torso = f"torso {roi.torso_status}"
    if roi.torso_detector:
        torso += f" {roi.torso_detector} {roi.torso_confidence:.2f}"
    _text(out, f"#{roi.index} {roi.time_s:.2f}s  {face}", (4, line_h), scale)
    _text(out, torso, (4, 2 * line_h), scale)
    return out


def _waveform(out: np.ndarray, wave: np.ndarray | None, scale: float) -> None:
    """A pulse waveform drawn along the bottom sixth of ``out`` (in place)."""
    if wave is None or len(wave) < 2:
        return
    h, w = out.shape[:2]
    band = max(20, h // 6)
    x = np.linspace(0, w - 1, len(wave))
    span = float(np.ptp(wave)) or 1.0
    y = h - 4 - (np.asarray(wave) - np.min(wave)) / span * (band - 8)
    pts = np.stack([x, y], axis=1).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(out, [pts], False, (255, 60, 60), max(1, int(round(scale * 2))), cv2.LINE_AA)


def live_overlay(frame: np.ndarray, roi: RoiFrame, estimate: dict | None, wave: np.ndarray | None) -> np.ndarray:
    """``physio live``'s window: the regions (:func:`roi_overlay`), the latest HR/BR with their quality (or
    "no face"), and the last pulse window's waveform along the bottom.  RGB in, RGB out."""
    out = roi_overlay(frame, roi)
    h, w = out.shape[:2]
    scale = max(0.45, min(h, w) / 700)
    line_h = int(30 * scale) + 6
    if estimate is None:
        lines = ["measuring…" if roi.face_box is not None else "no face"]
    elif estimate["hr_bpm"] is None:
        lines = [estimate.get("status", "no face")]
    else:
        q = estimate["quality"]
        lines = [f"HR {estimate['hr_bpm']:.0f} bpm ({q['hr_db']:+.1f} dB)"]
        if estimate["br_bpm"] is not None:
            lines.append(f"BR {estimate['br_bpm']:.0f} breaths/min ({q['br_db']:+.1f} dB)")
        else:
            lines.append(f"BR: {estimate.get('br_status', 'n/a')}")
    for k, text in enumerate(lines):
        _text(out, text, (4, 3 * (int(30 * max(0.35, min(h, w) / 900)) + 4) + (k + 1) * line_h), scale)
    _waveform(out, wave, scale)
    return out


def live_faces_overlay(frame: np.ndarray, line: dict | None, wave: np.ndarray | None) -> np.ndarray:
    """``physio live``'s window with several faces: each face's box with its id and numbers, the
    largest face's pulse waveform along the bottom.  ``line``: :class:`~physio.rates.live.LiveFaces`'s
    latest output (None before the first)."""
    out = np.array(frame, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    scale = max(0.45, min(h, w) / 700)
    thick = max(1, int(round(min(h, w) / 240)))
    if line is None:
        _text(out, "measuring…", (4, int(30 * scale) + 6), scale)
        return out
    for face in line["faces"]:
        text = f"#{face['id']} " + ("no face" if face["hr_bpm"] is None else f"HR {face['hr_bpm']:.0f} bpm")
        if face.get("br_bpm") is not None:
            text += f"  BR {face['br_bpm']:.0f}"
        box = face.get("face_box")
        if box is not None:
            x0, y0, x1, y1 = box
            cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), STATUS_COLOURS["detected"], thick)
            _text(out, text, (x0, max(int(30 * scale), y0 - 6)), scale)
        elif face.get("region") is not None:
            _text(out, text, (face["region"][0] + 4, int(30 * scale) + 6), scale)
    _waveform(out, wave, scale)
    return out
