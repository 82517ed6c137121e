"""Measuring heart and breathing rates from a video: ROI → representation → network (or rPPG) → rates.

The building blocks here take frame chunks and regions; :func:`measure_rates` strings them together
for ``physio rates``.  Everything streams: a video is read chunk by chunk (twice at most: once for the
regions, once for the signals), and only per-frame scalars or small representations are kept.  The
estimators by name are in :mod:`physio.rates.methods`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from physio.device import resolve_device
from physio.errors import InputError
from physio.io import VideoReader
from physio.nets.weights import load_net
from physio.rates.methods import PULSE_METHODS, RESP_METHODS, check_method
from physio.rates.motion import TorsoMotion
from physio.rates.rppg import rppg_pulse
from physio.rates.waveform import RateResult, estimate_rate
from physio.represent.compute import RepresentationSpec, RepresentationStream
from physio.roi.crop import track_crop
from physio.roi.tracking import RoiTrack, roi_detect

__all__ = ["cnn_signal", "CnnSignal", "SkinMeans", "RatesReport", "SCALE_SAMPLES", "measure_rates"]

SCALE_SAMPLES = 512
"""Samples of the representation used to estimate its standardisation scale (≈ 17 s at 30 fps)."""


class CnnSignal:
    """Push-style :func:`cnn_signal`: ``push(chunk)`` frames as they are decoded, then ``result()``.

    Lets one decoding pass feed several consumers (``physio rates`` runs PulseNet and RespNet on the
    same pass).
    """

    def __init__(self, net: torch.nn.Module, spec: RepresentationSpec, box=None, device="cpu", batch: int = 256):
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


def _progress_bar(n: int, desc: str, progress: bool):
    return tqdm(total=n, desc=desc, unit="frame", disable=not progress, leave=False, dynamic_ncols=True)


def _counted(chunks: Iterable[np.ndarray], bar) -> Iterable[np.ndarray]:
    for c in chunks:
        bar.update(len(c))
        yield c


@dataclass
class _Regions:
    """Where `physio rates` measures: the tracked regions and the fixed crops the networks get."""

    track: RoiTrack | None = None
    face_box: tuple[int, int, int, int] | None = None
    torso_box: tuple[int, int, int, int] | None = None

    def describe(self) -> dict:
        if self.track is None:
            return {}
        return {"face_box": list(self.face_box), "torso_box": None if self.torso_box is None else list(self.torso_box),
                "roi_summary": self.track.summary()}


def _find_regions(reader: Callable[[], VideoReader], n: int, hw: tuple[int, int], fps: float, video, *,
                  roi: str, detector: str, every: int, min_face_fraction: float, track, progress: bool) -> _Regions:
    """Step 1: track the face (and torso) over the whole video, or take a given track; ``roi="full"``:
    no regions (the whole frame)."""
    if roi == "full":
        return _Regions()
    if track is not None:
        if len(track) != n:
            raise InputError(f"the given ROI track has {len(track)} frames, the video {n}")
    else:
        with _progress_bar(n, "regions", progress) as bar:
            track = roi_detect(_counted(reader().chunks(), bar), fps, roi="face", detector=detector, every=every,
                               min_face_fraction=min_face_fraction, source=str(video))
    has_torso = np.isfinite(np.asarray(track.boxes("torso"), float)).all(axis=1).any()
    return _Regions(track, track_crop(track, "face", hw), track_crop(track, "torso", hw) if has_torso else None)


def _network_sink(model: str, box, dev) -> CnnSignal:
    net, ckpt = load_net(model, dev)
    return CnnSignal(net, RepresentationSpec.from_dict(ckpt["representation"]), box, dev)


def _signals(reader: Callable[[], VideoReader], n: int, regions: _Regions, *, method: str, resp_method: str,
             pulse_model: str, resp_model: str, dev, progress: bool):
    """Step 2: one decoding pass feeds the pulse and the respiration estimators; returns both sinks."""
    pulse_sink = _network_sink(pulse_model, regions.face_box, dev) if method == "cnn" else SkinMeans(regions.track)
    resp_sink = _network_sink(resp_model, regions.torso_box, dev) if resp_method == "cnn" else TorsoMotion(regions.torso_box)
    desc = (f"pulse ({'PulseNet' if method == 'cnn' else method.upper()}) + respiration "
            f"({'RespNet' if resp_method == 'cnn' else 'torso motion'})")
    with _progress_bar(n, desc, progress) as bar:
        for chunk in reader().chunks():
            pulse_sink.push(chunk)
            resp_sink.push(chunk)
            bar.update(len(chunk))
    return pulse_sink, resp_sink


def _rates(pulse_sink, resp_sink, fps: float, method: str, bands: str, video) -> tuple[RateResult, RateResult | None, str | None]:
    """Step 3: waveforms → rates.  A breathing signal too short for its band gives no BR and a reason."""
    if method == "cnn":
        pulse = estimate_rate(pulse_sink.result(), fps, "pulse", derivative=True, bands=bands)
    else:
        wave = rppg_pulse(pulse_sink.held(str(video)), fps, method)
        pulse = estimate_rate(wave, fps, "pulse", derivative=False, bands=bands)
    try:
        return pulse, estimate_rate(resp_sink.result(), fps, "resp", derivative=True, bands=bands), None
    except InputError as exc:  # e.g. shorter than one breathing period
        return pulse, None, str(exc)


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

    Returns the report and a dict of arrays (``pulse_wave``, ``resp_wave``, ``fps``, the ROI
    ``track``) for plots and CSVs.  ``track``: the ``RoiTrack`` a previous call on the same video (same
    ``start_s``/``end_s``/``fps``) returned, to run another method without detecting again.  See
    ``docs/rates.md`` and ``physio rates --help``.
    """
    check_method(method, PULSE_METHODS)
    check_method(resp_method, RESP_METHODS, "resp method")
    if roi not in ("face", "full"):
        raise InputError(f"roi must be 'face' or 'full', got {roi!r}")
    dev = resolve_device(device)

    def reader():
        return VideoReader(video, chunk_size=64, start_s=start_s, end_s=end_s, fps=fps)

    r0 = reader()
    n, rate_fps, hw = r0.frame_count, r0.fps, (r0.height, r0.width)
    regions = _find_regions(reader, n, hw, rate_fps, video, roi=roi, detector=detector, every=every,
                            min_face_fraction=min_face_fraction, track=track, progress=progress)
    sinks = _signals(reader, n, regions, method=method, resp_method=resp_method, pulse_model=pulse_model,
                     resp_model=resp_model, dev=dev, progress=progress)
    pulse, resp, br_error = _rates(*sinks, rate_fps, method, bands, video)
    extra: dict = {"frames": n, "roi": roi, "video": str(video), **regions.describe()}
    if method == "cnn":
        extra["pulse_model"] = str(pulse_model)
    if resp_method == "cnn":
        extra["resp_model"] = str(resp_model)
    if br_error is not None:
        extra["br_error"] = br_error
    report = RatesReport(
        hr_bpm=round(float(pulse.rate_per_min), 3),
        br_bpm=None if resp is None else round(float(resp.rate_per_min), 3),
        hr_series=pulse.series,
        br_series=[] if resp is None else resp.series,
        method=method,
        fps=rate_fps,
        extra={**extra, "resp_method": resp_method, "bands": bands, "device": str(dev)},
    )
    arrays = {"fps": rate_fps, "track": regions.track, "pulse_wave": pulse.waveform,
              "resp_wave": None if resp is None else resp.waveform}
    return report, arrays
