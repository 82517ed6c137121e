"""Measuring heart and breathing rates from a video: ROI → representation → network (or rPPG) → rates.

The building blocks here take frame chunks and regions; :func:`measure_rates` strings them together
for ``physio rates``.  Everything streams: a video is read chunk by chunk (twice at most: once for the
regions, once for the signals), and only per-frame scalars or small representations are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from physio.errors import InputError
from physio.represent.compute import RepresentationSpec, crop

__all__ = ["cnn_signal", "RatesReport", "SCALE_SAMPLES"]

SCALE_SAMPLES = 512
"""Samples of the representation used to estimate its standardisation scale (≈ 17 s at 30 fps)."""


class CnnSignal:
    """Push-style :func:`cnn_signal`: ``push(chunk)`` frames as they are decoded, then ``result()``.

    Lets one decoding pass feed several consumers (``physio rates`` runs PulseNet and RespNet on the
    same pass).
    """

    def __init__(self, net: torch.nn.Module, spec: RepresentationSpec, box=None, device="cpu", batch: int = 256):
        from physio.represent.compute import RepresentationStream  # noqa: PLC0415

        self.net = net.to(device).eval()
        self.spec, self.device, self.batch = spec, device, batch
        self._rep = RepresentationStream(spec, box, device)
        self._pending: list[np.ndarray] = []
        self._scale: float | None = None
        self._out: list[np.ndarray] = []

    def _run(self, xs: list[np.ndarray]) -> None:
        x = np.concatenate(xs)
        with torch.no_grad():
            for s in range(0, len(x), self.batch):
                xb = torch.from_numpy(x[s : s + self.batch] / self._scale).to(self.device)
                self._out.append(self.net(xb).float().cpu().numpy())

    def _set_scale(self) -> None:
        allx = np.concatenate(self._pending)
        rms = float(np.sqrt(np.mean(np.square(allx, dtype=np.float64)))) or 1.0
        self._scale = rms if self.spec.standardize else 1.0
        self._run(self._pending)
        self._pending = []

    def push(self, chunk: np.ndarray) -> None:
        rep = self._rep.push(chunk)
        if rep is None or not len(rep):
            return
        if self._scale is None:
            self._pending.append(rep)
            if sum(len(p) for p in self._pending) >= SCALE_SAMPLES:
                self._set_scale()
        else:
            self._run([rep])

    def result(self) -> np.ndarray:
        if self._scale is None:
            if not self._pending:
                raise InputError("video too short: no frame pairs to measure")
            self._set_scale()
        return np.concatenate(self._out)


def cnn_signal(
    chunks: Iterable[np.ndarray],
    net: torch.nn.Module,
    spec: RepresentationSpec,
    box: tuple[int, int, int, int] | None = None,
    device: str | torch.device = "cpu",
    batch: int = 256,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Run a derivative-predicting network over a video; returns its output, one value per frame pair.

    Parameters
    ----------
    chunks : iterable of uint8 (t, H, W, 3)
        The video.
    net : nn.Module
        PulseNet/RespNet in eval mode.
    spec : RepresentationSpec
        The representation the network was trained on (from its checkpoint).
    box : (x0, y0, x1, y1), optional
        Fixed crop (None: the whole frame).
    progress : callable, optional
        Called with the number of frames consumed.

    Returns
    -------
    ndarray, shape (T-1,)
        The predicted derivative.  The input is standardised by the RMS of its first
        :data:`SCALE_SAMPLES` samples (networks are trained on per-session standardised inputs).
    """
    sig = CnnSignal(net, spec, box, device, batch)
    for c in chunks:
        if progress is not None:
            progress(len(c))
        sig.push(c)
    return sig.result()


@dataclass
class RatesReport:
    """What ``physio rates`` reports (its ``--json`` keys are a public contract)."""

    hr_bpm: float | None
    br_bpm: float | None
    hr_series: list = field(default_factory=list)
    br_series: list = field(default_factory=list)
    method: str = "cnn"
    fps: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "hr_bpm": self.hr_bpm,
            "br_bpm": self.br_bpm,
            "hr_series": [{"t": round(float(t), 3), "value": round(float(v), 3)} for t, v in self.hr_series],
            "br_series": [{"t": round(float(t), 3), "value": round(float(v), 3)} for t, v in self.br_series],
            "method": self.method,
            "fps": self.fps,
            **self.extra,
        }


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
    from physio.roi import roi_detect  # noqa: PLC0415

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


__all__ += ["crop_box_union", "crop", "CROP_MARGIN", "track_crop", "detect_box"]


# ---------------------------------------------------------------------------------------------------
# classical respiration estimate: vertical motion of the torso region
# ---------------------------------------------------------------------------------------------------
class TorsoMotion:
    """Push-style :func:`torso_motion_signal`: ``push(chunk)``, then ``result()``."""

    def __init__(self, box=None) -> None:
        self.box = box
        self._prev = None
        self._win = None
        self._out: list[float] = []

    def push(self, chunk: np.ndarray) -> None:
        import cv2  # noqa: PLC0415

        for frame in crop(np.asarray(chunk), self.box):
            g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)
            if self._win is None:
                self._win = cv2.createHanningWindow((g.shape[1], g.shape[0]), cv2.CV_64F)
            if self._prev is not None:
                (dx, dy), _ = cv2.phaseCorrelate(self._prev, g, self._win)
                self._out.append(-dy)
            self._prev = g

    def result(self) -> np.ndarray:
        if not self._out:
            raise InputError("video too short: no frame pairs to measure")
        return np.asarray(self._out)


def torso_motion_signal(chunks: Iterable[np.ndarray], box=None, progress=None) -> np.ndarray:
    """Vertical displacement (pixels) of a region between consecutive frames, by phase correlation.

    Returns ``(T-1,)`` per-frame-pair vertical shifts (positive: the region moves up), a derivative
    of the region's vertical position — the classical, network-free breathing signal.
    """
    tm = TorsoMotion(box)
    for chunk in chunks:
        if progress is not None:
            progress(len(chunk))
        tm.push(chunk)
    return tm.result()


class SkinMeans:
    """Per-frame mean colour of the tracked skin mask (whole frame without a track)."""

    def __init__(self, track) -> None:
        self.track = track
        self._means: list = []
        self._i = 0

    def push(self, chunk: np.ndarray) -> None:
        if self.track is None:  # whole frame: one vectorised mean per chunk
            self._means.extend(chunk.reshape(len(chunk), -1, 3).mean(1))
            return
        for frame in chunk:  # the skin mask is redrawn from each frame's landmarks
            m = self.track.face_mask(self._i, frame)
            self._means.append(frame[m].reshape(-1, 3).mean(0) if m.any() else np.full(3, np.nan))
            self._i += 1

    def result(self) -> np.ndarray:
        return np.asarray(self._means)

    def held(self, what: str) -> np.ndarray:
        """The means with frames without skin pixels holding the last valid value (leading ones the
        first); :class:`InputError` when no frame has any."""
        rgb = self.result()
        bad = ~np.isfinite(rgb).all(axis=1)
        if bad.all():
            raise InputError(f"{what}: the skin mask is empty in every frame")
        if bad.any():
            first = int(np.argmax(~bad))
            idx = np.where(~bad, np.arange(len(rgb)), first)
            np.maximum.accumulate(idx, out=idx)
            rgb = rgb[idx]
        return rgb


def _rate(signal, fps, source, derivative, bands):
    from physio.rates import estimate_rate  # noqa: PLC0415

    return estimate_rate(signal, fps, source, derivative=derivative, bands=bands)


def measure_rates(
    video,
    method: str = "cnn",
    resp_method: str = "cnn",
    roi: str = "face",
    detector: str = "mesh",
    every: int = 1,
    fps: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    pulse_model: str = "pulse_cnn",
    resp_model: str = "resp_cnn",
    bands: str = "deepmag",
    device: str | None = None,
    min_face_fraction: float = 0.5,
    progress: bool = True,
    track=None,
) -> tuple[RatesReport, dict]:
    """HR and BR of a video: ROI → representation → network (or rPPG / motion) → rates.

    Returns the report and a dict of arrays (``pulse_wave``, ``resp_wave``, their ``*_fs``, the ROI
    ``track``) for plots and CSVs.  ``track``: the ``RoiTrack`` a previous call on the same video (same
    ``start_s``/``end_s``/``fps``) returned, to run another method without detecting again.  See
    ``docs/rates.md`` and ``physio rates --help``.
    """
    from tqdm.auto import tqdm  # noqa: PLC0415

    from physio.io import VideoReader  # noqa: PLC0415
    from physio.magnify.base import resolve_device  # noqa: PLC0415
    from physio.models import load_net  # noqa: PLC0415

    if method not in ("cnn", "pos", "chrom", "green"):
        raise InputError(f"unknown method {method!r}; valid: cnn, pos, chrom, green")
    if resp_method not in ("cnn", "motion"):
        raise InputError(f"unknown resp method {resp_method!r}; valid: cnn, motion")
    if roi not in ("face", "full"):
        raise InputError(f"roi must be 'face' or 'full', got {roi!r}")
    dev = resolve_device(device)

    def reader():
        return VideoReader(video, chunk_size=64, start_s=start_s, end_s=end_s, fps=fps)

    r0 = reader()
    n, rate_fps, hw = r0.frame_count, r0.fps, (r0.height, r0.width)

    def bar(desc):
        return tqdm(total=n, desc=desc, unit="frame", disable=not progress, leave=False, dynamic_ncols=True)

    extra: dict = {"frames": n, "roi": roi, "video": str(video)}
    face_box = torso_box = None
    if roi == "face" and track is not None:
        if len(track) != n:
            raise InputError(f"the given ROI track has {len(track)} frames, the video {n}")
    elif roi == "face":
        from physio.roi import roi_detect  # noqa: PLC0415

        with bar("regions") as b:
            def counted(it):
                for c in it:
                    b.update(len(c))
                    yield c

            track = roi_detect(counted(reader().chunks()), rate_fps, roi="face", detector=detector, every=every,
                               min_face_fraction=min_face_fraction, source=str(video))
    if roi == "face":
        face_box = track_crop(track, "face", hw)
        has_torso = np.isfinite(np.asarray(track.boxes("torso"), float)).all(axis=1).any()
        torso_box = track_crop(track, "torso", hw) if has_torso else None
        extra["face_box"] = list(face_box)
        extra["torso_box"] = None if torso_box is None else list(torso_box)
        extra["roi_summary"] = track.summary()

    arrays: dict = {"fps": rate_fps, "track": track}
    # one decoding pass feeds the pulse and the respiration estimators
    def network(model, box):
        net, ckpt = load_net(model, dev)
        return CnnSignal(net, RepresentationSpec.from_dict(ckpt["representation"]), box, dev)

    pulse_sink = network(pulse_model, face_box) if method == "cnn" else SkinMeans(track)
    resp_sink = network(resp_model, torso_box) if resp_method == "cnn" else TorsoMotion(torso_box)
    if method == "cnn":
        extra["pulse_model"] = str(pulse_model)
    if resp_method == "cnn":
        extra["resp_model"] = str(resp_model)
    with bar(f"pulse ({'PulseNet' if method == 'cnn' else method.upper()}) + respiration "
             f"({'RespNet' if resp_method == 'cnn' else 'torso motion'})") as b:
        for chunk in reader().chunks():
            pulse_sink.push(chunk)
            resp_sink.push(chunk)
            b.update(len(chunk))
    if method == "cnn":
        pulse = _rate(pulse_sink.result(), rate_fps, "pulse", True, bands)
    else:
        from physio.rppg import rppg_pulse  # noqa: PLC0415

        rgb = pulse_sink.held(str(video))
        pulse = _rate(rppg_pulse(rgb, rate_fps, method), rate_fps, "pulse", False, bands)
    yr = resp_sink.result()
    try:
        resp = _rate(yr, rate_fps, "resp", True, bands)
    except InputError as exc:  # e.g. shorter than one breathing period
        resp = None
        extra["br_error"] = str(exc)
    report = RatesReport(
        hr_bpm=round(float(pulse.rate_per_min), 3),
        br_bpm=None if resp is None else round(float(resp.rate_per_min), 3),
        hr_series=pulse.series,
        br_series=[] if resp is None else resp.series,
        method=method,
        fps=rate_fps,
        extra={**extra, "resp_method": resp_method, "bands": bands, "device": str(dev)},
    )
    arrays["pulse_wave"] = pulse.waveform
    arrays["resp_wave"] = None if resp is None else resp.waveform
    return report, arrays


__all__ += ["torso_motion_signal", "TorsoMotion", "CnnSignal", "SkinMeans", "measure_rates"]
