"""Regions of interest: the face (with a skin mask) and the shoulder/chest region, per frame.

* :mod:`physio.roi.detectors` — MediaPipe FaceMesh, FaceDetection, OpenCV Haar (faces) and MediaPipe
  Pose (shoulders), one frame at a time, all boxes in one convention;
* :mod:`physio.roi.masks` — skin masks redrawn from stored landmarks or boxes;
* :mod:`physio.roi.tracking` — :class:`RoiTracker` (streaming), :func:`roi_detect` (whole stream →
  :class:`RoiTrack`), statuses, filling and the no-face error;
* :mod:`physio.roi.overlay` — drawing the regions on frames.

Never falls back silently to the whole frame: too few frames with a face raise
:class:`~physio.errors.RoiNotFoundError`; ``roi="full"`` is the explicit whole-frame choice.
See ``docs/roi.md``.
"""

from __future__ import annotations

from physio.roi.detectors import (
    BOX_CALIBRATION,
    FACE_DETECTORS,
    Detection,
    FaceDetectionDetector,
    HaarDetector,
    MeshDetector,
    PoseDetector,
    make_face_detector,
    torso_from_face,
    torso_from_shoulders,
)
from physio.roi.masks import (
    MESH_LOOPS,
    MESH_POINT_INDICES,
    SKIN_GATES,
    box_mask,
    box_skin_mask,
    mesh_skin_mask,
    skin_gate,
    skin_mask,
)
from physio.roi.overlay import STATUS_COLOURS, roi_overlay
from physio.roi.tracking import (
    FACE_STATUSES,
    ROI_MODES,
    TORSO_STATUSES,
    OneEuroFilter,
    RoiFrame,
    RoiTrack,
    RoiTracker,
    box_jitter,
    frame_ranges,
    roi_detect,
)

__all__ = [
    "BOX_CALIBRATION",
    "FACE_DETECTORS",
    "FACE_STATUSES",
    "MESH_LOOPS",
    "MESH_POINT_INDICES",
    "ROI_MODES",
    "SKIN_GATES",
    "STATUS_COLOURS",
    "TORSO_STATUSES",
    "Detection",
    "FaceDetectionDetector",
    "HaarDetector",
    "MeshDetector",
    "OneEuroFilter",
    "PoseDetector",
    "RoiFrame",
    "RoiTrack",
    "RoiTracker",
    "box_jitter",
    "box_mask",
    "box_skin_mask",
    "frame_ranges",
    "make_face_detector",
    "mesh_skin_mask",
    "roi_detect",
    "roi_overlay",
    "skin_gate",
    "skin_mask",
    "torso_from_face",
    "torso_from_shoulders",
]
