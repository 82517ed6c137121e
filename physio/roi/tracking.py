"""Face and torso regions tracked over a video stream.

:class:`RoiTracker` is the causal, frame-by-frame tracker (``update(frame) -> RoiFrame``);
:func:`roi_detect` runs it over a stream of chunks, then fills the frames without a detection by
interpolating between the detections around them (or holding the nearest one at the ends) and returns a
:class:`RoiTrack`.  Only boxes, scores and a few landmark points are kept per frame (about 1 KB for
FaceMesh), never frames or full-frame masks; :meth:`RoiTrack.face_mask` redraws a frame's skin mask from
them in well under a millisecond.

Statuses
--------
face: ``detected`` (a detector ran on this frame and found the face), ``tracked`` (between detector
runs, the region followed by optical flow: :mod:`physio.roi.flow`), ``interpolated`` (between two
detections), ``held`` (the nearest detection's box carried forward or backward: the detector was not run
on this frame, failed, or the frame lies before the first / after the last detection), ``missing`` (no
face to hold; streaming only), ``full`` (``roi="full"``: the whole frame, chosen explicitly).
torso: ``detected`` (MediaPipe Pose shoulders), ``tracked`` (optical flow between Pose runs),
``interpolated``/``held`` (as for the face, within ``max_gap_s`` of a pose detection), ``derived``
(from the face box geometry), ``missing`` (neither), ``full``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from physio.errors import InputError, RoiNotFoundError
from physio.roi.detectors import (
    FACE_DETECTORS,
    Detection,
    PoseDetector,
    make_face_detector,
    torso_from_face,
)
from physio.roi.flow import RegionFlow, apply_similarity, box_similarity, flow_grey
from physio.roi.masks import box_mask, skin_gate, skin_mask

__all__ = [
    "ROI_MODES",
    "FACE_STATUSES",
    "TORSO_STATUSES",
    "DETECT_EVERY",
    "POSE_EVERY_FACTOR",
    "OneEuroFilter",
    "RoiFrame",
    "RoiTrack",
    "RoiTracker",
    "roi_detect",
    "box_jitter",
    "frame_ranges",
]

ROI_MODES = ("face", "full")
FACE_STATUSES = ("detected", "tracked", "interpolated", "held", "missing", "full")
TORSO_STATUSES = ("detected", "tracked", "interpolated", "held", "derived", "missing", "full")
MEASURED = ("detected", "tracked")
DETECT_EVERY = 10
"""Default: the face detector runs every this many frames, optical flow follows the face between."""
SETTLE_FRACTION = 0.03
"""A detection further than this fraction of the box width from the flow's prediction is not trusted
alone: the detector runs on the following frames until it agrees with the flow again."""
DRIFT_FRACTION = 0.05
"""A face the flow has carried further than this fraction of its width from the last detection is
detected again at once: a moving (turning) head changes the landmarks' shape, which a similarity
transform does not follow, so the skin mask is refreshed more often while the head moves."""
POSE_EVERY_FACTOR = 3
"""Default: Pose runs every ``POSE_EVERY_FACTOR × every`` frames (it is ≈ 5× slower than FaceMesh)."""
"""Statuses of frames whose region was measured on the frame itself (the anchors gaps are filled from)."""
CONFIDENCE_HALF_LIFE_S = 1.0
"""Confidence of held/interpolated frames halves per this many seconds from the nearest detection."""
DERIVED_TORSO_CONFIDENCE = 0.5
"""A face-derived torso box gets this fraction of the face confidence."""


class OneEuroFilter:
    """The 1€ filter (Casiez et al. 2012) on an array of coordinates: an exponential smoother whose
    cut-off rises with speed, so a still face does not jitter and a moving one does not lag.

    ``cutoff = min_cutoff_hz + beta · |speed| / scale`` per element, speed in pixels per second and
    ``scale`` (the face width, pixels) making ``beta`` size-independent (Hz per face width per second).

    References
    ----------
    Casiez, G., Roussel, N., Vogel, D. (2012). 1€ filter: a simple speed-based low-pass filter for noisy
    input in interactive systems. Proc. CHI, 2527-2530.
    """

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.5, d_cutoff_hz: float = 1.0) -> None:
        if not (min_cutoff_hz > 0 and beta >= 0 and d_cutoff_hz > 0):
            raise InputError(f"1€ filter needs min_cutoff_hz > 0, beta ≥ 0, d_cutoff_hz > 0; got "
                             f"{min_cutoff_hz}, {beta}, {d_cutoff_hz}")
        self.min_cutoff_hz, self.beta, self.d_cutoff_hz = float(min_cutoff_hz), float(beta), float(d_cutoff_hz)
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, dt: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        dt = max(float(dt), 1e-6)
        dx = (x - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff_hz, dt) * (dx - self._dx)
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self._dx) / max(float(scale), 1e-6)
        self._x = self._x + self._alpha(cutoff, dt) * (x - self._x)
        return self._x.copy()


def _int_box(box, shape_hw) -> tuple[int, int, int, int] | None:
    if box is None:
        return None
    h, w = shape_hw
    x0 = int(np.clip(np.floor(box[0]), 0, w))
    y0 = int(np.clip(np.floor(box[1]), 0, h))
    x1 = int(np.clip(np.ceil(box[2]), 0, w))
    y1 = int(np.clip(np.ceil(box[3]), 0, h))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


@dataclass
class RoiFrame:
    """Regions of one frame.

    Attributes
    ----------
    index : int
        Frame number in the video (counting from the video's first frame, ``start_frame`` included).
    time_s : float
        ``index / fps``.
    frame_size : (width, height)
    face_box : (x0, y0, x1, y1) int or None
        Clipped to the frame; ``x1``/``y1`` exclusive (``frame[y0:y1, x0:x1]``).
    face_confidence : float
        In [0, 1] (see :mod:`physio.roi.detectors`); decays by half per
        :data:`CONFIDENCE_HALF_LIFE_S` away from a detection; NaN when missing.
    face_detector : str
        Detector whose output this frame uses (``mesh``, ``detection``, ``haar``, ``full``; ``""`` if none).
    face_status : str
        One of :data:`FACE_STATUSES`.
    face_found : bool
        Whether the latest detector run at or before this frame found the face (what
        ``min_face_fraction`` counts).
    torso_box, torso_confidence, torso_detector, torso_status
        The same for the shoulder/chest region (``torso_detector``: ``pose``, ``face`` (derived), ``full``).
    points : ndarray (K, 2) float32
        Face landmarks kept for the mask (unclipped pixels; see :class:`~physio.roi.detectors.Detection`).
    face_box_float : ndarray (4,) or None
        The unclipped float face box the mask is drawn from.
    """

    index: int
    time_s: float
    frame_size: tuple[int, int]
    face_box: tuple[int, int, int, int] | None
    face_confidence: float
    face_detector: str
    face_status: str
    face_found: bool
    torso_box: tuple[int, int, int, int] | None
    torso_confidence: float
    torso_detector: str
    torso_status: str
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32), repr=False)
    face_box_float: np.ndarray | None = field(default=None, repr=False)

    def face_mask(self, frame: np.ndarray | None = None, skin_gate_method: str = "none",
                  margin: float = 0.05) -> np.ndarray:
        """Skin mask ``(H, W)`` bool of this frame (see :mod:`physio.roi.masks`); ``frame`` (RGB uint8) is
        needed only for skin-colour gating."""
        return _mask(self.face_detector, self.face_box_float, self.points, self.frame_size, frame,
                     skin_gate_method, margin)

    def torso_mask(self) -> np.ndarray:
        """The torso box as a bool mask ``(H, W)`` (all False when missing)."""
        return box_mask(self.torso_box, (self.frame_size[1], self.frame_size[0]))


def _mask(detector, box, points, frame_size, frame, gate, margin) -> np.ndarray:
    shape = (frame_size[1], frame_size[0])
    m = skin_mask(detector, box, points, shape, margin) if detector else np.zeros(shape, bool)
    if gate != "none":
        if frame is None:
            raise InputError(f"skin gate {gate!r} needs the frame's pixels (pass frame=...)")
        m = skin_gate(m, frame, gate)
    return m


def _check_chunk(chunk: np.ndarray, what: str = "chunk") -> np.ndarray:
    a = np.asarray(chunk)
    if a.ndim != 4 or a.shape[-1] != 3 or a.dtype != np.uint8 or 0 in a.shape:
        raise InputError(f"{what} must be (T, H, W, 3) uint8 RGB, got shape {a.shape} dtype {a.dtype}")
    return a


def _fallback_chain(detector: str, fallbacks) -> tuple[str, ...]:
    if detector not in FACE_DETECTORS:
        raise InputError(f"unknown face detector {detector!r}; choose one of {', '.join(FACE_DETECTORS)}")
    if fallbacks == "auto":
        rest = FACE_DETECTORS[FACE_DETECTORS.index(detector) + 1:]
    elif fallbacks is None:
        rest = ()
    else:
        rest = tuple(fallbacks)
        for name in rest:
            if name not in FACE_DETECTORS:
                raise InputError(f"unknown fallback detector {name!r}; choose from {', '.join(FACE_DETECTORS)}")
    return (detector, *[n for n in dict.fromkeys(rest) if n != detector])


class RoiTracker:
    """Causal face/torso tracker: feed frames one by one with :meth:`update`.

    Parameters
    ----------
    detector : {"mesh", "detection", "haar"}
        Primary face detector (see :mod:`physio.roi.detectors`).
    fallbacks : "auto", None or sequence of str
        Detectors tried, in order, when the primary finds nothing on a frame.  ``"auto"``: the ones after
        it in ``("mesh", "detection", "haar")``; ``None``: none.
    every : int
        Run the face detector every ``every`` frames while the face is tracked; the frames in between
        follow the region by optical flow (:class:`physio.roi.flow.RegionFlow`, status ``tracked``) and
        the detector runs again at once when the flow loses it (re-detection on drift); after a failed
        run it runs again on the next frame (re-detection on loss).
    torso : bool
        Also locate the shoulder/chest region (MediaPipe Pose, else derived from the face box).
    torso_every : int, optional
        Run Pose every this many frames (default ``POSE_EVERY_FACTOR × every``), the torso followed by
        optical flow between; a run that finds no torso is repeated only at the next scheduled frame.
    fps : float
        Frame rate (for times, smoothing and hold durations).
    roi : {"face", "full"}
        ``"full"`` returns the whole frame for face and torso (status ``full``), running no detector.
    min_cutoff_hz, beta : float
        1€ smoothing of boxes and landmarks (:class:`OneEuroFilter`); ``min_cutoff_hz=None`` disables it.
    max_hold_s : float
        How long a lost face (or pose torso) is held before it becomes ``missing``.
    start_frame : int
        Number of the first frame fed (for ``index``/``time_s`` when reading from a later start).
    detector_kwargs : dict, optional
        Extra keyword arguments per detector name, e.g. ``{"detection": {"model_selection": 1}}``.

    Examples
    --------
    >>> with RoiTracker("mesh", fps=30) as tracker:          # doctest: +SKIP
    ...     for chunk in VideoReader("face.mp4").chunks():
    ...         for frame in chunk:
    ...             roi = tracker.update(frame)
    ...             mask = roi.face_mask()
    """

    def __init__(
        self,
        detector: str = "mesh",
        *,
        fallbacks: str | Sequence[str] | None = "auto",
        every: int | None = DETECT_EVERY,
        torso: bool = True,
        torso_every: int | None = None,
        fps: float = 30.0,
        roi: str = "face",
        min_cutoff_hz: float | None = 1.0,
        beta: float = 0.5,
        max_hold_s: float = 1.0,
        start_frame: int = 0,
        detector_kwargs: dict[str, dict] | None = None,
    ) -> None:
        if roi not in ROI_MODES:
            raise InputError(f"roi must be one of {', '.join(ROI_MODES)}, got {roi!r}")
        every = DETECT_EVERY if every is None else every
        if int(every) < 1:
            raise InputError(f"every must be ≥ 1 frame, got {every}")
        if torso_every is not None and int(torso_every) < 1:
            raise InputError(f"torso_every must be ≥ 1 frame, got {torso_every}")
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be a positive number, got {fps}")
        if not max_hold_s >= 0:
            raise InputError(f"max_hold_s must be ≥ 0, got {max_hold_s}")
        self.roi = roi
        self.chain = _fallback_chain(detector, fallbacks)
        self.every = int(every)
        self.torso = bool(torso)
        self.torso_every = POSE_EVERY_FACTOR * self.every if torso_every is None else int(torso_every)
        self.fps = float(fps)
        self.max_hold = int(round(max_hold_s * self.fps))
        self.start_frame = int(start_frame)
        self._kwargs = detector_kwargs or {}
        self._detectors: dict[str, object] = {}
        self._pose: PoseDetector | None = None
        smooth = min_cutoff_hz is not None
        self._f_box = OneEuroFilter(min_cutoff_hz, beta) if smooth else None
        self._f_pts = OneEuroFilter(min_cutoff_hz, beta) if smooth else None
        self._f_torso = OneEuroFilter(min_cutoff_hz, beta) if smooth else None
        self._n = 0
        self._size: tuple[int, int] | None = None
        # face state
        self._face: Detection | None = None       # last smoothed detection
        self._face_i = -1                         # frame of the last detection
        self._last_attempt = -(10**9)
        self._last_ok = False
        # torso state
        self._torso: Detection | None = None
        self._torso_i = -1
        self._torso_attempt = -(10**9)
        self._torso_ok = False
        # optical flow between detector runs: the unsmoothed measurements it moves, and the flows
        self._face_raw: Detection | None = None
        self._torso_raw: Detection | None = None
        self._face_flow, self._torso_flow = RegionFlow(), RegionFlow()
        self._face_settling = self._torso_settling = False
        self._face_anchor: np.ndarray | None = None  # the face box at the last detection

    # -- resources ----------------------------------------------------------------------------------
    def _detector(self, name: str):
        if name not in self._detectors:
            self._detectors[name] = make_face_detector(name, **self._kwargs.get(name, {}))
        return self._detectors[name]

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for det in self._detectors.values():
            det.close()
        self._detectors.clear()
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def __enter__(self) -> RoiTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- tracking -----------------------------------------------------------------------------------
    def _decay(self, frames: int) -> float:
        return 0.5 ** (frames / (self.fps * CONFIDENCE_HALF_LIFE_S))

    def _smooth_face(self, det: Detection, gap: int) -> Detection:
        if self._f_box is None:
            return det
        dt = max(gap, 1) / self.fps
        scale = max(det.box[2] - det.box[0], 1.0)
        if self._face is None or self._face.detector != det.detector:
            self._f_pts.reset()
        if self._face is None:
            self._f_box.reset()
        box = self._f_box(det.box, dt, scale)
        pts = self._f_pts(det.points, dt, scale).astype(np.float32) if len(det.points) else det.points
        return Detection(box, det.confidence, det.detector, pts)

    def _detect_face(self, frame: np.ndarray) -> Detection | None:
        prior = None if self._face is None else self._face.box
        for name in self.chain:
            det = self._detector(name).detect(frame, prior)
            if det is not None:
                return det
        return None

    def update(self, frame: np.ndarray) -> RoiFrame:
        """Process the next frame ``(H, W, 3)`` uint8 RGB; returns its regions."""
        f = _check_chunk(np.asarray(frame)[None], "frame")[0]
        h, w = f.shape[:2]
        if self._size is None:
            self._size = (w, h)
        elif self._size != (w, h):
            raise InputError(f"frame {self.start_frame + self._n}: size changed from {self._size} to {(w, h)}")
        i = self._n
        self._n += 1
        index = self.start_frame + i
        t = index / self.fps
        if self.roi == "full":
            full = (0, 0, w, h)
            return RoiFrame(index, t, (w, h), full, 1.0, "full", "full", True, full, 1.0, "full", "full",
                            np.zeros((0, 2), np.float32), np.array(full, float))
        grey = scale = None
        if self.every > 1 or (self.torso and self.torso_every > 1):
            grey, scale = flow_grey(f)
        # face: a scheduled detector run, else the optical flow (a run at once when the flow loses it;
        # runs on every frame while the detector is settling, i.e. disagrees with the flow)
        pred = self._predict(self._face_flow, self._face_raw, self._face_i, i, grey)
        scheduled = self._face is None or not self._last_ok or (i - self._last_attempt) >= self.every
        if pred is not None and self._face_anchor is not None and _disagree(pred.box, self._face_anchor,
                                                                            DRIFT_FRACTION):
            scheduled = True  # moved since the detector last saw it: landmarks may have changed shape
        status = "missing"
        if pred is not None and not scheduled and not self._face_settling:
            self._face_raw = pred
            self._face = self._smooth_face(pred, 1)
            self._face_i, status = i, "tracked"
        elif scheduled or grey is not None:
            self._last_attempt = i
            det = self._detect_face(f)
            self._last_ok = det is not None
            if det is not None:
                self._face_settling = grey is not None and (pred is None or _disagree(det.box, pred.box))
                self._face = self._smooth_face(det, i - self._face_i if self._face is not None else 1)
                self._face_raw, self._face_i, status = det, i, "detected"
                self._face_anchor = det.box
                if grey is not None:
                    self._face_flow.seed(grey, scale, det.box)
        if status == "missing":
            if self._face is not None and i - self._face_i <= self.max_hold:
                status = "held"
            else:
                self._face = self._face_raw = None
        face = self._face
        if face is not None:
            conf = face.confidence * (1.0 if status in MEASURED else self._decay(i - self._face_i))
            face_box = _int_box(face.box, (h, w))
        else:
            conf, face_box = float("nan"), None
        # torso
        t_box, t_conf, t_det, t_status = None, float("nan"), "", "missing"
        if self.torso:
            t_box, t_conf, t_det, t_status = self._update_torso(f, i, face, conf, grey, scale)
        return RoiFrame(index, t, (w, h), face_box, float(conf), face.detector if face else "", status,
                        bool(self._last_ok), t_box, float(t_conf), t_det, t_status,
                        face.points if face else np.zeros((0, 2), np.float32),
                        None if face is None else face.box.copy())

    @staticmethod
    def _predict(flow: RegionFlow, raw: Detection | None, last: int, i: int, grey) -> Detection | None:
        """The region measured on the previous frame, carried to this one by the optical flow (None:
        no flow, nothing measured on the previous frame, or the flow lost it)."""
        if grey is None or raw is None or last != i - 1 or not flow.seeded:
            return None
        m = flow.step(grey)
        if m is None:
            return None
        return Detection(box_similarity(m, raw.box), raw.confidence, raw.detector, apply_similarity(m, raw.points))

    def _smooth_torso(self, det: Detection, gap: int) -> Detection:
        if self._f_torso is None:
            return det
        if self._torso is None:
            self._f_torso.reset()
        box = self._f_torso(det.box, max(gap, 1) / self.fps, max(det.box[2] - det.box[0], 1.0))
        return Detection(box, det.confidence, det.detector, det.points)

    def _update_torso(self, f, i, face: Detection | None, face_conf: float, grey=None, scale=None):
        h, w = f.shape[:2]
        # Pose runs every torso_every frames, found or not (a torso is optional: a failed run is not
        # retried on the next frame), at once when the flow loses a torso measured on the last frame, and
        # on every frame while it disagrees with the flow
        pred = self._predict(self._torso_flow, self._torso_raw, self._torso_i, i, grey)
        lost = pred is None and self._torso_raw is not None and self._torso_i == i - 1
        due = (i - self._torso_attempt) >= self.torso_every
        status = None
        if pred is not None and not due and not self._torso_settling:
            self._torso, self._torso_raw = self._smooth_torso(pred, 1), pred
            self._torso_i, status = i, "tracked"
        elif due or lost or self._torso_settling:
            self._torso_attempt = i
            if self._pose is None:
                self._pose = PoseDetector(**self._kwargs.get("pose", {}))
            det = self._pose.detect(f, None if face is None else face.box)
            self._torso_ok = det is not None
            self._torso_settling = False
            if det is not None:
                self._torso_settling = grey is not None and (pred is None or _disagree(det.box, pred.box))
                gap = i - self._torso_i if self._torso is not None else 1
                self._torso, self._torso_raw = self._smooth_torso(det, gap), det
                self._torso_i, status = i, "detected"
                if grey is not None:
                    self._torso_flow.seed(grey, scale, det.box)
        if status is None:
            if self._torso is not None and i - self._torso_i <= self.max_hold:
                status = "held"
            else:
                self._torso = self._torso_raw = None
        if self._torso is not None:
            conf = self._torso.confidence * (1.0 if status in MEASURED else self._decay(i - self._torso_i))
            box = _below(_int_box(self._torso.box, (h, w)), None if face is None else _int_box(face.box, (h, w)))
            if box is not None:
                return box, conf, "pose", status
        if face is not None:
            box = torso_from_face(face.box, (h, w))
            if box is not None:
                return _int_box(box, (h, w)), DERIVED_TORSO_CONFIDENCE * face_conf, "face", "derived"
        return None, float("nan"), "", "missing"


def _disagree(box, predicted, fraction: float | None = None) -> bool:
    """Whether ``box`` lies more than ``fraction`` (default :data:`SETTLE_FRACTION`) of the width from
    ``predicted`` (any edge).  A detection that far from where the flow carried the last one (a
    detector still converging, e.g. MediaPipe's own landmark tracking after a jump, or a flow that
    drifted) makes the detector run again on the next frame; a tracked box that far
    (:data:`DRIFT_FRACTION`) from the last detection makes it run at once."""
    fraction = SETTLE_FRACTION if fraction is None else fraction
    width = max(float(predicted[2] - predicted[0]), 1.0)
    return bool(np.max(np.abs(np.asarray(box, float) - np.asarray(predicted, float))) > fraction * width)


def _below(torso, face):
    """Raise an integer torso box's top to the face box's bottom (``None`` if nothing is left)."""
    if torso is None or face is None or torso[1] >= face[3]:
        return torso
    if torso[3] - face[3] < 1:
        return None
    return (torso[0], face[3], torso[2], torso[3])


def frame_ranges(indices: Iterable[int], limit: int = 6) -> str:
    """``[0, 1, 2, 5, 7, 8]`` → ``"0–2, 5, 7–8"`` (at most ``limit`` ranges, then ``…``)."""
    idx = sorted(set(int(i) for i in indices))
    if not idx:
        return ""
    ranges = []
    start = prev = idx[0]
    for k in idx[1:]:
        if k != prev + 1:
            ranges.append((start, prev))
            start = k
        prev = k
    ranges.append((start, prev))
    text = [f"{a}" if a == b else f"{a}–{b}" for a, b in ranges[:limit]]
    if len(ranges) > limit:
        text.append(f"… ({len(ranges) - limit} more ranges)")
    return ", ".join(text)


def box_jitter(boxes: np.ndarray) -> np.ndarray:
    """Frame-to-frame displacement (pixels) of the box centres ``(T, 4)`` → ``(T-1,)`` (NaN where a box is
    missing)."""
    b = np.asarray(boxes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4:
        raise InputError(f"boxes must have shape (T, 4), got {b.shape}")
    c = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    return np.hypot(*np.diff(c, axis=0).T)


@dataclass
class RoiTrack:
    """Regions of every frame of a video (the output of :func:`roi_detect`).

    Attributes
    ----------
    fps : float
    frame_size : (width, height)
    face_boxes : ndarray (T, 4) int32
        ``(x0, y0, x1, y1)`` per frame, clipped, exclusive ends; ``-1`` rows where missing.
    face_confidence : ndarray (T,) float32
    face_detector, face_status : ndarray (T,) str
    torso_boxes, torso_confidence, torso_detector, torso_status
        The same for the shoulder/chest region.
    points : list of ndarray (K, 2) float32
        Per-frame face points the skin mask is drawn from.
    face_boxes_float : ndarray (T, 4) float32
        Unclipped boxes the masks are drawn from (NaN where missing).
    roi : {"face", "full"}
    start_frame : int
        Video frame number of row 0.
    face_found_fraction : float
        Fraction of frames whose latest detector run found the face.
    source : str or None
        Name used in messages (the video path).
    """

    fps: float
    frame_size: tuple[int, int]
    face_boxes: np.ndarray
    face_confidence: np.ndarray
    face_detector: np.ndarray
    face_status: np.ndarray
    torso_boxes: np.ndarray
    torso_confidence: np.ndarray
    torso_detector: np.ndarray
    torso_status: np.ndarray
    points: list
    face_boxes_float: np.ndarray
    roi: str = "face"
    start_frame: int = 0
    face_found_fraction: float = 1.0
    source: str | None = None

    def __len__(self) -> int:
        return len(self.face_boxes)

    @property
    def frame_index(self) -> np.ndarray:
        """Video frame numbers ``(T,)``."""
        return self.start_frame + np.arange(len(self))

    @property
    def time_s(self) -> np.ndarray:
        """Frame times ``(T,)`` in seconds from the video's first frame."""
        return self.frame_index / self.fps

    def _check_index(self, i: int) -> int:
        n = len(self)
        if not -n <= int(i) < n:
            raise InputError(f"frame {i} out of range for a track of {n} frames")
        return int(i) % n

    def boxes(self, part: str = "face") -> np.ndarray:
        """``(T, 4)`` float boxes of ``part`` (``"face"`` or ``"torso"``), NaN rows where missing (the input
        :func:`physio.roi.crop.crop_box_union` takes)."""
        if part not in ("face", "torso"):
            raise InputError(f"part must be 'face' or 'torso', got {part!r}")
        b = (self.face_boxes if part == "face" else self.torso_boxes).astype(np.float64)
        b[np.any(b < 0, axis=1)] = np.nan
        return b

    def frame(self, i: int) -> RoiFrame:
        """The regions of row ``i`` as a :class:`RoiFrame`."""
        i = self._check_index(i)

        def box(arr):
            return None if arr[i, 0] < 0 else tuple(int(v) for v in arr[i])

        fb = self.face_boxes_float[i]
        return RoiFrame(
            int(self.start_frame + i), float((self.start_frame + i) / self.fps), self.frame_size,
            box(self.face_boxes), float(self.face_confidence[i]), str(self.face_detector[i]),
            str(self.face_status[i]), True, box(self.torso_boxes), float(self.torso_confidence[i]),
            str(self.torso_detector[i]), str(self.torso_status[i]), self.points[i],
            None if not np.all(np.isfinite(fb)) else fb.astype(np.float64))

    def face_mask(self, i: int, frame: np.ndarray | None = None, skin_gate_method: str = "none",
                  margin: float = 0.05) -> np.ndarray:
        """Skin mask ``(H, W)`` bool of row ``i``, redrawn from the stored points/box.

        ``frame`` (the RGB uint8 frame) is needed only with ``skin_gate_method`` ``"adaptive"`` or
        ``"fixed"`` (see :func:`physio.roi.masks.skin_gate`); ``margin`` shrinks the face outline.
        """
        i = self._check_index(i)
        fb = self.face_boxes_float[i]
        return _mask(str(self.face_detector[i]), None if not np.all(np.isfinite(fb)) else fb, self.points[i],
                     self.frame_size, frame, skin_gate_method, margin)

    def torso_mask(self, i: int) -> np.ndarray:
        """The torso box of row ``i`` as a bool mask ``(H, W)``."""
        return self.frame(i).torso_mask()

    def summary(self) -> dict:
        """Counts per status, the face-found fraction and the face-box jitter (pixels)."""
        jit = box_jitter(self.boxes("face"))
        jit = jit[np.isfinite(jit)]
        return {
            "frames": len(self),
            "face_found_fraction": float(self.face_found_fraction),
            "face_status": {s: int(np.sum(self.face_status == s)) for s in FACE_STATUSES if np.any(self.face_status == s)},
            "face_detector": {d: int(np.sum(self.face_detector == d)) for d in np.unique(self.face_detector)},
            "torso_status": {s: int(np.sum(self.torso_status == s)) for s in TORSO_STATUSES if np.any(self.torso_status == s)},
            "face_jitter_px_median": float(np.median(jit)) if len(jit) else float("nan"),
            "face_jitter_px_max": float(np.max(jit)) if len(jit) else float("nan"),
        }

    def to_dataframe(self):
        """One row per frame: ``frame, time_s, face_x0, face_y0, face_x1, face_y1, face_conf,
        face_detector, face_status, torso_x0, torso_y0, torso_x1, torso_y1, torso_conf, torso_detector,
        torso_status`` (missing boxes are empty cells)."""
        import pandas as pd  # noqa: PLC0415 - only here (0.5 s of start-up for every other use)

        cols = {"frame": self.frame_index, "time_s": np.round(self.time_s, 6)}
        for part, arr in (("face", self.face_boxes), ("torso", self.torso_boxes)):
            for k, name in enumerate(("x0", "y0", "x1", "y1")):
                v = pd.array(arr[:, k], dtype="Int64")
                v[arr[:, k] < 0] = pd.NA
                cols[f"{part}_{name}"] = v
            conf = self.face_confidence if part == "face" else self.torso_confidence
            cols[f"{part}_conf"] = np.round(conf.astype(np.float64), 4)
            cols[f"{part}_detector"] = (self.face_detector if part == "face" else self.torso_detector).astype(str)
            cols[f"{part}_status"] = (self.face_status if part == "face" else self.torso_status).astype(str)
        return pd.DataFrame(cols)


def _interp_fill(n: int, anchors: np.ndarray, max_gap: int | None) -> list:
    """For each non-anchor frame: ('interpolated', a, b, wb) between anchors, ('held', a) from the
    nearest, or None beyond ``max_gap`` frames."""
    out: list = [None] * n
    if len(anchors) == 0:
        return out
    pos = np.searchsorted(anchors, np.arange(n))
    for i in range(n):
        k = pos[i]
        if k < len(anchors) and anchors[k] == i:
            continue
        prev = anchors[k - 1] if k > 0 else None
        nxt = anchors[k] if k < len(anchors) else None
        if prev is not None and nxt is not None and (max_gap is None or nxt - prev - 1 <= max_gap):
            out[i] = ("interpolated", prev, nxt, (i - prev) / (nxt - prev))
        else:
            near = prev if nxt is None or (prev is not None and i - prev <= nxt - i) else nxt
            if max_gap is None or abs(i - near) <= max_gap:
                out[i] = ("held", near)
    return out


def _map_points(points: np.ndarray, src_box: np.ndarray, dst_box: np.ndarray) -> np.ndarray:
    if len(points) == 0:
        return points
    sw, sh = max(src_box[2] - src_box[0], 1e-6), max(src_box[3] - src_box[1], 1e-6)
    sx, sy = (dst_box[2] - dst_box[0]) / sw, (dst_box[3] - dst_box[1]) / sh
    out = np.empty_like(points)
    out[:, 0] = dst_box[0] + (points[:, 0] - src_box[0]) * sx
    out[:, 1] = dst_box[1] + (points[:, 1] - src_box[1]) * sy
    return out


def roi_detect(
    chunks: Iterable[np.ndarray],
    fps: float,
    *,
    roi: str = "face",
    detector: str = "mesh",
    fallbacks: str | Sequence[str] | None = "auto",
    every: int | None = DETECT_EVERY,
    torso: bool = True,
    torso_every: int | None = None,
    min_face_fraction: float = 0.5,
    min_cutoff_hz: float | None = 1.0,
    beta: float = 0.5,
    max_gap_s: float = 1.0,
    start_frame: int = 0,
    source: str | None = None,
    detector_kwargs: dict[str, dict] | None = None,
) -> RoiTrack:
    """Face and torso regions of every frame of a video stream.

    Parameters
    ----------
    chunks : iterable of ndarray (t, H, W, 3) uint8 RGB
        The video, chunk by chunk (e.g. ``VideoReader(path).chunks()``); nothing is kept but boxes and
        landmark points.
    fps : float
        Frame rate.
    roi : {"face", "full"}
        ``"full"`` is the explicit whole-frame region (status ``full``; no detector runs).
    detector, fallbacks, every, torso, torso_every, min_cutoff_hz, beta, detector_kwargs
        As in :class:`RoiTracker`.
    min_face_fraction : float in [0, 1]
        Raise :class:`~physio.errors.RoiNotFoundError` when fewer frames than this have a face (frames
        whose latest detector run found one).
    max_gap_s : float
        Torso: pose detections are interpolated across gaps up to this long (and held this long at the
        ends); beyond, the torso is derived from the face box.  Face gaps are always filled (the check
        above bounds how much is filled), with confidence halving per second from a detection.
    start_frame : int
        Video frame number of the first frame (for ``frame``/``time_s`` and messages).
    source : str, optional
        Name of the video for error messages.

    Returns
    -------
    RoiTrack

    Raises
    ------
    RoiNotFoundError
        No face in enough frames; the message lists the faceless frame ranges.
    InputError
        Bad arguments or chunks (not (t, H, W, 3) uint8, size changes, no frames).
    """
    if not 0.0 <= float(min_face_fraction) <= 1.0:
        raise InputError(f"min_face_fraction must be in [0, 1], got {min_face_fraction}")
    if not max_gap_s >= 0:
        raise InputError(f"max_gap_s must be ≥ 0, got {max_gap_s}")
    name = source or "video"
    frames: list[RoiFrame] = []
    with RoiTracker(detector, fallbacks=fallbacks, every=every, torso=torso, torso_every=torso_every, fps=fps,
                    roi=roi, min_cutoff_hz=min_cutoff_hz, beta=beta, max_hold_s=max_gap_s,
                    start_frame=start_frame, detector_kwargs=detector_kwargs) as tracker:
        for chunk in chunks:
            for frame in _check_chunk(chunk):
                frames.append(tracker.update(frame))
        chain = tracker.chain
    n = len(frames)
    if n == 0:
        raise InputError(f"{name}: no frames to detect regions in")
    w, h = frames[0].frame_size
    found = np.array([f.face_found for f in frames])
    fraction = float(found.mean())
    if roi == "face":
        _require_faces(frames, found, min_face_fraction, start_frame, name, chain)
    decay = lambda d: 0.5 ** (d / (fps * CONFIDENCE_HALF_LIFE_S))  # noqa: E731
    face = _FaceSeries.from_frames(frames)
    if roi == "face":
        face.fill(np.flatnonzero([f.face_status in MEASURED for f in frames]), decay)
    face_boxes = np.full((n, 4), -1, np.int32)
    for i in range(n):
        b = _int_box(face.boxes[i], (h, w)) if np.all(np.isfinite(face.boxes[i])) else None
        if b is not None:
            face_boxes[i] = b
    if roi == "full":
        torso_s = _TorsoSeries.full(n, (w, h))
    elif torso:
        torso_s = _TorsoSeries.track(frames, face, face_boxes, (w, h), int(round(max_gap_s * fps)), decay)
    else:
        torso_s = _TorsoSeries.empty(n)
    face_f, face_conf, face_det, face_status, points = face.boxes, face.conf, face.det, face.status, face.points
    t_boxes, t_conf, t_det, t_status = torso_s.boxes, torso_s.conf, torso_s.det, torso_s.status
    return RoiTrack(
        fps=float(fps), frame_size=(w, h), face_boxes=face_boxes, face_confidence=face_conf.astype(np.float32),
        face_detector=face_det.astype(str), face_status=face_status.astype(str), torso_boxes=t_boxes,
        torso_confidence=t_conf.astype(np.float32), torso_detector=t_det.astype(str),
        torso_status=t_status.astype(str), points=points, face_boxes_float=face_f.astype(np.float32),
        roi=roi, start_frame=int(start_frame), face_found_fraction=fraction if roi == "face" else 1.0,
        source=source)


def _require_faces(frames, found: np.ndarray, min_face_fraction: float, start_frame: int, name: str, chain) -> None:
    """:class:`RoiNotFoundError` when too few frames have a face (the message lists the faceless ranges)."""
    n = len(frames)
    fraction = float(found.mean())
    detected = [f.face_status == "detected" for f in frames]
    if not any(detected) or fraction < min_face_fraction:
        miss = start_frame + np.flatnonzero(~found)
        raise RoiNotFoundError(
            f"{name}: no face in {len(miss)} of {n} frames ({100 * (1 - fraction):.0f}%; frames "
            f"{frame_ranges(miss)} of {start_frame}–{start_frame + n - 1}; detector={'→'.join(chain)}); "
            f"need a face in ≥ {100 * min_face_fraction:.0f}% of frames (min_face_fraction); "
            f"use roi='full' (--roi full) to analyse the whole frame explicitly")


@dataclass
class _FaceSeries:
    """Per-frame face boxes (float), confidences, detectors, statuses and landmark points."""

    boxes: np.ndarray
    conf: np.ndarray
    det: np.ndarray
    status: np.ndarray
    points: list

    @classmethod
    def from_frames(cls, frames: list[RoiFrame]) -> _FaceSeries:
        n = len(frames)
        boxes, conf = np.full((n, 4), np.nan), np.full(n, np.nan)
        for i, f in enumerate(frames):
            if f.face_box_float is not None:
                boxes[i], conf[i] = f.face_box_float, f.face_confidence
        return cls(boxes, conf, np.array([f.face_detector for f in frames], dtype=object),
                   np.array([f.face_status for f in frames], dtype=object), [f.points for f in frames])

    def fill(self, detected: np.ndarray, decay) -> None:
        """Fill frames between detections (interpolated) and at the ends (held), confidence decaying."""
        for i, how in enumerate(_interp_fill(len(self.conf), detected, None)):
            if how is None:
                continue
            if how[0] == "interpolated":
                _, a, b, t = how
                near = a if t <= 0.5 else b
                self.boxes[i] = (1 - t) * self.boxes[a] + t * self.boxes[b]
                self.conf[i] = ((1 - t) * self.conf[a] + t * self.conf[b]) * decay(min(i - a, b - i))
                if self.det[a] == self.det[b] and self.points[a].shape == self.points[b].shape:
                    self.points[i] = ((1 - t) * self.points[a] + t * self.points[b]).astype(np.float32)
                else:
                    self.points[i] = _map_points(self.points[near], self.boxes[near], self.boxes[i]).astype(np.float32)
                self.det[i] = self.det[near]
            else:
                _, a = how
                self.boxes[i], self.points[i], self.det[i] = self.boxes[a], self.points[a], self.det[a]
                self.conf[i] = self.conf[a] * decay(abs(i - a))
            self.status[i] = how[0]


@dataclass
class _TorsoSeries:
    """Per-frame torso boxes (int, ``-1`` rows when missing), confidences, detectors and statuses."""

    boxes: np.ndarray
    conf: np.ndarray
    det: np.ndarray
    status: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _TorsoSeries:
        return cls(np.full((n, 4), -1, np.int32), np.full(n, np.nan), np.array([""] * n, dtype=object),
                   np.array(["missing"] * n, dtype=object))

    @classmethod
    def full(cls, n: int, size: tuple[int, int]) -> _TorsoSeries:
        t = cls.empty(n)
        t.boxes[:] = (0, 0, *size)
        t.conf[:] = 1.0
        t.det[:] = "full"
        t.status[:] = "full"
        return t

    @classmethod
    def track(cls, frames: list[RoiFrame], face: _FaceSeries, face_boxes: np.ndarray, size: tuple[int, int],
              max_gap: int, decay) -> _TorsoSeries:
        """Pose detections, interpolated across gaps up to ``max_gap`` frames and held as long at the ends;
        beyond, the torso derived from the face box; boxes must lie below the face."""
        n = len(frames)
        w, h = size
        t = cls.empty(n)
        anchors = np.flatnonzero([f.torso_status in MEASURED for f in frames])
        t_f = np.full((n, 4), np.nan)
        for i in anchors:
            t_f[i] = frames[i].torso_box
            t.conf[i] = frames[i].torso_confidence
            t.det[i], t.status[i] = "pose", frames[i].torso_status
        for i, how in enumerate(_interp_fill(n, anchors, max_gap)):
            if frames[i].torso_status in MEASURED:
                continue
            if how is not None and how[0] == "interpolated":
                _, a, b, k = how
                t_f[i] = (1 - k) * t_f[a] + k * t_f[b]
                t.conf[i] = ((1 - k) * t.conf[a] + k * t.conf[b]) * decay(min(i - a, b - i))
                t.det[i], t.status[i] = "pose", "interpolated"
            elif how is not None:
                a = how[1]
                t_f[i], t.conf[i] = t_f[a], t.conf[a] * decay(abs(i - a))
                t.det[i], t.status[i] = "pose", "held"
            elif face_boxes[i, 0] >= 0:
                box = torso_from_face(face.boxes[i], (h, w))
                if box is not None:
                    t_f[i] = box
                    t.conf[i] = DERIVED_TORSO_CONFIDENCE * face.conf[i]
                    t.det[i], t.status[i] = "face", "derived"
        for i in range(n):
            if np.all(np.isfinite(t_f[i])):
                b = _below(_int_box(t_f[i], (h, w)), None if face_boxes[i, 0] < 0 else tuple(face_boxes[i]))
                if b is not None:
                    t.boxes[i] = b
                else:
                    t.det[i], t.status[i], t.conf[i] = "", "missing", np.nan
        return t
