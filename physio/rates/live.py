"""Live heart and breathing rates: frames as they come, estimates every second from sliding windows.

:class:`LiveRates` takes one frame at a time (a camera, a stream, or a file played at its frame rate) and
keeps only per-frame scalars in bounded ring buffers — the skin's mean colour, whether the face was found,
the torso's vertical shift — so its memory does not grow with the session.  Every :data:`UPDATE_S` of
video time, once the first heart-rate window is full, it estimates

* **HR** from the last ``hr_window_s`` (default 10 s) of the skin mean by an rPPG method (POS by
  default; CHROM, GREEN): frames without a face are bridged as in ``physio rates``, and a window with
  less than :data:`MIN_VALID` of its frames usable gives ``hr_bpm: null`` ("no face");
* **BR** from the last ``br_window_s`` (default 30 s) of the torso's vertical motion
  (:func:`physio.rates.motion.frame_shift`, the estimator of ``--resp-method motion``), from half a window
  on (null before: "warming up");

each with its ``quality`` (SNR of its spectral peak, dB) and the wall-clock ``latency_ms`` from the arrival
of the window's last frame to the estimate.  The shipped PulseNet is not used live: it needs one fixed crop
over its whole window, which a moving live face does not give (``physio rates`` computes it from the
whole video).  The regions come from the same :class:`~physio.roi.tracking.RoiTracker` as ``physio rates``
(detector every 10th frame, optical flow between, re-detection when lost).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from physio.errors import InputError
from physio.rates.confidence import bridge, usable_means
from physio.rates.methods import RPPG_METHODS, check_method
from physio.rates.motion import frame_shift
from physio.rates.rppg import masked_mean, rppg_pulse
from physio.rates.waveform import band_for, estimate_rate, peak_snr_db

__all__ = ["UPDATE_S", "MIN_VALID", "SCAN_S", "LiveRates", "LiveFaces", "LiveFrame", "file_frames", "capture_frames", "stream_frames"]

UPDATE_S = 1.0
"""Seconds of video between two estimates."""

MIN_VALID = 0.5
"""A window with fewer usable frames than this fraction gives no estimate."""


@dataclass
class LiveFrame:
    """One frame of a live source: the RGB image, its time on the video's clock and its wall-clock arrival."""

    image: np.ndarray
    t: float
    arrival: float


class LiveRates:
    """Sliding-window HR/BR over a stream of frames (see the module notes).

    Parameters
    ----------
    fps : float
        The source's frame rate.
    method : {"pos", "chrom", "green"}
    hr_window_s, br_window_s : float
        Window lengths, s.
    update_s : float
        Seconds of video between estimates.
    bands : str
        Rate bands (``"deepmag"``, ``"rppg-toolbox"``, ``"mtts-can"``, ``"child"``, ``"infant"``).
    detector, every : str, int
        The face detector and its cadence (:class:`~physio.roi.tracking.RoiTracker`).
    """

    def __init__(self, fps: float, method: str = "pos", hr_window_s: float = 10.0, br_window_s: float = 30.0,
                 update_s: float = UPDATE_S, bands: str = "deepmag", detector: str = "mesh",
                 every: int | None = None) -> None:
        from physio.roi.tracking import RoiTracker  # noqa: PLC0415 - mediapipe only when measuring

        check_method(method, RPPG_METHODS, "live method")
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be > 0, got {fps}")
        if not (hr_window_s >= 4 and br_window_s >= 10 and update_s > 0):
            raise InputError(f"windows must be >= 4 s (HR) and >= 10 s (BR), update > 0; got {hr_window_s}, "
                             f"{br_window_s}, {update_s}")
        band_for("pulse", bands)  # validate the preset early
        self.fps, self.method, self.bands = float(fps), method, bands
        self.hr_n = int(round(hr_window_s * fps))
        self.br_n = int(round(br_window_s * fps))
        self.step = max(1, int(round(update_s * fps)))
        self.tracker = RoiTracker(detector, every=every, fps=fps)
        self._rgb: deque = deque(maxlen=self.hr_n)
        self._dy: deque = deque(maxlen=self.br_n)
        self._prev_grey: np.ndarray | None = None
        self._count = 0
        self.last_roi = None
        self.last_wave: np.ndarray | None = None  # the latest HR window's pulse waveform (for a display)

    def close(self) -> None:
        self.tracker.close()

    def __enter__(self) -> LiveRates:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _torso_shift(self, frame: np.ndarray, box) -> float:
        """Upward shift of the torso box since the previous frame (NaN without a box in both frames)."""
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        prev, self._prev_grey = self._prev_grey, grey
        if prev is None or box is None:
            return float("nan")
        x0, y0, x1, y1 = box
        if x1 - x0 < 16 or y1 - y0 < 16:
            return float("nan")
        return -frame_shift(prev[y0:y1, x0:x1].astype(np.float64), grey[y0:y1, x0:x1].astype(np.float64))[1]

    def push(self, frame: LiveFrame) -> dict | None:
        """Take the next frame; returns an estimate (a dict, the ``--json`` line) when one is due, else None."""
        img = frame.image
        roi = self.tracker.update(img)
        self.last_roi = roi
        found = roi.face_box is not None and roi.face_status != "missing"
        self._rgb.append(masked_mean(img, roi.face_mask(img)) if found else np.full(3, np.nan))
        self._dy.append(self._torso_shift(img, roi.torso_box if found else None))
        self._count += 1
        if self._count < self.hr_n or (self._count - self.hr_n) % self.step:
            return None
        return self._estimate(frame, roi)  # its latency: from this frame's arrival

    def _estimate(self, frame: LiveFrame, roi) -> dict:
        out: dict = {"t": round(frame.t, 3), "hr_bpm": None, "br_bpm": None, "quality": {"hr_db": None, "br_db": None},
                     "face_box": None if roi.face_box is None else [int(v) for v in roi.face_box]}
        rgb = np.asarray(self._rgb)
        ok = usable_means(rgb)
        out["valid_fraction"] = round(float(ok.mean()), 3)
        if ok.mean() < MIN_VALID:
            out["status"] = "no face"
            self.last_wave = None
        else:
            out["status"] = "ok"
            try:
                res = estimate_rate(rppg_pulse(bridge(rgb, ok, "live window"), self.fps, self.method), self.fps,
                                    "pulse", derivative=False, bands=self.bands, with_series=False)
                out["hr_bpm"] = round(float(res.rate_per_min), 2)
                out["quality"]["hr_db"] = round(float(peak_snr_db(res.waveform, self.fps, res.rate_per_min,
                                                                  res.band_hz, "pulse")), 2)
                self.last_wave = res.waveform
            except InputError as exc:
                out["status"] = f"no pulse: {exc}"
        dy = np.asarray(self._dy)
        have = np.isfinite(dy)
        if len(dy) < self.br_n // 2:
            out["br_status"] = "warming up"
        elif have.mean() < MIN_VALID:
            out["br_status"] = "no torso"
        else:
            try:
                res = estimate_rate(np.where(have, dy, 0.0), self.fps, "resp", derivative=True, bands=self.bands,
                                    with_series=False)
                out["br_bpm"] = round(float(res.rate_per_min), 2)
                out["quality"]["br_db"] = round(float(peak_snr_db(res.waveform, self.fps, res.rate_per_min,
                                                                  res.band_hz, "resp")), 2)
                out["br_status"] = "ok"
            except InputError as exc:
                out["br_status"] = str(exc)
        out["latency_ms"] = round(1000.0 * (time.perf_counter() - frame.arrival), 1)
        return out


def file_frames(path, realtime: bool = False, fps: float | None = None) -> tuple[float, Iterator[LiveFrame]]:
    """A video file as a live source: ``(fps, frames)``; ``realtime`` releases each frame at its time
    (the file played at its frame rate, as a camera would deliver it)."""
    from physio.io import VideoReader  # noqa: PLC0415

    reader = VideoReader(path, chunk_size=8, fps=fps)

    def gen():
        start = time.perf_counter()
        for i, img in enumerate(f for c in reader.chunks(prefetch=True) for f in c):
            t = i / reader.fps
            if realtime:
                wait = start + t - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            yield LiveFrame(img, t, time.perf_counter())

    return reader.fps, gen()


def capture_frames(source, what: str, fps: float | None = None) -> tuple[float, Iterator[LiveFrame]]:
    """A camera index or a stream URL through OpenCV's capture: ``(fps, frames)``; a source that cannot be
    opened is an :class:`InputError` (one line), not a silent empty stream."""
    from physio.roi.detectors import native_logs_quiet  # noqa: PLC0415

    with native_logs_quiet():  # OpenCV's and FFmpeg's own lines about a missing device or a refused connection
        cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        raise InputError(f"cannot open {what} (no such device, or it is busy / not permitted)")
    rate = fps or cap.get(cv2.CAP_PROP_FPS)
    if not (rate and np.isfinite(rate) and 1 <= rate <= 1000):
        cap.release()
        raise InputError(f"{what}: the frame rate is unknown; give it with --fps")

    def gen():  # the video's clock is the frame count (what the windows count); arrival is the wall clock
        i = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    return
                yield LiveFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), i / rate, time.perf_counter())
                i += 1
        finally:
            cap.release()

    return float(rate), gen()


def stream_frames(url: str, fps: float | None = None) -> tuple[float, Iterator[LiveFrame]]:
    """A network stream (``rtsp://``, ``http://`` …, anything FFmpeg reads) as a live source."""
    return capture_frames(url, f"stream {url}", fps)


SCAN_S = 1.0
"""Seconds between two multi-face scans of :class:`LiveFaces`."""


class LiveFaces:
    """Several people live: one :class:`LiveRates` per face, each on its own region of the frame.

    Every :data:`SCAN_S` BlazeFace finds the faces (:func:`physio.roi.faces.find_faces`'s linking: stable
    ids by overlap, never reused); until the first estimate every face found is measured at once, later
    a new face once it has been seen in two scans (one false detection does not disturb the others).  Each face is measured
    in its region (:func:`physio.roi.faces.face_regions`; the whole frame while it is alone); when the set
    of faces changes, a face whose region changes starts its windows again.  A face not seen for
    ``forget_s`` is dropped.  :meth:`push` returns, once a second after the first estimate, one line: the
    largest face's estimate at the top level (as ``physio live`` with one face) and ``faces``, every
    face's latest estimate with its ``id``, largest first.  ``scanner``: an object with ``detect_all(frame)``
    (default BlazeFace, full range); the other keywords go to each :class:`LiveRates`.
    """

    def __init__(self, fps: float, scan_s: float = SCAN_S, forget_s: float = 5.0, scanner=None, **kwargs) -> None:
        from physio.roi.detectors import FaceDetectionDetector, native_logs_quiet  # noqa: PLC0415

        self.fps, self.kwargs = float(fps), kwargs
        self.scan = max(1, int(round(scan_s * fps)))
        self.forget = max(self.scan, int(round(forget_s * fps)))
        self.step = max(1, int(round(kwargs.get("update_s", UPDATE_S) * fps)))
        with native_logs_quiet():
            self._det = scanner or FaceDetectionDetector(model_selection=1)
        self._own_det = scanner is None
        self.tracks: list = []
        self.members: dict[int, tuple[tuple | None, LiveRates]] = {}
        self.latest: dict[int, dict] = {}
        self._n = 0
        self._next_id = 0
        self._next_line: int | None = None

    def close(self) -> None:
        for _, live in self.members.values():
            live.close()
        if self._own_det:
            self._det.close()

    def __enter__(self) -> LiveFaces:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rescan(self, img: np.ndarray) -> None:
        from physio.roi.detectors import native_logs_quiet  # noqa: PLC0415
        from physio.roi.faces import face_regions, link_detections  # noqa: PLC0415

        with native_logs_quiet():
            dets = self._det.detect_all(img)
        known = {id(t) for t in self.tracks}
        link_detections(self.tracks, [d.box for d in dets], [d.confidence for d in dets], self._n)
        for t in sorted((t for t in self.tracks if id(t) not in known), key=lambda t: t.boxes[0][0]):
            t.id, self._next_id = self._next_id, self._next_id + 1  # ids are never reused
        self.tracks = [t for t in self.tracks if self._n - t.frames[-1] <= self.forget]
        warming = not self.latest  # until the first estimate every face found is taken at once
        wanted = [t for t in self.tracks if t.id in self.members or warming or len(t.frames) >= 2]
        for gone in set(self.members) - {t.id for t in wanted}:
            self.members.pop(gone)[1].close()
            self.latest.pop(gone, None)
        if not wanted:
            return
        regions = [None] if len(wanted) == 1 else face_regions(wanted, img.shape[:2])
        for tr, region in zip(wanted, regions):
            old = self.members.get(tr.id)
            if old is not None and old[0] == region:
                continue
            if old is not None:
                old[1].close()
                self.latest.pop(tr.id, None)
            self.members[tr.id] = (region, LiveRates(self.fps, **self.kwargs))

    def push(self, frame: LiveFrame) -> dict | None:
        img = frame.image
        if self._n % self.scan == 0:
            self._rescan(img)
        for fid, (region, live) in self.members.items():
            if region is None:
                sub = frame
            else:
                x0, y0, x1, y1 = region
                sub = LiveFrame(np.ascontiguousarray(img[y0:y1, x0:x1]), frame.t, frame.arrival)
            est = live.push(sub)
            if est is not None:
                if region is not None and est["face_box"] is not None:
                    b = est["face_box"]
                    est["face_box"] = [b[0] + region[0], b[1] + region[1], b[2] + region[0], b[3] + region[1]]
                est["region"] = None if region is None else list(region)
                self.latest[fid] = {"id": fid, **est}
        self._n += 1
        if not self.latest:
            return None
        if self._next_line is None:
            self._next_line = self._n
        if self._n < self._next_line:
            return None
        self._next_line = self._n + self.step
        area = {t.id: t.area for t in self.tracks}
        faces = sorted(self.latest.values(), key=lambda e: -area.get(e["id"], 0.0))
        return {**{k: v for k, v in faces[0].items() if k != "id"}, "t": round(frame.t, 3), "faces": faces}
