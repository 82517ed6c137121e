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
from physio.io import VideoReader, chunk_frames
from physio.nets.weights import load_net
from physio.rates.confidence import bridge, confidence, spread, torso_problem, usable_means
from physio.rates.hrv import HrvResult, hrv_confidence, hrv_from_signal
from physio.rates.methods import PULSE_METHODS, RESP_METHODS, RPPG_METHODS, check_method
from physio.rates.motion import TorsoMotion
from physio.rates.rppg import masked_mean, rppg_pulse
from physio.rates.waveform import RateResult, estimate_rate, peak_snr_db, series_quality
from physio.represent.compute import RepresentationSpec, RepresentationStream
from physio.roi.crop import track_crop
from physio.roi.tracking import DETECT_EVERY, POSE_EVERY_FACTOR, RoiTrack, roi_detect

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
    hr_quality: list = field(default_factory=list)  # per window of hr_series: SNR of its peak, dB
    br_quality: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "hr_bpm": self.hr_bpm,
            "br_bpm": self.br_bpm,
            "hr_series": _series_json(self.hr_series, self.hr_quality),
            "br_series": _series_json(self.br_series, self.br_quality),
            "method": self.method,
            "fps": self.fps,
            **self.extra,
        }


def _series_json(series, quality) -> list[dict]:
    out = []
    for i, (t, v) in enumerate(series):
        entry = {"t": round(float(t), 3), "value": round(float(v), 3)}
        if i < len(quality):
            q = float(quality[i])
            entry["quality"] = round(q, 2) if np.isfinite(q) else None
        out.append(entry)
    return out


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
            self._means.append(masked_mean(frame, self.track.face_mask(self._i, frame)))
            self._i += 1

    def result(self) -> np.ndarray:
        return np.asarray(self._means)

    def usable(self) -> np.ndarray:
        """``(T,)`` bool: frames with skin pixels whose mean is usable (:func:`physio.rates.confidence.usable_means`)."""
        return usable_means(self.result())

    def bridged(self, what: str) -> np.ndarray:
        """The means with unusable frames (no skin pixels; dark, a channel below
        :data:`~physio.rates.confidence.DARK_LEVEL`) interpolated from the usable ones around them;
        :class:`InputError` when no frame is usable."""
        return bridge(self.result(), self.usable(), what)


def _progress_bar(n: int, desc: str, progress: bool):
    """One bar for the whole of ``physio rates``: ``n`` counts the frames of every decoding pass (two
    when the regions are tracked), so its rate and ETA are those of the whole job."""
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
    torso_problem: str | None = None  # why there is no plausible torso region (no BR then)

    def describe(self) -> dict:
        if self.track is None:
            return {}
        return {"face_box": list(self.face_box), "torso_box": None if self.torso_box is None else list(self.torso_box),
                "roi_summary": self.track.summary()}

    def face_found(self) -> np.ndarray | None:
        """``(T,)`` bool: frames whose face box is known (None without a track: the whole frame)."""
        return None if self.track is None else np.isfinite(self.track.boxes("face")).all(axis=1)

    def detector_confidence(self) -> float:
        if self.track is None:
            return float("nan")
        found = self.face_found()
        return float(np.mean(self.track.face_confidence[found])) if found.any() else 0.0

    def height(self, box) -> float:
        return float("nan") if box is None else float(box[3] - box[1])


def _find_regions(reader: Callable[[], VideoReader], n: int, hw: tuple[int, int], fps: float, video, *,
                  roi: str, detector: str, every: int | None, torso_every: int | None, min_face_fraction: float,
                  track, bar) -> _Regions:
    """Step 1: track the face (and torso) over the whole video, or take a given track; ``roi="full"``:
    no regions (the whole frame).  A torso box that is not a plausible chest region is dropped, with the
    reason (:func:`physio.rates.confidence.torso_problem`)."""
    if roi == "full":
        return _Regions()
    if track is not None:
        if len(track) != n:
            raise InputError(f"the given ROI track has {len(track)} frames, the video {n}")
    else:
        bar.set_description("regions")
        track = roi_detect(_counted(reader().chunks(prefetch=True), bar), fps, roi="face", detector=detector,
                           every=every, torso_every=torso_every, min_face_fraction=min_face_fraction,
                           source=str(video))
    face_box = track_crop(track, "face", hw)
    has_torso = np.isfinite(np.asarray(track.boxes("torso"), float)).all(axis=1).any()
    torso_box = track_crop(track, "torso", hw) if has_torso else None
    problem = torso_problem(torso_box, face_box)
    return _Regions(track, face_box, None if problem else torso_box, problem)


def _network_sink(model: str, box, dev) -> CnnSignal:
    net, ckpt = load_net(model, dev)
    return CnnSignal(net, RepresentationSpec.from_dict(ckpt["representation"]), box, dev)


def _resp_sink(resp_method: str, resp_model: str, regions: _Regions, dev):
    if resp_method == "cnn":
        return _network_sink(resp_model, regions.torso_box, dev)
    return TorsoMotion(regions.torso_box)


def _signals(reader: Callable[[], VideoReader], n: int, regions: _Regions, *, method: str, resp_method: str,
             pulse_model: str, resp_model: str, dev, bar):
    """Step 2: one decoding pass feeds the pulse and the respiration estimators (and the skin means the
    other pulse estimators are checked against).  A respiration estimator that fails (e.g. a region too
    small for its pyramid) is dropped with its reason and the heart rate carries on.  Returns
    ``(pulse sink, skin means, respiration sink or None, reason or None)``."""
    skin = SkinMeans(regions.track)
    pulse_sink = _network_sink(pulse_model, regions.face_box, dev) if method == "cnn" else skin
    resp_sink, resp_error = None, regions.torso_problem
    if resp_error is None:
        try:
            resp_sink = _resp_sink(resp_method, resp_model, regions, dev)
        except InputError as exc:
            resp_error = f"respiration estimator failed: {exc}"
    desc = (f"pulse ({'PulseNet' if method == 'cnn' else method.upper()}) + respiration "
            f"({'RespNet' if resp_method == 'cnn' else 'torso motion'})")
    bar.set_description(desc)
    for chunk in reader().chunks(prefetch=True):
        skin.push(chunk)
        if pulse_sink is not skin:
            pulse_sink.push(chunk)
        if resp_sink is not None:
            try:
                resp_sink.push(chunk)
            except InputError as exc:
                resp_sink, resp_error = None, f"respiration estimator failed: {exc}"
        bar.update(len(chunk))
    return pulse_sink, skin, resp_sink, resp_error


def _usable(regions: _Regions, skin: SkinMeans, method: str) -> np.ndarray:
    """``(T,)`` bool: frames the pulse estimate may use (face found; for rPPG also a usable skin mean)."""
    ok = skin.usable() if method != "cnn" else np.ones(len(skin.result()), bool)
    found = regions.face_found()
    return ok if found is None else ok & found


def _rates(pulse_sink, skin: SkinMeans, resp_sink, resp_error, usable: np.ndarray, fps: float, method: str,
           bands: str, video) -> tuple[RateResult, RateResult | None, str | None, dict, HrvResult | None]:
    """Step 3: waveforms → rates.  Unusable frames are bridged: the rPPG trace is interpolated over
    them, the network's derivative is zeroed there (its integral holds).  A breathing signal too short
    for its band gives no BR and a reason.  Also returns every pulse estimator's rate on the same
    skin (for the agreement check) and the heart-rate variability of the pulse (None when the signal is
    too short for its beats; intervals over bridged frames are not used)."""
    if not usable.any():
        raise InputError(f"{video}: no usable skin in any frame (face not found, or frames dark)")
    others = {}
    rgb = bridge(skin.result(), usable, str(video)) if skin.result().size else None
    if method == "cnn":
        sig = np.asarray(pulse_sink.result(), np.float64).copy()
        pair_ok = usable[1:] & usable[:-1]
        sig[~pair_ok[: len(sig)]] = 0.0
    else:
        sig = rppg_pulse(rgb, fps, method)
    pulse = estimate_rate(sig, fps, "pulse", derivative=method == "cnn", bands=bands)
    try:
        hrv = hrv_from_signal(sig, fps, pulse.band_hz, derivative=method == "cnn",
                              detrend_lambda=pulse.detrend_lambda, usable=usable[: len(pulse.waveform)],
                              hr_bpm=pulse.rate_per_min)
    except InputError:
        hrv = None
    others[method] = pulse.rate_per_min
    if rgb is not None and skin.track is not None:
        for name in RPPG_METHODS:
            if name not in others:
                try:
                    others[name] = estimate_rate(rppg_pulse(rgb, fps, name), fps, "pulse", derivative=False,
                                                 bands=bands, with_series=False).rate_per_min
                except InputError:
                    pass
    if resp_sink is None:
        return pulse, None, resp_error, others, hrv
    try:
        resp = estimate_rate(resp_sink.result(), fps, "resp", derivative=True, bands=bands)
    except InputError as exc:  # e.g. shorter than one breathing period
        return pulse, None, str(exc), others, hrv
    return pulse, resp, None, others, hrv


def _confidences(pulse: RateResult, resp: RateResult | None, others: dict, regions: _Regions,
                 usable: np.ndarray) -> dict:
    hr = confidence(snr=peak_snr_db(pulse.waveform, pulse.fs_hz, pulse.rate_per_min, pulse.band_hz, "pulse"),
                    agreement=spread(others), detector=regions.detector_confidence(),
                    region=regions.height(regions.face_box), valid=float(np.mean(usable)))
    hr["estimates"] = {k: round(float(v), 3) for k, v in others.items()}
    out = {"hr": hr, "br": None}
    if resp is not None:
        out["br"] = confidence(snr=peak_snr_db(resp.waveform, resp.fs_hz, resp.rate_per_min, resp.band_hz, "resp"),
                               region=regions.height(regions.torso_box))
    return out


def _warnings(pulse: RateResult, resp: RateResult | None, conf: dict, br_error: str | None) -> list[str]:
    """One line per estimate not to trust (low confidence) and for a missing breathing rate."""
    out = []
    if conf["hr"]["level"] == "low":
        out.append(f"HR {pulse.rate_per_min:.1f} bpm has low confidence: {'; '.join(conf['hr']['reasons'])}")
    hrv = conf.get("hrv")
    if hrv is not None and hrv["level"] == "low" and conf["hr"]["level"] != "low":
        out.append(f"HRV has low confidence: {'; '.join(hrv['reasons'])}")
    if resp is not None and conf["br"]["level"] == "low":
        out.append(f"BR {resp.rate_per_min:.1f} breaths/min has low confidence: {'; '.join(conf['br']['reasons'])}")
    if br_error is not None:
        out.append(f"no breathing rate: {br_error}")
    return out


def measure_rates(
    video,
    method: str = "cnn",
    resp_method: str = "cnn",
    roi: str = "face",
    detector: str = "mesh",
    every: int | None = None,
    torso_every: int | None = None,
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
    crop: tuple[int, int, int, int] | None = None,
) -> tuple[RatesReport, dict]:
    """HR and BR of a video: ROI → representation → network (or rPPG / motion) → rates.

    Returns the report and a dict of arrays (``pulse_wave``, ``resp_wave``, ``fps``, the ROI
    ``track``) for plots and CSVs.  ``track``: the ``RoiTrack`` a previous call on the same video (same
    ``start_s``/``end_s``/``fps``) returned, to run another method without detecting again.  ``crop``:
    measure only this region of the frame (one person of several, :mod:`physio.rates.faces`; boxes
    in the report are then in the region's coordinates).  See ``docs/rates.md`` and ``physio rates --help``.
    """
    check_method(method, PULSE_METHODS)
    check_method(resp_method, RESP_METHODS, "resp method")
    if roi not in ("face", "full"):
        raise InputError(f"roi must be 'face' or 'full', got {roi!r}")
    dev = resolve_device(device)
    every = DETECT_EVERY if every is None else int(every)
    torso_every = POSE_EVERY_FACTOR * every if torso_every is None else int(torso_every)

    r0 = VideoReader(video, start_s=start_s, end_s=end_s, fps=fps, crop=crop)
    chunk = chunk_frames(r0.width, r0.height)

    def reader():
        return VideoReader(video, chunk_size=chunk, start_s=start_s, end_s=end_s, fps=fps, crop=crop)

    n, rate_fps, hw = r0.frame_count, r0.fps, (r0.height, r0.width)
    passes = 1 if roi == "full" or track is not None else 2
    with _progress_bar(passes * n, "rates", progress) as bar:
        regions = _find_regions(reader, n, hw, rate_fps, video, roi=roi, detector=detector, every=every,
                                torso_every=torso_every, min_face_fraction=min_face_fraction, track=track, bar=bar)
        pulse_sink, skin, resp_sink, resp_error = _signals(reader, n, regions, method=method,
                                                           resp_method=resp_method, pulse_model=pulse_model,
                                                           resp_model=resp_model, dev=dev, bar=bar)
    usable = _usable(regions, skin, method)
    pulse, resp, br_error, others, hrv = _rates(pulse_sink, skin, resp_sink, resp_error, usable, rate_fps, method,
                                                bands, video)
    extra: dict = {"frames": n, "roi": roi, "video": str(video), **regions.describe()}
    if method == "cnn":
        extra["pulse_model"] = str(pulse_model)
    if resp_method == "cnn":
        extra["resp_model"] = str(resp_model)
    if br_error is not None:
        extra["br_error"] = br_error
    conf = _confidences(pulse, resp, others, regions, usable)
    if hrv is not None:
        conf["hrv"] = hrv_confidence(hrv, conf["hr"]["level"])
    report = RatesReport(
        hr_bpm=round(float(pulse.rate_per_min), 3),
        br_bpm=None if resp is None else round(float(resp.rate_per_min), 3),
        hr_series=pulse.series,
        br_series=[] if resp is None else resp.series,
        method=method,
        fps=rate_fps,
        hr_quality=series_quality(pulse),
        br_quality=[] if resp is None else series_quality(resp),
        extra={**extra, "resp_method": resp_method, "bands": bands, "device": str(dev),
               "valid_fraction": round(float(np.mean(usable)), 4), "confidence": conf,
               "detect_every": {"face": every, "torso": torso_every}, "threads": torch.get_num_threads(),
               "hrv": None if hrv is None else hrv.to_json(),
               "warnings": _warnings(pulse, resp, conf, br_error)},
    )
    arrays = {"fps": rate_fps, "track": regions.track, "pulse_wave": pulse.waveform,
              "resp_wave": None if resp is None else resp.waveform, "hrv": hrv,
              "windows": {"hr": pulse.window_s, "br": None if resp is None else resp.window_s}}
    return report, arrays
