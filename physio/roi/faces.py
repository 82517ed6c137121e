"""Several people in one video: every face, a stable id for each, and the region each is measured in.

:func:`find_faces` runs MediaPipe's BlazeFace (:class:`~physio.roi.detectors.FaceDetectionDetector`, which
returns every face of a frame) on :data:`SCAN_HZ` frames a second, links the detections from one scanned
frame to the next into tracks (greedy, by overlap with each track's last box, else by centre distance),
and keeps the tracks present in at least :data:`MIN_PRESENCE` of the scanned frames (a face seen once is
a false detection or a passer-by).  Ids are given in order of first appearance (left to right among
faces that appear together) and never change; the
list is ordered by face size (median box area), largest first.

:func:`face_regions` gives each face the part of the frame it is measured in: its boxes' union widened
to take in the shoulders (:data:`REGION_MARGINS`), then cut half-way between it and every other face
whose region it would overlap.  ``physio rates`` then runs the single-face pipeline on each region as
if it were the whole video (:mod:`physio.rates.faces`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from physio.errors import InputError

__all__ = ["SCAN_HZ", "MIN_PRESENCE", "REGION_MARGINS", "FaceTrack", "link_detections", "find_faces", "face_regions"]

SCAN_HZ = 2.0
"""Frames a second the multi-face detector runs on."""

MIN_PRESENCE = 0.3
"""A face found in fewer than this fraction of the scanned frames is not a person of the video."""

REGION_MARGINS = (1.0, 0.6, 1.0, 2.5)
"""A face's measuring region: its box widened by (left, top, right, bottom) × the face's width/height
(down to the chest for the breathing rate)."""

_MATCH_IOU = 0.2
_MATCH_CENTRE = 0.6  # without overlap: a detection whose centre is within this × the width of a track's last box


@dataclass
class FaceTrack:
    """One person's face over the scanned frames."""

    id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    presence: float = 0.0

    @property
    def box(self) -> np.ndarray:
        """Median ``(x0, y0, x1, y1)`` box."""
        return np.median(np.stack(self.boxes), axis=0)

    @property
    def area(self) -> float:
        b = self.box
        return float((b[2] - b[0]) * (b[3] - b[1]))

    @property
    def union(self) -> np.ndarray:
        """The box holding every detection of the track."""
        b = np.stack(self.boxes)
        return np.concatenate([b[:, :2].min(axis=0), b[:, 2:].max(axis=0)])

    def describe(self) -> dict:
        return {"id": self.id, "box": [round(float(v), 1) for v in self.box], "presence": round(self.presence, 3),
                "detector_confidence": round(float(np.mean(self.confidences)), 3)}


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union if union > 0 else 0.0


def link_detections(tracks: list[FaceTrack], boxes: list[np.ndarray], confs: list[float], frame: int) -> None:
    """Greedy assignment of one frame's detections to tracks (best overlap first); the rest start tracks."""
    pairs = []
    for i, tr in enumerate(tracks):
        last = tr.boxes[-1]
        w = last[2] - last[0]
        centre = (last[:2] + last[2:]) / 2
        for j, b in enumerate(boxes):
            iou = _overlap(last, b)
            dist = float(np.hypot(*((b[:2] + b[2:]) / 2 - centre)))
            if iou >= _MATCH_IOU or dist <= _MATCH_CENTRE * w:
                pairs.append((iou, -dist, i, j))
    used_t, used_d = set(), set()
    for _, _, i, j in sorted(pairs, reverse=True):
        if i in used_t or j in used_d:
            continue
        used_t.add(i)
        used_d.add(j)
        tracks[i].frames.append(frame)
        tracks[i].boxes.append(boxes[j])
        tracks[i].confidences.append(confs[j])
    for j, b in enumerate(boxes):
        if j not in used_d:
            tracks.append(FaceTrack(id=len(tracks), frames=[frame], boxes=[b], confidences=[confs[j]]))


def find_faces(chunks: Iterable[np.ndarray], fps: float, *, scan_hz: float = SCAN_HZ,
               min_presence: float = MIN_PRESENCE, min_confidence: float = 0.65, detector=None) -> list[FaceTrack]:
    """The faces of a video, largest first (see the module notes).

    Parameters
    ----------
    chunks : iterable of ndarray (t, H, W, 3) uint8 RGB
    fps : float
    scan_hz : float
        Frames a second the detector runs on.
    min_presence : float
        Fraction of the scanned frames a face must be found in.
    min_confidence : float
        BlazeFace's score threshold (as :class:`~physio.roi.detectors.FaceDetectionDetector`).
    detector : object with ``detect_all(frame)``, optional
        Default: BlazeFace's full-range model (faces near and far).

    Returns
    -------
    list of FaceTrack
        Ordered by median box area, largest first; ids by first appearance.
    """
    if not (scan_hz > 0 and fps > 0):
        raise InputError(f"scan_hz and fps must be > 0, got {scan_hz}, {fps}")
    if not 0.0 <= min_presence <= 1.0:
        raise InputError(f"min_presence must be in [0, 1], got {min_presence}")
    from physio.roi.detectors import FaceDetectionDetector, native_logs_quiet  # noqa: PLC0415 - mediapipe when scanning

    step = max(1, int(round(fps / scan_hz)))
    tracks: list[FaceTrack] = []
    scanned, index = 0, 0
    # the whole scan inside native_logs_quiet: MediaPipe's graph threads print their log lines
    # ("Feedback manager …") asynchronously, after a single process() call has returned
    with native_logs_quiet():
        own = detector is None
        if own:
            detector = FaceDetectionDetector(model_selection=1, min_detection_confidence=min_confidence)
        try:
            for chunk in chunks:
                for k in range((-index) % step, len(chunk), step):
                    dets = detector.detect_all(chunk[k])
                    link_detections(tracks, [d.box for d in dets], [d.confidence for d in dets], index + k)
                    scanned += 1
                index += len(chunk)
        finally:
            if own:
                detector.close()
    for tr in tracks:
        tr.presence = len(tr.frames) / max(scanned, 1)
    kept = [tr for tr in tracks if tr.presence >= min_presence]
    for new_id, tr in enumerate(sorted(kept, key=lambda t: (t.frames[0], t.boxes[0][0]))):
        tr.id = new_id
    return sorted(kept, key=lambda t: -t.area)


def face_regions(tracks: list[FaceTrack], shape: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """Each face's measuring region ``(x0, y0, x1, y1)`` in a frame of ``shape = (H, W)`` (module notes)."""
    h, w = shape
    ml, mt, mr, mb = REGION_MARGINS
    out = []
    for tr in tracks:
        u = tr.union
        fw, fh = u[2] - u[0], u[3] - u[1]
        r = np.array([u[0] - ml * fw, u[1] - mt * fh, u[2] + mr * fw, u[3] + mb * fh])
        for other in tracks:
            if other is tr:
                continue
            o = other.union
            if _overlap(r, o) == 0.0 and not (r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3]):
                continue
            # cut on the axis where the two faces are furthest apart, half-way across the gap between them
            gaps = {"left": u[0] - o[2], "right": o[0] - u[2], "up": u[1] - o[3], "down": o[1] - u[3]}
            side = max(gaps, key=gaps.get)
            if side == "left":
                r[0] = max(r[0], (u[0] + o[2]) / 2)
            elif side == "right":
                r[2] = min(r[2], (u[2] + o[0]) / 2)
            elif side == "up":
                r[1] = max(r[1], (u[1] + o[3]) / 2)
            else:
                r[3] = min(r[3], (u[3] + o[1]) / 2)
        x0, y0 = int(max(0, np.floor(r[0]))), int(max(0, np.floor(r[1])))
        x1, y1 = int(min(w, np.ceil(r[2]))), int(min(h, np.ceil(r[3])))
        if x1 - x0 < 8 or y1 - y0 < 8:
            raise InputError(f"face {tr.id}: no room to measure it (region {x0},{y0},{x1},{y1})")
        out.append((x0, y0, x1, y1))
    return out
