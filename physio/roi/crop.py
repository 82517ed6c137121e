"""The fixed crop a network is given: one box over a region's per-frame boxes.

`physio rates`, the cohort cache (``roi: detect:<region>``), DeepMag's automatic box and the
benchmarks all take a region's crop from here, so a network sees at run time the crop it was trained on.
"""

from __future__ import annotations

import numpy as np

from physio.errors import InputError
from physio.roi.tracking import roi_detect

__all__ = ["crop_box_union", "CROP_MARGIN", "track_crop", "detect_box"]


def crop_box_union(boxes: np.ndarray, shape_hw: tuple[int, int], margin: float = 0.1) -> tuple[int, int, int, int]:
    """One fixed box covering per-frame boxes ``(T, 4)`` (NaN rows ignored), grown by ``margin``."""
    b = np.asarray(boxes, dtype=float)
    b = b[np.all(np.isfinite(b), axis=1)]
    if not len(b):
        raise InputError("no region boxes to combine")
    x0, y0 = np.percentile(b[:, 0], 5), np.percentile(b[:, 1], 5)
    x1, y1 = np.percentile(b[:, 2], 95), np.percentile(b[:, 3], 95)
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = shape_hw
    return (int(max(0, np.floor(x0 - dx))), int(max(0, np.floor(y0 - dy))),
            int(min(w, np.ceil(x1 + dx))), int(min(h, np.ceil(y1 + dy))))


CROP_MARGIN = {"face": 0.1, "torso": 0.0}
"""Growth of the combined box `physio rates` crops for each region (train `detect:` networks with it)."""


def track_crop(track, region: str, shape_hw: tuple[int, int], margin: float | None = None) -> tuple[int, int, int, int]:
    """The fixed crop of ``region`` over a ``RoiTrack``: :func:`crop_box_union` of its per-frame boxes,
    grown by ``margin`` (default :data:`CROP_MARGIN`, as `physio rates`)."""
    return crop_box_union(track.boxes(region), shape_hw, margin=CROP_MARGIN[region] if margin is None else margin)


def detect_box(frames, fps: float, region: str = "face", margin: float | None = None,
               source: str | None = None) -> tuple[int, int, int, int]:
    """The fixed crop of ``region`` ("face" or "torso") that `physio rates` gives a network.

    ``frames``: an ``(T, H, W, 3)`` array or an iterable of such chunks (streamed).  The region tracker
    runs over them and :func:`track_crop` combines its per-frame boxes, grown by ``margin`` (default
    :data:`CROP_MARGIN`: 0.1 for the face, 0 for the torso, as `physio rates`).
    """
    if region not in ("face", "torso"):
        raise InputError(f"region must be 'face' or 'torso', got {region!r}")
    chunks = [frames] if isinstance(frames, np.ndarray) else frames
    shape: list = []

    def seen(it):
        for c in it:
            shape[:] = np.shape(c)[-3:-1]
            yield c

    track = roi_detect(seen(chunks), fps, roi="face", torso=region == "torso", source=source)
    return track_crop(track, region, tuple(shape), margin)

