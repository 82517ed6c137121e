"""Optical-flow tracking of a region between detector runs.

A detector (FaceMesh ≈ 5 ms, Pose ≈ 24 ms a 640×480 frame on 2 cores) does not have to run on every
frame: :class:`RegionFlow` follows the region from frame to frame by pyramidal Lucas-Kanade flow
(OpenCV ``calcOpticalFlowPyrLK``) of corner features inside it, on a grey copy of the frame scaled to
at most :data:`FLOW_WIDTH` pixels wide, and returns the similarity transform (scale, rotation,
translation) that maps the region's points from the last frame to this one.  A point survives only if
tracking it back lands within :data:`FB_MAX_PX` of where it started (forward-backward check, Kalal et
al. 2010); the transform is a RANSAC fit to the survivors.  The tracker reports a loss (``None``) — so
that the caller runs the detector again at once — when fewer than :data:`MIN_POINTS` points or under
:data:`MIN_INLIER_FRACTION` of them survive, or the scale jumps by more than :data:`MAX_SCALE_STEP` in
one frame.  About 0.5 ms a frame at 640×480.

References
----------
Lucas, B. D., Kanade, T. (1981). An iterative image registration technique with an application to
stereo vision.  Bouguet, J.-Y. (2000). Pyramidal implementation of the Lucas Kanade feature tracker.
Kalal, Z., Mikolajczyk, K., Matas, J. (2010). Forward-backward error: automatic detection of tracking
failures.  Proc. ICPR.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["FLOW_WIDTH", "RegionFlow", "flow_grey", "apply_similarity", "box_similarity"]

FLOW_WIDTH = 320
"""Frames are tracked on a grey copy at most this wide (a 640×480 frame: 320×240)."""
MAX_FEATURES = 40
MIN_POINTS = 6
MIN_INLIER_FRACTION = 0.5
FB_MAX_PX = 1.0
"""Forward-backward error allowed, in pixels of the tracking copy."""
MAX_SCALE_STEP = 0.15
INNER = 0.15
"""Features are sought in the region's box shrunk by this fraction on each side (away from the
background at its edges)."""
_LK = dict(winSize=(15, 15), maxLevel=2, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))


def flow_grey(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """RGB uint8 frame → (grey copy at most :data:`FLOW_WIDTH` wide, its scale relative to the frame)."""
    h, w = frame.shape[:2]
    s = min(1.0, FLOW_WIDTH / w)
    small = frame if s == 1.0 else cv2.resize(frame, (max(1, round(w * s)), max(1, round(h * s))),
                                               interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), s


def apply_similarity(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2×3 transform to ``(K, 2)`` points."""
    if len(pts) == 0:
        return pts
    p = np.asarray(pts, np.float64)
    return (p @ m[:, :2].T + m[:, 2]).astype(np.asarray(pts).dtype)


def box_similarity(m: np.ndarray, box) -> np.ndarray:
    """A box ``(x0, y0, x1, y1)`` under a similarity transform: its centre moves, its size scales (the
    rotation turns the points, not the axis-aligned box)."""
    b = np.asarray(box, np.float64)
    c = apply_similarity(m, np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]]))[0]
    s = float(np.hypot(m[0, 0], m[1, 0]))
    hw, hh = s * (b[2] - b[0]) / 2, s * (b[3] - b[1]) / 2
    return np.array([c[0] - hw, c[1] - hh, c[0] + hw, c[1] + hh])


class RegionFlow:
    """Follow one region between detector runs: :meth:`seed` on a frame with a detection, then
    :meth:`step` on each following frame."""

    def __init__(self) -> None:
        self._grey: np.ndarray | None = None
        self._pts: np.ndarray | None = None  # (K, 1, 2) float32, tracking-copy pixels
        self._s = 1.0

    @property
    def seeded(self) -> bool:
        return self._pts is not None

    def reset(self) -> None:
        self._grey, self._pts = None, None

    def seed(self, grey: np.ndarray, scale: float, box) -> bool:
        """Pick features inside ``box`` (frame pixels) of this frame's tracking copy; False (and
        unseeded) when the region has too little texture to track."""
        self._grey, self._s = grey, scale
        h, w = grey.shape
        b = np.asarray(box, np.float64) * scale
        dx, dy = INNER * (b[2] - b[0]), INNER * (b[3] - b[1])
        x0, y0 = int(np.clip(b[0] + dx, 0, w)), int(np.clip(b[1] + dy, 0, h))
        x1, y1 = int(np.clip(b[2] - dx, 0, w)), int(np.clip(b[3] - dy, 0, h))
        self._pts = None
        if x1 - x0 < 8 or y1 - y0 < 8:
            return False
        mask = np.zeros_like(grey)
        mask[y0:y1, x0:x1] = 255
        dist = max(2, int(min(x1 - x0, y1 - y0) / 10))
        pts = cv2.goodFeaturesToTrack(grey, MAX_FEATURES, 0.01, dist, mask=mask, blockSize=5)
        if pts is None or len(pts) < MIN_POINTS:
            return False
        self._pts = pts.astype(np.float32)
        return True

    def step(self, grey: np.ndarray) -> np.ndarray | None:
        """The 2×3 similarity (frame pixels) from the previous frame to this one, or ``None`` when the
        region is lost (then unseeded: run the detector and :meth:`seed` again)."""
        if self._pts is None or self._grey is None or grey.shape != self._grey.shape:
            self.reset()
            return None
        p0 = self._pts
        p1, st, _ = cv2.calcOpticalFlowPyrLK(self._grey, grey, p0, None, **_LK)
        back, st_b, _ = cv2.calcOpticalFlowPyrLK(grey, self._grey, p1, None, **_LK)
        fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
        good = (st.ravel() == 1) & (st_b.ravel() == 1) & (fb < FB_MAX_PX)
        if good.sum() < MIN_POINTS or good.mean() < MIN_INLIER_FRACTION:
            self.reset()
            return None
        a, b = p0[good].reshape(-1, 2), p1[good].reshape(-1, 2)
        m, inl = cv2.estimateAffinePartial2D(a, b, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if m is None or inl is None or inl.sum() < MIN_POINTS:
            self.reset()
            return None
        s = float(np.hypot(m[0, 0], m[1, 0]))
        if abs(s - 1.0) > MAX_SCALE_STEP:
            self.reset()
            return None
        keep = inl.ravel() == 1
        self._grey, self._pts = grey, b[keep].reshape(-1, 1, 2).astype(np.float32)
        if len(self._pts) < MIN_POINTS:
            self.reset()
            return None
        # tracking-copy pixels → frame pixels: the linear part is unchanged, the shift scales by 1/s
        out = m.astype(np.float64).copy()
        out[:, 2] /= self._s
        return out
