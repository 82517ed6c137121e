"""Semi-real sessions: real video clips with a known pulse, breathing and head motion put into them.

A real clip supplies what the renderer of :mod:`physio.synth.cohort` cannot: a real face, real skin
texture, real camera noise and compression.  Its own physiology is unknown, so it is first taken out
and a known one is put in:

1. the first ``duration_s`` seconds are read (:class:`physio.io.VideoReader`, optionally resized);
2. the face, its skin and the torso are tracked with the project's ROI (:func:`physio.roi.roi_detect`);
3. every skin pixel loses its own 0.6–3.3 Hz colour content: a zero-phase Butterworth band-pass of the
   pixel's time series (over the skin's union bounding box) is subtracted where the per-frame skin
   mask is set, with a feathered edge (:func:`source_prepare`);
4. a PPG waveform with heart-rate variability (:func:`physio.synth.signals.pulse_simulate`) modulates
   the skin multiplicatively, ``C_k ← C_k · (1 + a · u_k · p(t))`` with ``u = (0.33, 0.77, 0.53) / 0.77``
   (green's relative amplitude is ``a``, the RMS of the relative modulation);
5. the torso region below the chin moves up and down with a respiration waveform
   (:func:`physio.synth.signals.resp_simulate`) through a smooth vertical displacement field
   (``cv2.remap``);
6. the whole frame follows the task's head motion (:func:`physio.synth.motion.head_motion`) as a 2-D
   similarity transform about the face centre (``cv2.warpAffine``, reflected border); the masks are
   warped identically;
7. ``pulse_x{α}`` / ``resp_x{α}`` are the same pipeline with the pulse / breathing amplitude × α.

:func:`semireal_session` renders one session in memory, :func:`semireal_cohort` writes a cohort file
(``physio synth --from-video``).  Randomness of a session depends only on ``(seed, clip index, task,
session index)``.  See ``docs/synthetic-data.md`` ("Semi-real sessions").
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import butter, sosfiltfilt
from tqdm import tqdm

from physio import __version__
from physio.cohort.format import CohortWriter, _check_name, file_sha256
from physio.errors import InputError, RoiNotFoundError
from physio.io import VideoReader, video_info
from physio.synth.cohort import (
    SIGNAL_OVERSAMPLING,
    _check_size,
    _check_task,
    _dominant_rate,
    _parse_tasks,
    _rate_from_onsets,
    _rate_from_peaks,
    variant_names,
)
from physio.synth.motion import TASKS, HeadMotion, head_motion
from physio.synth.participant import PULSE_RGB
from physio.synth.signals import pulse_simulate, resp_simulate

__all__ = [
    "REMOVAL_BAND_HZ",
    "HR_RANGE_SEMIREAL",
    "BR_RANGE_SEMIREAL",
    "MAX_CLIP_BYTES",
    "SourceClip",
    "SemiRealSession",
    "source_prepare",
    "semireal_session",
    "semireal_cohort",
    "clip_participant_names",
]

REMOVAL_BAND_HZ: tuple[float, float] = (0.6, 3.3)
"""Band of each skin pixel's own colour variation that is removed (36–198 /min)."""
REMOVAL_ORDER = 4
"""Butterworth order of the removal band-pass (a band-pass of order 2·4, applied forwards and backwards)."""
HR_RANGE_SEMIREAL: tuple[float, float] = (50.0, 110.0)
"""Injected heart rate, drawn uniformly (bpm)."""
BR_RANGE_SEMIREAL: tuple[float, float] = (8.0, 30.0)
"""Injected breathing rate, drawn uniformly (breaths/min)."""
PULSE_AMPLITUDE_RANGE: tuple[float, float] = (0.002, 0.005)
"""RMS relative green modulation of the skin, drawn uniformly (0.2–0.5 % of DC)."""
RESP_AMPLITUDE_RANGE_PX: tuple[float, float] = (0.5, 1.5)
"""Peak-to-peak (2nd–98th percentile) upward torso displacement, drawn uniformly (output px)."""
YAW_SHIFT = 0.2
"""Horizontal shift standing in for yaw: ``YAW_SHIFT · face width · sin(yaw)``."""
YAW_ROLL = 0.05
"""In-plane rotation standing in for yaw: ``YAW_ROLL · yaw`` (degrees)."""
MAX_LONG_SIDE = 640
"""Default frame size: the clip's own, scaled down so that its long side is at most this."""
MAX_CLIP_BYTES = 2_000_000_000
"""Refuse clips whose frames (``T × W × H × 3`` bytes) exceed this; the whole clip is held in memory."""
MIN_FACE_FRACTION = 0.8
"""A face must be found in at least this fraction of the frames."""

_TASK_ORDER = "ABCD"
_UNIT_RGB = np.asarray(PULSE_RGB, np.float32) / np.float32(PULSE_RGB[1])


# ---------------------------------------------------------------------------------------------------
# The source clip: read, track, clean
# ---------------------------------------------------------------------------------------------------
@dataclass
class SourceClip:
    """A real clip prepared for semi-real sessions (read, regions tracked, natural pulse removed).

    Attributes
    ----------
    path : Path
        The clip (never modified).
    sha256 : str
        Its SHA-256.
    name : str
        Participant name (from the file name; see :func:`clip_participant_names`).
    fps : float
    frames : ndarray (T, H, W, 3) uint8
        The clip as read (resized), *before* cleaning.
    bbox : (x0, y0, x1, y1)
        Where ``correction`` and ``pulse_weight`` live: the skin's union bounding box, padded.
    correction : ndarray (T, bh, bw, 3) float16
        What cleaning subtracts (the band-passed part × the feathered skin weight), in DN.
    pulse_weight : ndarray (T, bh, bw) float16
        Where the pulse is injected: the skin mask with its edge softened inwards (0 outside the skin).
    skin, face : ndarray (T, H, W) bool
        The skin mask of :meth:`physio.roi.RoiTrack.face_mask` and the convex hull of the face points.
    face_boxes : ndarray (T, 4) float
    torso_box : (x0, y0, x1, y1) or None
        Median torso box below the chin (None: no torso in view, no breathing).
    breath_field : ndarray (H, W) float32 or None
        The displacement weight: 1 on the torso, 0 above the chin and outside, smooth in between.
    shoulders : ndarray (H, W) bool
        Top band of the moving torso region (empty without a torso).
    background : ndarray (T, H, W) bool
        Conservative background: outside a padded head box, a neck column and the torso box.
    stats : dict
        ``inband_before``, ``inband_after`` (0.6–3.3 Hz power of the skin-mean green over the per-frame
        skin mask, before and after cleaning), their ratio ``removed_inband_ratio``, the same ratio over
        the pixels that are skin in every frame ``removed_inband_ratio_fixed_mask``,
        ``source_hr_bpm_spectral`` (the clip's own dominant rate before cleaning), detectors, sizes.
    """

    path: Path
    sha256: str
    name: str
    fps: float
    frames: np.ndarray
    bbox: tuple[int, int, int, int]
    correction: np.ndarray
    pulse_weight: np.ndarray
    skin: np.ndarray
    face: np.ndarray
    face_boxes: np.ndarray
    torso_box: tuple[int, int, int, int] | None
    breath_field: np.ndarray | None
    shoulders: np.ndarray
    background: np.ndarray
    stats: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])

    @property
    def face_centre(self) -> tuple[float, float]:
        b = np.nanmedian(self.face_boxes, axis=0)
        return float((b[0] + b[2]) / 2), float((b[1] + b[3]) / 2)

    @property
    def face_wh(self) -> tuple[float, float]:
        b = np.nanmedian(self.face_boxes, axis=0)
        return float(b[2] - b[0]), float(b[3] - b[1])

    def cleaned(self, i: int) -> np.ndarray:
        """Frame ``i`` without its skin's in-band colour content, float32 DN."""
        f = self.frames[i].astype(np.float32)
        x0, y0, x1, y1 = self.bbox
        f[y0:y1, x0:x1] -= self.correction[i]
        return f


def clip_participant_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Participant names for clips: the file stem, characters outside ``[A-Za-z0-9_.-]`` replaced by
    ``_``; repeated names get ``-2``, ``-3`` … (``face``, ``face-2`` for two ``face.mp4``)."""
    out: list[str] = []
    for i, p in enumerate(paths):
        stem = Path(p).stem
        name = "".join(c if (c.isascii() and (c.isalnum() or c in "_-.")) else "_" for c in stem).strip(".")
        if not name or name in (".", ".."):
            name = f"clip{i + 1}"
        base, k = name, 2
        while name in out:
            name, k = f"{base}-{k}", k + 1
        out.append(_check_name("participant", name))
    return out


def _resolve_size(w: int, h: int, size) -> tuple[int, int]:
    if size is not None:
        return _check_size(size)
    s = min(1.0, MAX_LONG_SIDE / max(w, h))
    return max(1, int(round(w * s))), max(1, int(round(h * s)))


def _band_power(x: np.ndarray, fs: float, band: tuple[float, float]) -> float:
    """Power of ``x`` (linearly detrended, Hann-windowed) inside ``band`` (Hz)."""
    t = np.arange(len(x), dtype=np.float64)
    y = x - np.polyval(np.polyfit(t, x, 1), t)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)))) ** 2
    f = np.fft.rfftfreq(len(y), 1.0 / fs)
    sel = (f >= band[0]) & (f <= band[1])
    return float(spec[sel].sum())


def _skin_mean_green(frame_fn, skin: np.ndarray) -> np.ndarray:
    return np.array([float(frame_fn(i)[..., 1][skin[i]].mean()) if skin[i].any() else np.nan
                     for i in range(len(skin))])


def _union_bbox(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    m = mask.any(axis=0)
    ys, xs = np.nonzero(m)
    h, w = m.shape
    return (max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad),
            min(w, int(xs.max()) + 1 + pad), min(h, int(ys.max()) + 1 + pad))


def _removal_weight(skin: np.ndarray) -> np.ndarray:
    """1 on the skin, fading to 0 over ~4 px outside it (dilate 2 px, Gaussian σ 1.5 px)."""
    m = skin.astype(np.uint8)
    d = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))).astype(np.float32)
    w = cv2.GaussianBlur(d, (0, 0), 1.5, borderType=cv2.BORDER_REPLICATE)
    return np.maximum(w, m.astype(np.float32))


def _pulse_weight(skin: np.ndarray) -> np.ndarray:
    """The skin mask with its edge softened inwards (Gaussian σ 1 px), exactly 0 outside the skin."""
    m = skin.astype(np.float32)
    return cv2.GaussianBlur(m, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE) * m


def _hull_mask(points: np.ndarray, box, shape) -> np.ndarray:
    h, w = shape
    out = np.zeros((h, w), np.uint8)
    if points is not None and len(points) >= 3:
        hull = cv2.convexHull(np.round(points).astype(np.int32).reshape(-1, 1, 2))
        cv2.fillConvexPoly(out, hull, 1)
    elif box is not None and np.all(np.isfinite(box)):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        out[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = 1
    return out.astype(bool)


def _breath_field(torso_box, chin_y: float, shape) -> np.ndarray:
    """1 on the torso box below the chin, 0 above the chin and outside the box, smooth edges."""
    h, w = shape
    x0, y0, x1, y1 = torso_box
    sigma = max(1.5, 0.02 * min(h, w))
    ramp = max(3.0, 0.03 * h)
    box = np.zeros((h, w), np.float32)
    box[int(y0):int(y1), int(x0):int(x1)] = 1.0
    f = cv2.GaussianBlur(box, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE)
    y = np.arange(h, dtype=np.float32)[:, None]
    f *= np.clip((y - float(chin_y)) / ramp, 0.0, 1.0)
    top = f.max()
    return (f / top).astype(np.float32) if top > 0 else f


def _torso_below_chin(track, chin_y: float, shape) -> tuple[tuple[int, int, int, int] | None, str]:
    """The median torso box cut to the rows below the chin, if the torso is in view in most frames."""
    h, w = shape
    boxes = track.boxes("torso")
    ok = np.all(np.isfinite(boxes), axis=1)
    if ok.mean() < 0.5:
        return None, "no torso region in most frames"
    x0, y0, x1, y1 = np.median(boxes[ok], axis=0)
    y0 = max(y0, chin_y)
    x0, y0, x1, y1 = int(np.floor(x0)), int(np.ceil(y0)), int(np.ceil(x1)), int(np.ceil(y1))
    x0, x1, y1 = max(0, x0), min(w, x1), min(h, y1)
    if y1 - y0 < max(4, int(0.04 * h)) or x1 - x0 < max(8, int(0.1 * w)):
        return None, f"torso region below the chin too small ({max(0, x1 - x0)}x{max(0, y1 - y0)} px)"
    return (x0, y0, x1, y1), ""


def source_prepare(
    path: str | os.PathLike,
    duration_s: float = 10.0,
    size=None,
    fps: float | None = None,
    name: str | None = None,
    max_bytes: int = MAX_CLIP_BYTES,
) -> SourceClip:
    """Read a real clip, track its face/skin/torso and remove its skin's own 0.6–3.3 Hz colour content.

    Parameters
    ----------
    path : path
        Video file (read only).
    duration_s : float
        Seconds read from the start (the whole clip if shorter).
    size : (w, h), str or None
        Output frame size (``"264x296"``); None: the clip's own, long side capped at 640.
    fps : float, optional
        Frame-rate override for files that do not declare one.
    name : str, optional
        Participant name (default: from the file name).
    max_bytes : int
        Refuse when ``T × W × H × 3`` exceeds this (the clip is held in memory whole).

    Raises
    ------
    InputError
        Unreadable/too short/too large clip, or no face in at least 80 % of the frames.
    """
    from physio.roi import roi_detect  # noqa: PLC0415 - loads MediaPipe

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such video file")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"duration must be positive, got {duration_s}")
    info = video_info(path, fps=fps)
    w, h = _resolve_size(info.width, info.height, size)
    rate = float(info.fps)
    if rate / 2 <= REMOVAL_BAND_HZ[1] * 1.05:
        raise InputError(f"{path}: {rate:g} fps is too low (the pulse band needs more than "
                         f"{2 * 1.05 * REMOVAL_BAND_HZ[1]:.1f} fps)")
    n_want = min(info.frame_count, int(round(duration_s * rate)))
    need = n_want * w * h * 3
    if need > max_bytes:
        raise InputError(f"{path}: {n_want} frames at {w}x{h} need {need / 1e9:.2f} GB in memory "
                         f"(limit {max_bytes / 1e9:.1f} GB); use a shorter --duration or a smaller --size")
    frames = VideoReader(path, end_s=duration_s, size=(w, h), fps=fps).read_all(max_bytes=max(max_bytes, 1))
    n = len(frames)
    if n < int(math.ceil(2.0 * rate)):
        raise InputError(f"{path}: only {n} frames ({n / rate:.2f} s); semi-real sessions need at least 2 s")
    try:
        track = roi_detect(iter([frames]), rate, roi="face", torso=True, min_face_fraction=MIN_FACE_FRACTION,
                           source=str(path))
    except RoiNotFoundError:
        raise InputError(f"{path}: no face found in at least {100 * MIN_FACE_FRACTION:.0f}% of the first "
                         f"{n / rate:.1f} s; --from-video needs a clip with a visible face") from None
    skin = np.stack([track.face_mask(i) for i in range(n)])
    if skin.sum(axis=(1, 2)).mean() < 50:
        raise InputError(f"{path}: the face is too small at {w}x{h} (under 50 skin pixels); use a larger --size")
    fb = track.boxes("face")  # NaN rows where missing
    face = np.stack([_hull_mask(track.points[i], track.face_boxes_float[i], (h, w)) for i in range(n)])

    # -- remove each skin pixel's own in-band colour content ----------------------------------------
    bbox = _union_bbox(skin, pad=6)
    x0, y0, x1, y1 = bbox
    bh, bw = y1 - y0, x1 - x0
    sos = butter(REMOVAL_ORDER, REMOVAL_BAND_HZ, btype="bandpass", fs=rate, output="sos")
    w_rm = np.stack([_removal_weight(skin[i, y0:y1, x0:x1]) for i in range(n)])
    correction = np.empty((n, bh, bw, 3), np.float16)
    rows = max(1, int(4_000_000 // (n * bw * 3)))
    padlen = min(n - 1, int(round(2 * rate)))
    for r in range(0, bh, rows):
        seg = frames[:, y0 + r : min(y1, y0 + r + rows), x0:x1].astype(np.float32)
        bp = sosfiltfilt(sos, seg, axis=0, padtype="odd", padlen=padlen)
        correction[:, r : r + rows] = (bp * w_rm[:, r : r + rows, :, None]).astype(np.float16)
        del seg, bp
    del w_rm
    pulse_weight = np.stack([_pulse_weight(skin[i, y0:y1, x0:x1]) for i in range(n)]).astype(np.float16)

    # -- torso, breathing field, shoulders, background ------------------------------------------------
    chin_y = float(np.nanmedian(fb[:, 3]))
    torso_box, torso_note = _torso_below_chin(track, chin_y, (h, w))
    det = [str(d) for d in track.torso_detector if str(d)]
    torso_detector = max(set(det), key=det.count) if det else ""
    if torso_box is not None:
        breath = _breath_field(torso_box, chin_y, (h, w))
        band = int(round(max(3, 0.10 * h)))
        shoulders = np.zeros((h, w), bool)
        tx0, ty0, tx1, ty1 = torso_box
        shoulders[ty0 : min(h, ty0 + band), tx0:tx1] = True
        shoulders &= breath >= 0.5
        if not shoulders.any():
            shoulders[ty0 : min(h, ty0 + band), tx0:tx1] = True
    else:
        breath, shoulders = None, np.zeros((h, w), bool)
    background = _background(fb, torso_box, (h, w))

    src = SourceClip(path=path, sha256=file_sha256(path), name=name or clip_participant_names([path])[0],
                     fps=rate, frames=frames, bbox=bbox, correction=correction, pulse_weight=pulse_weight,
                     skin=skin, face=face, face_boxes=fb, torso_box=torso_box, breath_field=breath,
                     shoulders=shoulders, background=background)  # fmt: skip

    # -- how much in-band power of the skin-mean green is left ---------------------------------------
    g_before = _skin_mean_green(lambda i: frames[i].astype(np.float32), skin)
    g_after = _skin_mean_green(src.cleaned, skin)
    ok = np.isfinite(g_before)
    g_before = np.interp(np.arange(n), np.flatnonzero(ok), g_before[ok])
    g_after = np.interp(np.arange(n), np.flatnonzero(ok), g_after[ok])
    p_before = _band_power(g_before, rate, REMOVAL_BAND_HZ)
    p_after = _band_power(g_after, rate, REMOVAL_BAND_HZ)
    always = skin.all(axis=0)  # the same measure over the pixels that are skin in every frame
    if always.any():
        f_before = frames[:, always, 1].astype(np.float64).mean(axis=1)
        f_after = np.array([src.cleaned(i)[always, 1].mean() for i in range(n)])
        pf = _band_power(f_before, rate, REMOVAL_BAND_HZ)
        fixed_ratio = _band_power(f_after, rate, REMOVAL_BAND_HZ) / pf if pf > 0 else 0.0
    else:
        fixed_ratio = float("nan")
    face_det = [str(d) for d in track.face_detector if str(d)]
    src.stats = {
        "inband_before": p_before,
        "inband_after": p_after,
        "removed_inband_ratio": p_after / p_before if p_before > 0 else 0.0,
        "removed_inband_ratio_fixed_mask": float(fixed_ratio),
        "source_hr_bpm_spectral": _dominant_rate(g_before, rate, (60 * REMOVAL_BAND_HZ[0], 60 * REMOVAL_BAND_HZ[1])),
        "source_size": [int(info.width), int(info.height)],
        "source_frames": int(info.frame_count),
        "face_detector": max(set(face_det), key=face_det.count) if face_det else "",
        "face_found_fraction": float(track.face_found_fraction),
        "torso_detector": torso_detector,
        "torso_note": torso_note,
        "skin_pixels_mean": float(skin.sum(axis=(1, 2)).mean()),
        "chin_y": chin_y,
    }
    return src


def _background(face_boxes: np.ndarray, torso_box, shape) -> np.ndarray:
    """Outside a padded head box (hair, ears), a neck column below it and the torso box, per frame."""
    h, w = shape
    out = np.ones((len(face_boxes), h, w), bool)
    for i, b in enumerate(face_boxes):
        if not np.all(np.isfinite(b)):
            continue
        x0, y0, x1, y1 = b
        fw, fh = x1 - x0, y1 - y0
        cx = (x0 + x1) / 2
        hx0, hx1 = int(np.floor(x0 - 0.3 * fw)), int(np.ceil(x1 + 0.3 * fw))
        hy0, hy1 = int(np.floor(y0 - 0.5 * fh)), int(np.ceil(y1 + 0.1 * fh))
        out[i, max(0, hy0) : max(0, hy1), max(0, hx0) : max(0, hx1)] = False
        nx0, nx1 = int(np.floor(cx - 0.4 * fw)), int(np.ceil(cx + 0.4 * fw))
        out[i, max(0, int(y1)) :, max(0, nx0) : max(0, nx1)] = False
        if torso_box is not None:
            tx0, ty0, tx1, ty1 = torso_box
            out[i, max(0, int(y1)) :, tx0:tx1] = False
    return out


# ---------------------------------------------------------------------------------------------------
# One session
# ---------------------------------------------------------------------------------------------------
def _session_seq(seed: int, clip_index: int, task: str, session_index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(int(seed), spawn_key=(int(clip_index), 1 + _TASK_ORDER.index(task),
                                                        int(session_index)))


def _warps(motion: HeadMotion, centre: tuple[float, float], face_wh: tuple[float, float]) -> np.ndarray:
    """``(T, 2, 3)`` similarity transforms (destination ← source) of the whole frame about the face centre:
    translation ``dx·face height + YAW_SHIFT·face width·sin(yaw)``, ``dy·face height``, rotation
    ``YAW_ROLL·yaw`` and the motion's scale."""
    fw, fh = face_wh
    out = np.empty((len(motion), 2, 3), np.float64)
    for i in range(len(motion)):
        yaw = float(motion.yaw_deg[i])
        m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), YAW_ROLL * yaw, float(motion.scale[i]))
        m[0, 2] += float(motion.dx[i]) * fh + YAW_SHIFT * fw * math.sin(math.radians(yaw))
        m[1, 2] += float(motion.dy[i]) * fh
        out[i] = m
    return out


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinate maps ``(x, y)`` for ``cv2.remap`` (read-only, shared)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


@dataclass
class _Plan:
    """Everything random of one session, and the renderer of its variants."""

    source: SourceClip
    task: str
    session_index: int
    clip_index: int
    seed: int
    magnified: tuple[float, ...]
    hr_bpm_nominal: float
    br_bpm_nominal: float
    amplitude: float
    resp_pp_px: float
    rsa: float
    ibi_randomness: float
    pulse: np.ndarray  # (N,) z-scored, at 4·fps
    resp: np.ndarray  # (N,) upward px at 4·fps (zeros without a torso)
    motion: HeadMotion
    warps: np.ndarray  # (T, 2, 3)
    beat_times: np.ndarray = field(default_factory=lambda: np.zeros(0))  # s, systolic maxima of the pulse

    @property
    def signal_fs(self) -> float:
        return SIGNAL_OVERSAMPLING * self.source.fps

    @property
    def resp_injected(self) -> bool:
        return self.source.breath_field is not None

    def warped(self, i: int) -> bool:
        return not np.array_equal(self.warps[i], _IDENTITY)

    def render(self, i: int, pulse_gain: float = 1.0, resp_gain: float = 1.0) -> np.ndarray:
        """Frame ``i`` of the variant with the pulse × ``pulse_gain`` and the breathing × ``resp_gain``."""
        src = self.source
        f = src.cleaned(i)
        x0, y0, x1, y1 = src.bbox
        p = float(self.pulse[SIGNAL_OVERSAMPLING * i])
        mod = (pulse_gain * self.amplitude * p) * _UNIT_RGB
        f[y0:y1, x0:x1] *= 1.0 + src.pulse_weight[i].astype(np.float32)[..., None] * mod
        if src.breath_field is not None:
            d = resp_gain * float(self.resp[SIGNAL_OVERSAMPLING * i])
            if d != 0.0:
                gx, gy = _grid(*src.breath_field.shape)
                f = cv2.remap(f, gx, gy + np.float32(d) * src.breath_field, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT_101)
        if self.warped(i):
            w, h = src.size
            f = cv2.warpAffine(f, self.warps[i], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        return np.clip(np.rint(f), 0, 255).astype(np.uint8)

    def chunks(self, pulse_gain: float, resp_gain: float, chunk: int = 32) -> Iterator[np.ndarray]:
        n = self.source.n_frames
        for a in range(0, n, chunk):
            yield np.stack([self.render(i, pulse_gain, resp_gain) for i in range(a, min(n, a + chunk))])

    def warp_mask(self, mask: np.ndarray, i: int) -> np.ndarray:
        """A source-frame mask (H, W) bool moved by frame ``i``'s head warp (bilinear, ≥ 0.5)."""
        if not self.warped(i):
            return mask
        w, h = self.source.size
        m = cv2.warpAffine(mask.astype(np.uint8) * np.uint8(255), self.warps[i], (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT_101)
        return m >= 128

    def masks(self) -> dict[str, np.ndarray]:
        """``skin``, ``face``, ``torso``, ``background`` (T, H, W) and ``shoulders`` ((H, W) when nothing
        moves, else (T, H, W)), all uint8 0/255, in the coordinates of the rendered frames."""
        src = self.source
        n = src.n_frames
        w, h = src.size
        torso = np.zeros((h, w), bool)
        if src.torso_box is not None:
            tx0, ty0, tx1, ty1 = src.torso_box
            torso[ty0:ty1, tx0:tx1] = True
        moving = any(self.warped(i) for i in range(n))
        out = {k: np.empty((n, h, w), np.uint8) for k in ("skin", "face", "torso", "background")}
        if moving:
            out["shoulders"] = np.empty((n, h, w), np.uint8)
        for i in range(n):
            out["skin"][i] = self.warp_mask(src.skin[i], i) * np.uint8(255)
            out["face"][i] = self.warp_mask(src.face[i], i) * np.uint8(255)
            out["torso"][i] = self.warp_mask(torso, i) * np.uint8(255)
            out["background"][i] = self.warp_mask(src.background[i], i) * np.uint8(255)
            if moving:
                out["shoulders"][i] = self.warp_mask(src.shoulders, i) * np.uint8(255)
        if not moving:
            out["shoulders"] = src.shoulders.astype(np.uint8) * np.uint8(255)
        return out

    def attrs(self) -> dict:
        src = self.source
        fs = self.signal_fs
        centre = np.array(src.face_centre)
        moved = np.einsum("tij,j->ti", self.warps[:, :, :2], centre) + self.warps[:, :, 2] - centre
        out = {
            "semi_real": True,
            "generator": f"physio.synth.semireal {__version__}",
            "task_description": TASKS[self.task],
            "source_video": str(src.path.resolve()),
            "source_sha256": src.sha256,
            "source_start_s": 0.0,
            "source_size": list(src.stats.get("source_size", [])),
            "duration_s": src.n_frames / src.fps,
            "seed": int(self.seed),
            "clip_index": int(self.clip_index),
            "session_index": int(self.session_index),
            "magnified": [float(a) for a in self.magnified],
            "hr_bpm": round(_rate_from_peaks(self.pulse, fs, self.hr_bpm_nominal), 3),
            "hr_bpm_spectral": round(_dominant_rate(self.pulse, fs, (40.0, 130.0)), 3),
            "hr_bpm_nominal": round(self.hr_bpm_nominal, 3),
            "rsa": self.rsa,
            "ibi_randomness": self.ibi_randomness,
            "pulse_amplitude": self.amplitude,
            "pulse_rgb": [float(self.amplitude * k) for k in _UNIT_RGB],
            "resp_injected": bool(self.resp_injected),
            "resp_amplitude_px": float(self.resp_pp_px) if self.resp_injected else 0.0,
            "removed_inband_ratio": float(src.stats["removed_inband_ratio"]),
            "removed_inband_ratio_fixed_mask": float(src.stats["removed_inband_ratio_fixed_mask"]),
            "removal_band_hz": list(REMOVAL_BAND_HZ),
            "source_hr_bpm_spectral": round(float(src.stats["source_hr_bpm_spectral"]), 3),
            "face_detector": src.stats["face_detector"],
            "torso_detector": src.stats["torso_detector"] if self.resp_injected else "",
            "natural_motion": 0.0,
            "head_shift_max_px": float(np.hypot(*moved.T).max()),
            "yaw_min_deg": float(self.motion.yaw_deg.min()),
            "yaw_max_deg": float(self.motion.yaw_deg.max()),
        }
        if self.resp_injected:
            resp_unit = self.resp / self.resp_pp_px
            out["br_bpm"] = round(_rate_from_onsets(resp_unit, fs, self.br_bpm_nominal), 3)
            out["br_bpm_spectral"] = round(_dominant_rate(resp_unit, fs, (6.0, 34.0)), 3)
            out["br_bpm_nominal"] = round(self.br_bpm_nominal, 3)
        else:
            out["resp_note"] = f"no breathing injected: {src.stats.get('torso_note') or 'no torso in view'}"
        return out


def _plan(source: SourceClip, task: str, session_index: int, clip_index: int, seed: int,
          magnified: Sequence[float], natural_motion: float = 0.0) -> _Plan:
    task = _check_task(task)
    mags = tuple(float(a) for a in magnified)
    variant_names(mags)
    kids = _session_seq(seed, clip_index, task, session_index).spawn(4)
    g = np.random.default_rng(kids[0])
    hr = float(g.uniform(*HR_RANGE_SEMIREAL))
    br = float(g.uniform(*BR_RANGE_SEMIREAL))
    amp = float(g.uniform(*PULSE_AMPLITUDE_RANGE))
    resp_pp = float(g.uniform(*RESP_AMPLITUDE_RANGE_PX))
    rsa = float(g.uniform(0.02, 0.1))
    ibi = float(g.uniform(0.03, 0.2))
    n = source.n_frames
    fs = SIGNAL_OVERSAMPLING * source.fps
    N = SIGNAL_OVERSAMPLING * n
    pulse, beats = pulse_simulate(N, fs, hr, rsa, ibi, rng=kids[1], return_beats=True)
    resp_unit = resp_simulate(N, fs, br, rng=kids[2])
    resp = resp_unit * resp_pp if source.breath_field is not None else np.zeros(N)
    motion = head_motion(task, n, source.fps, rng=kids[3], natural=natural_motion)
    warps = _warps(motion, source.face_centre, source.face_wh)
    return _Plan(source=source, task=task, session_index=int(session_index), clip_index=int(clip_index),
                 seed=int(seed), magnified=mags, hr_bpm_nominal=hr, br_bpm_nominal=br, amplitude=amp,
                 resp_pp_px=resp_pp, rsa=rsa, ibi_randomness=ibi, pulse=pulse, resp=resp, motion=motion,
                 warps=warps, beat_times=beats)  # fmt: skip


@dataclass
class SemiRealSession:
    """A semi-real session in memory (the arrays :func:`semireal_cohort` writes).

    Attributes
    ----------
    frames : ndarray (T, H, W, 3) uint8
    videos : dict
        ``pulse_x{α}``, ``resp_x{α}``.
    masks : dict
        uint8 0/255: ``skin``, ``face``, ``torso``, ``background`` (T, H, W); ``shoulders`` (H, W) or (T, H, W).
    pulse, resp : ndarray
        At ``signal_fs = 4 × fps``: z-scored injected pulse and upward torso displacement (px; zeros
        when no breathing was injected).
    attrs : dict
    warps : ndarray (T, 2, 3)
        Per-frame head-motion transform (destination ← source pixel coordinates).
    beat_times : ndarray (B,)
        s: the systolic maxima of the injected pulse (the truth of heart-rate variability).
    """

    participant: str
    task: str
    fps: float
    frames: np.ndarray
    videos: dict
    masks: dict
    pulse: np.ndarray
    resp: np.ndarray
    signal_fs: float
    attrs: dict
    warps: np.ndarray
    motion: HeadMotion
    beat_times: np.ndarray = field(default_factory=lambda: np.zeros(0))


def semireal_session(source: SourceClip, task: str = "A", session_index: int = 0, seed: int = 0,
                     magnified: Sequence[float] = (), clip_index: int = 0) -> SemiRealSession:
    """Render one semi-real session of a prepared clip (see :func:`source_prepare`) in memory."""
    plan = _plan(source, task, session_index, clip_index, seed, magnified)
    vids = {}
    for name, gp, gr in variant_names(plan.magnified):
        vids[name] = np.concatenate(list(plan.chunks(gp, gr)))
    frames = vids.pop("frames")
    return SemiRealSession(participant=source.name, task=plan.task, fps=source.fps, frames=frames, videos=vids,
                           masks=plan.masks(), pulse=plan.pulse, resp=plan.resp, signal_fs=plan.signal_fs,
                           attrs=plan.attrs(), warps=plan.warps, motion=plan.motion,
                           beat_times=plan.beat_times)  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Cohorts
# ---------------------------------------------------------------------------------------------------
def _session_name(task: str, k: int, per_video: int) -> str:
    return f"task_{task}" if per_video == 1 else f"task_{task}_s{k + 1}"


def semireal_cohort(
    out_path: str | os.PathLike,
    videos: Iterable[str | os.PathLike],
    sessions_per_video: int = 1,
    tasks: str | Iterable[str] = "ABCD",
    seed: int = 0,
    magnified: Sequence[float] = (),
    duration_s: float = 10.0,
    size=None,
    fps: float | None = None,
    compression: str | None = "lzf",
    progress: bool = True,
) -> Path:
    """Write a cohort of semi-real sessions: each clip is a participant, with ``sessions_per_video``
    sessions of every task.

    Parameters
    ----------
    out_path : path
        Destination ``.h5`` (written atomically; no file on failure).
    videos : iterable of path or SourceClip
        Real clips with a visible face (never modified), or clips already prepared by
        :func:`source_prepare` (then ``duration_s``, ``size`` and ``fps`` do not apply to them).
    sessions_per_video : int
        Sessions per clip and task (names ``task_A`` when 1, else ``task_A_s1``, ``task_A_s2`` …).
    tasks : str or iterable of str
        Among ``A``–``D`` (see :mod:`physio.synth.motion`).
    seed : int
        Session ``k`` of task ``X`` of clip ``i`` draws from ``SeedSequence(seed, spawn_key=(i, 1 +
        "ABCD".index(X), k))``.
    magnified : sequence of float
        Factors α for the ground-truth renderings ``pulse_x{α}`` and ``resp_x{α}``.
    duration_s, size, fps :
        As in :func:`source_prepare`.
    compression : str or None
        HDF5 filter of frames and masks (``"lzf"`` default, ``"gzip"``, None).
    progress : bool
        tqdm bar over sessions on stderr.
    """
    items = list(videos)
    paths = [v.path if isinstance(v, SourceClip) else Path(v) for v in items]
    if not paths:
        raise InputError("--from-video needs at least one video")
    for p in paths:
        if not p.is_file():
            raise InputError(f"{p}: no such video file")
    per = int(sessions_per_video)
    if per < 1:
        raise InputError(f"sessions per video must be >= 1, got {sessions_per_video}")
    task_list = _parse_tasks(tasks)
    mags = tuple(float(a) for a in magnified)
    names = variant_names(mags)
    if size is not None:
        size = _check_size(size)
    pnames = clip_participant_names(paths)
    out_path = Path(out_path)
    for p in paths:
        if out_path.resolve() == p.resolve():
            raise InputError(f"{out_path}: the cohort would overwrite the input {p}")
    root_attrs = {
        "generator": f"physio.synth.semireal {__version__}",
        "semi_real": True,
        "seed": int(seed),
        "sources": [str(p.resolve()) for p in paths],
        "tasks": "".join(task_list),
        "sessions_per_video": per,
        "duration_s": float(duration_s),
        "magnified": [float(a) for a in mags],
    }
    desc = f"semi-real cohort: {len(paths)} clips x tasks {''.join(task_list)} x {per}, {duration_s:g} s"
    bar = tqdm(total=len(paths) * len(task_list) * per, desc="physio synth --from-video", unit="session",
               disable=not progress)
    try:
        with CohortWriter(out_path, description=desc, compression=compression, attrs=root_attrs) as wr:
            for ci, (item, path, pname) in enumerate(zip(items, paths, pnames)):
                bar.set_postfix_str(f"reading {pname}")
                if isinstance(item, SourceClip):
                    src = dataclasses.replace(item, name=pname)  # shallow: the arrays are shared
                else:
                    src = source_prepare(path, duration_s=duration_s, size=size, fps=fps, name=pname)
                p_attrs = {"source_video": str(path.resolve()), "source_sha256": src.sha256, "semi_real": True,
                           "removed_inband_ratio": float(src.stats["removed_inband_ratio"]),
                           "source_hr_bpm_spectral": float(src.stats["source_hr_bpm_spectral"])}
                for task in task_list:
                    for k in range(per):
                        bar.set_postfix_str(f"{pname} {task}{k + 1}")
                        _write_session(wr, src, task, k, ci, seed, mags, names, per, p_attrs)
                        bar.update(1)
                del src
    finally:
        bar.close()
    return out_path


def _write_session(wr: CohortWriter, src: SourceClip, task: str, k: int, ci: int, seed: int, mags, names, per: int,
                   p_attrs: dict) -> None:
    plan = _plan(src, task, k, ci, seed, mags)
    grp = wr.add_session(
        src.name,
        _session_name(plan.task, k, per),
        fps=src.fps,
        task=plan.task,
        frames=plan.chunks(1.0, 1.0),
        pulse=plan.pulse,
        pulse_fs=plan.signal_fs,
        pulse_kind="ppg",
        resp=plan.resp,
        resp_fs=plan.signal_fs,
        resp_kind="respiration",
        participant_attrs=p_attrs,
        attrs=plan.attrs(),
        videos={name: plan.chunks(gp, gr) for name, gp, gr in names if name != "frames"},
        masks=plan.masks(),
    )
    grp["pulse"].attrs["unit"] = "z-score of the injected pulse p(t) (skin brighter when larger)"
    grp["resp"].attrs["unit"] = "px, upward torso displacement" if plan.resp_injected else "none injected (zeros)"
    mo = plan.motion
    sg = grp.create_group("synth")
    sg.attrs["description"] = "per-frame head motion applied to the whole frame (frame clock)"
    fw, fh = src.face_wh
    sg.create_dataset("head_yaw_deg", data=mo.yaw_deg.astype(np.float32))
    sg.create_dataset("head_dx_px", data=(mo.dx * fh).astype(np.float32))
    sg.create_dataset("head_dy_px", data=(mo.dy * fh).astype(np.float32))
    sg.create_dataset("head_scale", data=mo.scale.astype(np.float32))
    sg.create_dataset("warp", data=plan.warps.astype(np.float32))
    bt = sg.create_dataset("beat_times", data=np.asarray(plan.beat_times, np.float64))
    bt.attrs["unit"] = "s, session clock: systolic maxima of the injected pulse (heart-rate variability truth)"
