"""Per-frame face and shoulder detectors (MediaPipe legacy solutions, OpenCV Haar cascade).

Every face detector returns a :class:`Detection` for one RGB frame, or ``None``.  Boxes follow one
convention whatever the detector: the **face-oval box** (x from cheek to cheek, y from the upper forehead
to the chin), i.e. the bounding box of FaceMesh's ``FACEMESH_FACE_OVAL`` landmarks.  FaceDetection and
Haar boxes are mapped onto it by fixed offsets (fractions of their box) measured against FaceMesh on
frontal faces (:data:`BOX_CALIBRATION`), so a track that falls back from one detector to another does not
jump.  Coordinates are float pixels, ``x1``/``y1`` exclusive, not clipped to the frame.

All models ship inside the ``mediapipe`` and ``opencv-contrib-python`` wheels; nothing is downloaded.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import cv2
import numpy as np

from physio.errors import InputError
from physio.roi.masks import MESH_POINT_INDICES, MESH_SLICES

__all__ = [
    "Detection",
    "FACE_DETECTORS",
    "BOX_CALIBRATION",
    "MeshDetector",
    "FaceDetectionDetector",
    "HaarDetector",
    "PoseDetector",
    "make_face_detector",
    "torso_from_shoulders",
    "torso_from_face",
]

FACE_DETECTORS = ("mesh", "detection", "haar")
"""Face detector names, best first; each later one is the fallback of the earlier ones."""

BOX_CALIBRATION: dict[str, tuple[float, float, float, float]] = {
    "detection": (0.015, -0.13, -0.02, -0.055),
    "haar": (0.045, 0.09, -0.04, 0.11),
}
"""Offsets ``(dx0, dy0, dx1, dy1)``, as fractions of the detector's box width/height, added to its box
corners to approximate the face-oval box.  Medians over ``skimage.data.astronaut()`` and
``evm_mit/face.mp4`` frames 0, 60, …, 300 (FaceDetection short-range model; Haar
``haarcascade_frontalface_default`` with the :class:`HaarDetector` defaults); reproduce with
``python benchmarks/bench_roi.py --calibrate``.  For turned heads the fallback boxes are off by up to
0.1-0.3 face widths (FaceDetection and Haar boxes do not follow a three-quarter face's outline)."""


@dataclass(frozen=True)
class Detection:
    """One detector's answer for one frame.

    Attributes
    ----------
    box : ndarray, shape (4,)
        ``(x0, y0, x1, y1)`` float pixels (face-oval convention for faces; torso box for ``"pose"``).
    confidence : float
        In [0, 1]; see each detector for what it means.
    detector : str
        ``"mesh"``, ``"detection"``, ``"haar"`` or ``"pose"``.
    points : ndarray, shape (K, 2)
        float32 pixel points kept for the mask: FaceMesh's :data:`~physio.roi.masks.MESH_POINT_INDICES`
        (K = 124), FaceDetection's 6 keypoints, none for Haar, the two shoulders (subject's left, right)
        for pose.
    """

    box: np.ndarray
    confidence: float
    detector: str
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))


@contextmanager
def native_logs_quiet() -> Iterator[None]:
    """Send the process's file descriptor 2 to the null device while MediaPipe's native code runs: its
    TFLite/absl log lines ("Feedback manager requires a model with a single signature…") ignore
    ``GLOG_minloglevel`` and would land on the user's terminal.  Python's ``sys.stderr`` is flushed
    first and restored after, so physio's own messages, progress bars and tracebacks are unaffected.
    ``PHYSIO_NATIVE_LOGS=1`` keeps the native lines (debugging)."""
    if os.environ.get("PHYSIO_NATIVE_LOGS"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to hide
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


WARM_UP_S = 0.1
"""How long a new MediaPipe graph is given, fd 2 still quiet, to print the log lines of its first inference."""


def _warm_up(process) -> None:
    """Run a new MediaPipe graph once on a blank frame while fd 2 is quiet, and give its threads
    :data:`WARM_UP_S` to log: their "Created TensorFlow Lite XNNPACK delegate" / "Feedback manager" lines come
    asynchronously after the first inference, so a quiet block around each later call does not catch them."""
    with native_logs_quiet():
        process(np.zeros((64, 64, 3), np.uint8))
        time.sleep(WARM_UP_S)


def _mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")  # silence MediaPipe's C++ INFO/WARNING lines
    with native_logs_quiet():
        import mediapipe as mp  # noqa: PLC0415 - heavy import, only when a MediaPipe detector is built

    return mp


def _check_frame(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
        raise InputError(f"frame must be (H, W, 3) uint8 RGB, got shape {f.shape} dtype {f.dtype}")
    return np.ascontiguousarray(f)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _pick(candidates: list[Detection], prior: np.ndarray | None) -> Detection | None:
    """The candidate overlapping the previous box most; without one, the largest × most confident."""
    if not candidates:
        return None
    if prior is not None:
        best = max(candidates, key=lambda d: _iou(d.box, prior))
        if _iou(best.box, prior) > 0.1:
            return best
    return max(candidates, key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) * d.confidence)


def _calibrate(box: np.ndarray, name: str) -> np.ndarray:
    dx0, dy0, dx1, dy1 = BOX_CALIBRATION[name]
    w, h = box[2] - box[0], box[3] - box[1]
    return box + np.array([dx0 * w, dy0 * h, dx1 * w, dy1 * h])


class MeshDetector:
    """MediaPipe FaceMesh (legacy ``mediapipe.solutions.face_mesh``), one face, 468 landmarks.

    With ``static_image_mode=False`` (default) MediaPipe tracks the landmarks from frame to frame and
    runs its own face detector only when tracking is lost.  ``confidence`` is the fraction of the 36
    face-oval landmarks inside the frame (MediaPipe's legacy API exposes no presence score; a returned
    mesh has already passed its internal presence threshold ``min_tracking_confidence``).
    """

    name = "mesh"

    def __init__(self, static_image_mode: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5) -> None:
        mp = _mediapipe()
        with native_logs_quiet():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=static_image_mode, max_num_faces=1, refine_landmarks=False,
                min_detection_confidence=min_detection_confidence, min_tracking_confidence=min_tracking_confidence)
        _warm_up(self._mesh.process)

    def detect(self, frame: np.ndarray, prior: np.ndarray | None = None) -> Detection | None:
        f = _check_frame(frame)
        with native_logs_quiet():
            res = self._mesh.process(f)
        if not res.multi_face_landmarks:
            return None
        h, w = f.shape[:2]
        lm = res.multi_face_landmarks[0].landmark
        pts = np.array([(lm[i].x * w, lm[i].y * h) for i in MESH_POINT_INDICES], dtype=np.float32)
        oval = pts[MESH_SLICES["face_oval"]].astype(np.float64)
        box = np.concatenate([oval.min(axis=0), oval.max(axis=0)])
        inside = (oval[:, 0] >= 0) & (oval[:, 0] < w) & (oval[:, 1] >= 0) & (oval[:, 1] < h)
        return Detection(box, float(inside.mean()), self.name, pts)

    def close(self) -> None:
        self._mesh.close()


class FaceDetectionDetector:
    """MediaPipe FaceDetection (BlazeFace; ``model_selection=0``: short range, faces within ~2 m;
    ``1``: full range).  ``confidence`` is MediaPipe's detection score; the default threshold 0.65 is
    above the highest score (0.56) BlazeFace gave on 30 frames of uniform noise and below those of the
    test faces (0.92-0.97).  Keeps the 6 keypoints (right eye,
    left eye, nose tip, mouth centre, right ear tragion, left ear tragion)."""

    name = "detection"

    def __init__(self, model_selection: int = 0, min_detection_confidence: float = 0.65) -> None:
        mp = _mediapipe()
        with native_logs_quiet():
            self._det = mp.solutions.face_detection.FaceDetection(
                model_selection=model_selection, min_detection_confidence=min_detection_confidence)
        _warm_up(self._det.process)

    def detect_all(self, frame: np.ndarray) -> list[Detection]:
        """Every face BlazeFace finds in the frame (several people: :mod:`physio.roi.faces`)."""
        f = _check_frame(frame)
        with native_logs_quiet():
            res = self._det.process(f)
        h, w = f.shape[:2]
        cands = []
        for d in res.detections or ():
            rb = d.location_data.relative_bounding_box
            raw = np.array([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h])
            kp = np.array([(k.x * w, k.y * h) for k in d.location_data.relative_keypoints], dtype=np.float32)
            cands.append(Detection(_calibrate(raw, self.name), float(d.score[0]), self.name, kp.reshape(-1, 2)))
        return cands

    def detect(self, frame: np.ndarray, prior: np.ndarray | None = None) -> Detection | None:
        return _pick(self.detect_all(frame), prior)

    def close(self) -> None:
        self._det.close()


class HaarDetector:
    """OpenCV Viola-Jones cascade (``haarcascade_frontalface_default.xml``) on the histogram-equalised
    grey frame, downscaled so its longer side is at most ``max_side`` pixels; faces smaller than
    ``min_size_fraction`` of the shorter side are not searched (both keep the cascade affordable: it is
    the slowest detector, especially on frames without a face).

    ``confidence`` = ``1 - exp(-w / 4)`` of the cascade's final-stage level weight ``w`` (from
    ``detectMultiScale3``): a monotone heuristic, ≈ 0.8 for w = 6 and ≈ 0.95 for w = 12 on the test
    faces, not a calibrated probability.
    """

    name = "haar"

    def __init__(self, scale_factor: float = 1.2, min_neighbors: int = 5, min_size_fraction: float = 0.12,
                 max_side: int = 360, cascade: str = "haarcascade_frontalface_default.xml") -> None:
        path = os.path.join(cv2.data.haarcascades, cascade)
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise InputError(f"cannot load the Haar cascade {path}")
        self.scale_factor, self.min_neighbors = float(scale_factor), int(min_neighbors)
        self.min_size_fraction, self.max_side = float(min_size_fraction), int(max_side)

    def detect(self, frame: np.ndarray, prior: np.ndarray | None = None) -> Detection | None:
        f = _check_frame(frame)
        grey = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, self.max_side / max(grey.shape))
        if scale < 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        side = max(16, int(self.min_size_fraction * min(grey.shape)))
        boxes, _levels, weights = self._cascade.detectMultiScale3(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side),
            outputRejectLevels=True)
        if len(boxes) == 0:
            return None
        weights = np.ravel(weights)
        cands = []
        for (x, y, bw, bh), wt in zip(boxes, weights, strict=False):
            raw = np.array([x, y, x + bw, y + bh], dtype=np.float64) / scale
            conf = float(1.0 - np.exp(-max(float(wt), 0.0) / 4.0))
            cands.append(Detection(_calibrate(raw, self.name), conf, self.name, np.zeros((0, 2), np.float32)))
        return _pick(cands, prior)

    def close(self) -> None:
        return None


def make_face_detector(name: str, **kwargs) -> MeshDetector | FaceDetectionDetector | HaarDetector:
    """Build a face detector by name (``"mesh"``, ``"detection"``, ``"haar"``)."""
    classes = {"mesh": MeshDetector, "detection": FaceDetectionDetector, "haar": HaarDetector}
    if name not in classes:
        raise InputError(f"unknown face detector {name!r}; choose one of {', '.join(FACE_DETECTORS)}")
    return classes[name](**kwargs)


# --- torso --------------------------------------------------------------------------------------------
TORSO_ABOVE_SHOULDERS = 0.2
"""Torso box top: this many shoulder widths above the higher shoulder."""
TORSO_BELOW_SHOULDERS = 0.6
"""Torso box bottom: this many shoulder widths below the lower shoulder (mid-chest)."""
TORSO_SIDE = 0.05
"""Torso box sides: this many shoulder widths beyond each shoulder."""


def _clip(box: np.ndarray, shape) -> np.ndarray:
    h, w = shape[:2]
    return np.array([min(max(box[0], 0), w), min(max(box[1], 0), h), min(max(box[2], 0), w), min(max(box[3], 0), h)])


def torso_from_shoulders(left: np.ndarray, right: np.ndarray, shape) -> np.ndarray | None:
    """Shoulder/chest box from two shoulder points (pixels), clipped to the frame; ``None`` if (almost)
    nothing of it is inside the frame (under 4 px high or wide, or under 5 % of its area)."""
    pts = np.array([left, right], dtype=np.float64)
    sw = float(np.hypot(*(pts[0] - pts[1])))
    if sw < 4:
        return None
    box = np.array([pts[:, 0].min() - TORSO_SIDE * sw, pts[:, 1].min() - TORSO_ABOVE_SHOULDERS * sw,
                    pts[:, 0].max() + TORSO_SIDE * sw, pts[:, 1].max() + TORSO_BELOW_SHOULDERS * sw])
    c = _clip(box, shape)
    cw, ch = c[2] - c[0], c[3] - c[1]
    if cw < 4 or ch < 4 or cw * ch < 0.05 * (box[2] - box[0]) * (box[3] - box[1]):
        return None
    return c


FACE_TORSO_WIDTH = 3.0
"""Face-derived torso: this many face widths wide, centred under the face."""
FACE_TORSO_TOP = 0.25
FACE_TORSO_BOTTOM = 1.5
"""Face-derived torso: from the chin + 0.25 face heights to the chin + 1.5 face heights (FaceMesh puts
the shoulder line 0.4-0.7 face heights below the chin on the test clips)."""


def torso_from_face(face_box, shape) -> np.ndarray | None:
    """Torso box derived from the face box geometry, clipped to the frame; ``None`` if less than 4 px of
    it is inside the frame (face at the bottom edge)."""
    x0, y0, x1, y1 = (float(v) for v in face_box)
    fw, fh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    box = np.array([cx - FACE_TORSO_WIDTH / 2 * fw, y1 + FACE_TORSO_TOP * fh,
                    cx + FACE_TORSO_WIDTH / 2 * fw, y1 + FACE_TORSO_BOTTOM * fh])
    c = _clip(box, shape)
    if c[2] - c[0] < 4 or c[3] - c[1] < 4:
        return None
    return c


class PoseDetector:
    """MediaPipe Pose (legacy ``mediapipe.solutions.pose``, ``model_complexity=1``) → shoulder/chest box.

    Uses landmarks 11 (left shoulder) and 12 (right shoulder); ``confidence`` is the smaller of their
    visibilities.  The box (see :func:`torso_from_shoulders`) spans the shoulders, from
    :data:`TORSO_ABOVE_SHOULDERS` shoulder widths above the shoulder line to
    :data:`TORSO_BELOW_SHOULDERS` below it.  Rejected (``None``) when a shoulder's visibility is under
    ``min_visibility``, when the box is essentially outside the frame, or when, given a face box, the
    shoulder line is not below the face centre.  Given a face box, the torso box starts no higher than
    the chin (the face's bottom edge), so the two regions never overlap vertically.
    """

    name = "pose"

    def __init__(self, model_complexity: int = 1, static_image_mode: bool = False, min_visibility: float = 0.5,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5) -> None:
        mp = _mediapipe()
        with native_logs_quiet():
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=static_image_mode, model_complexity=model_complexity, smooth_landmarks=True,
                enable_segmentation=False, min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence)
        _warm_up(self._pose.process)
        self.min_visibility = float(min_visibility)

    def detect(self, frame: np.ndarray, face_box: np.ndarray | None = None) -> Detection | None:
        f = _check_frame(frame)
        with native_logs_quiet():
            res = self._pose.process(f)
        if res.pose_landmarks is None:
            return None
        h, w = f.shape[:2]
        lm = res.pose_landmarks.landmark
        left, right = lm[11], lm[12]
        conf = float(min(left.visibility, right.visibility))
        if conf < self.min_visibility:
            return None
        pts = np.array([(left.x * w, left.y * h), (right.x * w, right.y * h)], dtype=np.float32)
        box = torso_from_shoulders(pts[0], pts[1], f.shape)
        if box is None:
            return None
        if face_box is not None:
            if (pts[0, 1] + pts[1, 1]) / 2 <= (face_box[1] + face_box[3]) / 2:
                return None  # shoulders above the face centre: not this face's shoulders
            box[1] = max(box[1], min(face_box[3], box[3]))
            if box[3] - box[1] < 4:
                return None
        return Detection(box, conf, self.name, pts)

    def close(self) -> None:
        self._pose.close()
