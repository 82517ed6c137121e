"""Skin masks from stored landmarks or boxes (cheap to recompute for any frame).

A face region is stored per frame as a box and a small array of points (see :mod:`physio.roi.detectors`);
the boolean skin mask is drawn from them on demand, so no full-frame mask is ever kept per frame.

* **FaceMesh** (``"mesh"``): the face-oval polygon (shrunk by ``margin`` towards its centroid, to keep
  hair, ears and background off its edge; its part above the brows squeezed by ``forehead_trim``
  towards the brow line, away from the hairline) minus, per side, the convex hull of the eye loop's
  bounding box (grown by 30 %) and the eyebrow, grown by 5 % (eyes, lids, lashes, brows), the outer-lip polygon (grown by 15 %) and the lower-nose polygon
  (nose tip, alae and nostrils, grown by 10 %).  The index loops are :data:`MESH_LOOPS`, ordered from
  MediaPipe's ``FACEMESH_FACE_OVAL``, ``FACEMESH_{LEFT,RIGHT}_EYE``, ``FACEMESH_{LEFT,RIGHT}_EYEBROW``
  and the outer loop of ``FACEMESH_LIPS``; the nose loop is ours (see :data:`MESH_NOSE_LOWER`).
* **Box detectors** (``"detection"``, ``"haar"``): an ellipse inscribed in the face box (shrunk by
  ``margin``) minus an eye band (brows to lower lids, full width), a mouth ellipse and a lower-nose
  ellipse.  With FaceDetection's keypoints the band and ellipses are centred on the detected eyes,
  nose tip and mouth; for Haar they sit at fixed fractions of the box, measured on FaceMesh landmarks of
  frontal faces (``skimage.data.astronaut()`` and ``evm_mit/face.mp4``, see ``docs/roi.md``).
* Optional **skin-colour gating** (:func:`skin_gate`) in YCrCb: ``"adaptive"`` keeps pixels whose
  (Cr, Cb) lie within 3 robust standard deviations of the mask's own median (works for any skin tone),
  ``"fixed"`` keeps the classic Chai & Ngan box Cr ∈ [133, 173], Cb ∈ [77, 127] (known to fail on some
  skin tones and lighting; offered for comparison).

References
----------
Chai, D., Ngan, K. N. (1999). Face segmentation using skin-color map in videophone applications.
IEEE Trans. Circuits Syst. Video Technol. 9(4), 551-564.
"""

from __future__ import annotations

import cv2
import numpy as np

from physio.errors import InputError

__all__ = [
    "MESH_LOOPS",
    "MESH_POINT_INDICES",
    "MESH_SLICES",
    "MESH_NOSE_LOWER",
    "SKIN_GATES",
    "mesh_skin_mask",
    "box_skin_mask",
    "box_mask",
    "skin_gate",
    "skin_mask",
]

# Ordered polygon loops of MediaPipe FaceMesh (468-landmark topology).  "LEFT"/"RIGHT" are the
# subject's sides, as in MediaPipe (the subject's right eye is on the image's left).
MESH_FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
                  377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
MESH_RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
MESH_LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
# Eyebrows are two open polylines in MediaPipe (lower and upper edge); lower + upper closes the loop.
MESH_RIGHT_EYEBROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
MESH_LEFT_EYEBROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
MESH_LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
MESH_NOSE_LOWER = (98, 64, 48, 115, 220, 45, 4, 275, 440, 344, 278, 294, 327, 326, 2, 97)
"""Lower nose: from the right ala (98, 64, 48) over the tip (45, 4, 275) to the left ala
(344, 278, 294, 327) and back along the nostril sill and subnasale (326, 2, 97); chosen on a labelled
landmark plot of ``evm_mit/face.mp4`` (symmetric pairs 98/327, 64/294, 48/278, 115/344, 220/440,
45/275, 97/326)."""

MESH_LOOPS: dict[str, tuple[int, ...]] = {
    "face_oval": MESH_FACE_OVAL,
    "right_eye": MESH_RIGHT_EYE,
    "left_eye": MESH_LEFT_EYE,
    "right_eyebrow": MESH_RIGHT_EYEBROW,
    "left_eyebrow": MESH_LEFT_EYEBROW,
    "lips": MESH_LIPS_OUTER,
    "nose_lower": MESH_NOSE_LOWER,
}
"""The polygon loops (FaceMesh landmark indices, in drawing order) a mesh skin mask is built from."""

MESH_POINT_INDICES: np.ndarray = np.concatenate([np.array(v, dtype=np.int32) for v in MESH_LOOPS.values()])
"""Which of FaceMesh's 468 landmarks are stored per frame (124 points, loops concatenated)."""

MESH_SLICES: dict[str, slice] = {}
_start = 0
for _name, _loop in MESH_LOOPS.items():
    MESH_SLICES[_name] = slice(_start, _start + len(_loop))
    _start += len(_loop)
del _start, _name, _loop

# Box template, as fractions of the face box (which follows the face-oval convention: x from cheek to
# cheek, y from the upper forehead to the chin), measured from FaceMesh landmarks on frontal faces.
_BAND_ABOVE_EYES = 0.17   # eye band reaches this far (× box height) above the eye centres (brows)
_BAND_BELOW_EYES = 0.08   # … and this far below (lower lids)
_EYE_Y = 0.30             # eye-centre height when there are no keypoints (Haar)
_MOUTH = (0.49, 0.72, 0.27, 0.10)   # centre x, centre y, semi-axis x, semi-axis y
_NOSE = (0.48, 0.545, 0.17, 0.07)
_NOSE_BELOW_TIP = 0.04    # the lower-nose ellipse centre lies this far below the nose-tip keypoint

SKIN_GATES = ("none", "adaptive", "fixed")


def _check_shape(shape) -> tuple[int, int]:
    if len(shape) < 2 or int(shape[0]) < 1 or int(shape[1]) < 1:
        raise InputError(f"mask shape must be (height, width, ...) with positive sizes, got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


def _scaled(poly: np.ndarray, factor: float) -> np.ndarray:
    """Scale a polygon ``(K, 2)`` about its vertex centroid."""
    c = poly.mean(axis=0, keepdims=True)
    return c + (poly - c) * factor


_SUB = 4  # fixed-point sub-pixel bits for cv2 drawing


def _fill(mask: np.ndarray, polys: list[np.ndarray], value: int) -> None:
    pts = [np.round(p * (1 << _SUB)).astype(np.int32).reshape(-1, 1, 2) for p in polys if len(p) >= 3]
    if pts:
        cv2.fillPoly(mask, pts, value, lineType=cv2.LINE_8, shift=_SUB)


def mesh_skin_mask(points: np.ndarray, shape, margin: float = 0.05, forehead_trim: float = 0.15) -> np.ndarray:
    """Skin mask from stored FaceMesh points.

    Parameters
    ----------
    points : ndarray, shape (124, 2)
        Pixel coordinates ``(x, y)`` of :data:`MESH_POINT_INDICES`, as stored by the mesh detector.
    shape : (height, width, ...)
        Frame shape.
    margin : float
        The face oval is shrunk by this fraction towards its centroid (0 keeps it as detected).
    forehead_trim : float
        The part of the oval above the eyebrows is squeezed towards the brow line by this fraction (its
        top edge follows the hairline, where fringes and temple hair start).

    Returns
    -------
    ndarray of bool, shape (height, width)
    """
    h, w = _check_shape(shape)
    p = np.asarray(points, dtype=np.float64)
    if p.shape != (len(MESH_POINT_INDICES), 2):
        raise InputError(f"mesh points must have shape ({len(MESH_POINT_INDICES)}, 2), got {p.shape}")
    mask = np.zeros((h, w), np.uint8)
    oval = _scaled(p[MESH_SLICES["face_oval"]], 1.0 - margin)
    brow_y = float(np.concatenate([p[MESH_SLICES["right_eyebrow"]], p[MESH_SLICES["left_eyebrow"]]])[:, 1].min())
    above = oval[:, 1] < brow_y
    oval[above, 1] += forehead_trim * (brow_y - oval[above, 1])
    _fill(mask, [oval], 1)
    holes = []
    for side in ("right", "left"):
        eye = p[MESH_SLICES[f"{side}_eye"]]
        (ex0, ey0), (ex1, ey1) = eye.min(axis=0), eye.max(axis=0)
        eye_box = _scaled(np.array([[ex0, ey0], [ex1, ey0], [ex1, ey1], [ex0, ey1]]), 1.3)
        region = np.concatenate([eye_box, p[MESH_SLICES[f"{side}_eyebrow"]]])
        hull = cv2.convexHull(region.astype(np.float32)).reshape(-1, 2).astype(np.float64)
        holes.append(_scaled(hull, 1.05))
    holes.append(_scaled(p[MESH_SLICES["lips"]], 1.15))
    holes.append(_scaled(p[MESH_SLICES["nose_lower"]], 1.10))
    _fill(mask, holes, 0)
    return mask.astype(bool)


def _ellipse(mask: np.ndarray, cx: float, cy: float, ax: float, ay: float, value: int) -> None:
    if ax <= 0 or ay <= 0:
        return
    s = 1 << _SUB
    cv2.ellipse(mask, (int(round(cx * s)), int(round(cy * s))), (int(round(ax * s)), int(round(ay * s))),
                0, 0, 360, value, thickness=-1, lineType=cv2.LINE_8, shift=_SUB)


def box_skin_mask(box, shape, keypoints: np.ndarray | None = None, margin: float = 0.05) -> np.ndarray:
    """Skin mask from a face box (and FaceDetection keypoints when there are some).

    Parameters
    ----------
    box : (x0, y0, x1, y1)
        Face box in pixels (face-oval convention, see :mod:`physio.roi.detectors`).
    shape : (height, width, ...)
        Frame shape.
    keypoints : ndarray, shape (6, 2), optional
        FaceDetection keypoints (right eye, left eye, nose tip, mouth centre, right ear, left ear) in
        pixels; without them (Haar) the eye band, mouth and nose sit at fixed box fractions.
    margin : float
        The inscribed ellipse is shrunk by this fraction.

    Returns
    -------
    ndarray of bool, shape (height, width)
    """
    h, w = _check_shape(shape)
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = x1 - x0, y1 - y0
    mask = np.zeros((h, w), np.uint8)
    if bw <= 0 or bh <= 0:
        return mask.astype(bool)
    _ellipse(mask, (x0 + x1) / 2, (y0 + y1) / 2, bw / 2 * (1 - margin), bh / 2 * (1 - margin), 1)
    kp = None if keypoints is None or len(keypoints) < 4 else np.asarray(keypoints, dtype=np.float64)
    eye_y = y0 + _EYE_Y * bh if kp is None else float(kp[:2, 1].mean())
    band_top, band_bot = eye_y - _BAND_ABOVE_EYES * bh, eye_y + _BAND_BELOW_EYES * bh
    _fill(mask, [np.array([[x0 - 1, band_top], [x1 + 1, band_top], [x1 + 1, band_bot], [x0 - 1, band_bot]])], 0)
    mx, my, max_, may = _MOUTH
    nx, ny, nax, nay = _NOSE
    if kp is None:
        mcx, mcy = x0 + mx * bw, y0 + my * bh
        ncx, ncy = x0 + nx * bw, y0 + ny * bh
    else:
        mcx, mcy = kp[3]
        ncx, ncy = kp[2, 0], kp[2, 1] + _NOSE_BELOW_TIP * bh
    _ellipse(mask, mcx, mcy, max_ * bw, may * bh, 0)
    _ellipse(mask, ncx, ncy, nax * bw, nay * bh, 0)
    return mask.astype(bool)


def box_mask(box, shape) -> np.ndarray:
    """Boolean mask of a box ``(x0, y0, x1, y1)`` (x1, y1 exclusive), e.g. the torso region."""
    h, w = _check_shape(shape)
    mask = np.zeros((h, w), bool)
    if box is None:
        return mask
    x0, y0, x1, y1 = (int(v) for v in box)
    mask[max(0, y0):max(0, min(h, y1)), max(0, x0):max(0, min(w, x1))] = True
    return mask


def skin_gate(mask: np.ndarray, frame: np.ndarray, method: str = "adaptive", k: float = 3.0) -> np.ndarray:
    """Keep only skin-coloured pixels of ``mask`` in ``frame`` (RGB uint8), judged in YCrCb.

    ``"adaptive"`` keeps pixels with ``|Cr - median| ≤ k·σ`` and ``|Cb - median| ≤ k·σ`` where median
    and σ (1.4826 × MAD, at least 3 levels) come from the masked pixels themselves, so the reference is the
    person's own skin.  ``"fixed"`` keeps Cr ∈ [133, 173] and Cb ∈ [77, 127] (Chai & Ngan 1999).
    ``"none"`` returns the mask unchanged.  The gate only looks inside the mask's bounding box.
    """
    if method not in SKIN_GATES:
        raise InputError(f"unknown skin gate {method!r}; choose one of {', '.join(SKIN_GATES)}")
    mask = np.asarray(mask, bool)
    if method == "none" or not mask.any():
        return mask
    frame = np.asarray(frame)
    if frame.shape[:2] != mask.shape or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"skin gating needs the (H, W, 3) uint8 RGB frame of the mask's size {mask.shape}, "
                         f"got {frame.shape} {frame.dtype}")
    ys, xs = np.nonzero(mask)
    ya, yb, xa, xb = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sub = mask[ya:yb, xa:xb]
    ycc = cv2.cvtColor(np.ascontiguousarray(frame[ya:yb, xa:xb]), cv2.COLOR_RGB2YCrCb)
    cr, cb = ycc[..., 1].astype(np.float32), ycc[..., 2].astype(np.float32)
    if method == "fixed":
        keep = (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)
    else:
        keep = np.ones_like(sub)
        for ch in (cr, cb):
            vals = ch[sub]
            med = float(np.median(vals))
            sigma = max(3.0, 1.4826 * float(np.median(np.abs(vals - med))))
            keep &= np.abs(ch - med) <= k * sigma
    out = np.zeros_like(mask)
    out[ya:yb, xa:xb] = sub & keep
    return out


def skin_mask(detector: str, box, points: np.ndarray | None, shape, margin: float = 0.05) -> np.ndarray:
    """Dispatch on the detector that produced ``box``/``points`` (``"mesh"``, ``"detection"``, ``"haar"``,
    ``"full"``); returns a bool mask ``(H, W)``."""
    h, w = _check_shape(shape)
    if detector == "full":
        return np.ones((h, w), bool)
    if box is None:
        return np.zeros((h, w), bool)
    if detector == "mesh":
        return mesh_skin_mask(points, (h, w), margin)
    if detector in ("detection", "haar"):
        kp = points if points is not None and len(points) else None
        return box_skin_mask(box, (h, w), kp, margin)
    raise InputError(f"no skin mask for detector {detector!r}")
