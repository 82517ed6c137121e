"""Every magnification method on the same inputs and the same device (``physio compare``).

Reproduces the comparisons of DeepMag's evaluation (Chen & McDuff 2020, §5): video quality against
the original (Table 1), quality against the step size (Table 2) and the §5.4 ablations — and adds what
the paper could not measure: fidelity against ground-truth magnified renderings of synthetic cohorts,
leakage outside the source region, the rates measured from each output, and runtime.

Protocol (also in ``docs/compare.md``):

1. *Inputs* — :func:`cohort_clips` (sessions of an HDF5 cohort: ground-truth masks, rates and, when
   the cohort was generated with ``--magnified``, the ``pulse_x{α}``/``resp_x{α}`` renderings) or
   :func:`video_clips` (any videos: face and torso from the ROI tracker, no ground truth).
2. *Matched gain* — each method's factor (DeepMag's γ, the others' α) is calibrated on the task-A
   clips so that its gain (see :mod:`physio.evaluation.scoring`) equals a target, and kept for the other
   tasks (the paper tuned its baselines to look equal on task A).  Target: ``gain="auto"`` is the
   ground-truth rendering's gain when the clips have one, else DeepMag's gain at its default γ; or a
   number.  Factors given explicitly are not calibrated.  Without task-A clips the first clip is used;
   ``calibrate_task`` (``--calibrate-task``) names another task (e.g. D, to match gains under head motion).
3. *Scores* per clip and method (:class:`physio.evaluation.scoring.ClipScorer`), aggregated per task and
   over all tasks (``task = "all"``); ``original`` rows score the unmagnified video (its rates).
"""

from __future__ import annotations

import math
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

import physio
from physio.cohort import Cohort
from physio.cohort.digest import cohort_content_sha256
from physio.device import resolve_device
from physio.engine import check_engine, run_jobs
from physio.errors import InputError
from physio.evaluation.cohort import _truth_rate
from physio.evaluation.memory import PeakMemory
from physio.evaluation.scoring import ClipRegions, ClipScorer
from physio.figures.compare import write_figures
from physio.io import VideoReader
from physio.magnify.ascent import ascent_l1_norms, gradient_ascent
from physio.magnify.deepmag import DEFAULT_GAMMA
from physio.magnify.learned.catalog import LEARNED as LEARNED_MAGNIFIERS
from physio.magnify.learned.weights import default_weights_path
from physio.magnify.outputs import PixelTraceRecorder, ScanlineRecorder, magnify_pairs
from physio.magnify.registry import available, get_magnifier
from physio.metrics.magnification import per_pixel_correlation
from physio.nets.weights import load_net
from physio.rates.waveform import BANDS_HZ
from physio.represent.compute import (
    RepresentationSpec,
    box_from_mask,
    iter_representation,
)
from physio.roi import roi_detect
from physio.roi.crop import detect_box, track_crop

__all__ = ["Clip", "cohort_clips", "video_clips", "compare", "DEFAULT_METHODS", "default_methods", "BANDS", "environment"]

BANDS = BANDS_HZ["deepmag"]
"""The paper's bands (pulse 0.7–2.5 Hz, respiration 0.16–0.5 Hz) for every method."""
DEFAULT_METHODS = {"pulse": ("deepmag", "evm", "vam"), "resp": ("deepmag", "phase", "vam")}
"""The paper's baselines: EVM and VAM for colour; phase-based EVM and VAM (and Oh et al.) for motion."""

LEARNED = tuple(LEARNED_MAGNIFIERS)
DEFAULT_LEARNED = ("oh", "lwmm-m1", "lwmm-m2")
"""The learned magnifiers a default respiration comparison adds (when shipped); the thesis' ch. 4–7
networks (:data:`LEARNED`) run when named in ``--methods``."""


def default_methods(source: str) -> list[str]:
    """:data:`DEFAULT_METHODS` plus, for respiration (motion), every learned magnifier whose weights are
    shipped in ``models/`` (the paper compared Oh et al. on motion only)."""
    methods = list(DEFAULT_METHODS[source])
    if source == "resp":
        methods += [m for m in DEFAULT_LEARNED if default_weights_path(m).exists()]
    return methods


_ABLATIONS = {"deepmag-nol1": {"l1": "off", "variant": "paper"},
              "deepmag-nosign": {"sign_correction": "off", "variant": "paper"},
              "deepmag-signsample": {"sign_correction": "sample", "variant": "paper"}}
"""The paper's §5.4 ablations (of ``deepmag-paper``, at its γ)."""

_VARIANT_KWARGS = {
    "deepmag-paper": {"variant": "paper"},
    "deepmag-coherent": {"variant": "coherent"},
    "deepmag-integrated": {"variant": "coherent", "sign_from": "x", "smooth_cells": 0.0},
    "deepmag-band": {"variant": "coherent", "sign_from": "band", "smooth_cells": 0.0},
    "deepmag-bandsmooth": {"variant": "coherent", "sign_from": "band", "smooth_cells": 1.0},
    "deepmag-pooled": {"variant": "coherent", "sign_from": "pooled", "smooth_cells": 0.0},
    "deepmag-net": {"variant": "coherent", "sign_from": "net", "smooth_cells": 0.0},
    "deepmag-smooth2": {"variant": "coherent", "smooth_cells": 2.0},
}
"""DeepMag variants and the coherent variant's ablations (``docs/deepmag.md``): ``deepmag`` is the default
variant of ``physio magnify --method deepmag``."""

VARIANTS = ("deepmag-full", *_VARIANT_KWARGS)
"""DeepMag on the whole frame (the paper's setting) instead of the face/torso box the shipped networks
were trained on, and the variants above; calibrated to the matched gain like any method
(``--methods deepmag,deepmag-full``)."""


@dataclass
class Clip:
    """One input video and where to measure in it.

    ``chunks()``/``truth()`` return fresh iterators of ``uint8 (t, H, W, 3)`` chunks (``truth`` is None
    without a ground-truth rendering); ``boxes`` holds the fixed face/torso boxes DeepMag works in.
    """

    name: str
    task: str
    fps: float
    n_frames: int
    chunks: Callable[[], Iterator[np.ndarray]]
    regions: ClipRegions
    boxes: dict
    truth: Callable[[], Iterator[np.ndarray]] | None = None
    hr_true: float | None = None
    br_true: float | None = None
    scan_line: tuple[str, int] | None = None
    pixel: tuple[int, int] | None = None
    meta: dict = field(default_factory=dict)
    spec: dict | None = None  # how to build this clip again in another process (an engine's job)


@dataclass
class TaskRecordings:
    """What the first clip of one task recorded for the figures, per method (``"original"`` included)."""

    clip: Clip
    first_frame: np.ndarray
    scanlines: dict = field(default_factory=dict)
    traces: dict = field(default_factory=dict)
    change_maps: dict = field(default_factory=dict)


@dataclass
class Ablation:
    """The §5.4 ablations on one clip: L1 norms of X₁ and of the gradient (Fig. 10) and the per-pixel
    correlation of X₁ and X_N with and without sign correction (Fig. 11), with the numbers behind them."""

    clip: str
    fps: float
    x_l1: np.ndarray
    g_l1: np.ndarray
    corr_maps: dict
    stats: dict


# -- inputs -------------------------------------------------------------------------------------------
def _fixed(mask: np.ndarray) -> np.ndarray:
    """Pixels inside a (possibly moving) mask in at least half the frames."""
    m = np.asarray(mask, bool)
    return m if m.ndim == 2 else m.mean(0) >= 0.5


def _head(mask: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` frames of a per-frame ``(T, H, W)`` mask; a fixed ``(H, W)`` mask as it is."""
    return mask[:n] if mask.ndim == 3 else mask


def _per_frame(mask: np.ndarray):
    m = np.asarray(mask, bool)
    if m.ndim == 2:
        return lambda a, b: np.broadcast_to(m, (b - a, *m.shape))
    return lambda a, b: m[a:b]


def _centroid(mask: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(mask)
    return int(round(xs.mean())), int(round(ys.mean()))


def cohort_clips(path, source: str, *, split: str = "test", participants: Sequence[str] | None = None,
                 tasks: Sequence[str] | None = None, seconds: float | None = None, alpha: float | None = None,
                 chunk: int = 64) -> list[Clip]:
    """Clips from an HDF5 cohort (see the module notes); ``seconds`` keeps the first part of each session.

    ``split="test"``: the shipped network's test participants if it was trained on this cohort, else
    all.  ``alpha`` picks the ground-truth rendering (default: the only/first ``{source}_x*`` video).
    """
    if split not in ("test", "all"):
        raise InputError(f"split must be 'test' or 'all', got {split!r}")
    _, ckpt = load_net(f"{source}_cnn")
    rep = ckpt["representation"]
    if participants is None and split == "test" and ckpt.get("cohort_content_sha256") == cohort_content_sha256(path):
        participants = ckpt["split"]["test"]["participants"]
    clips = []
    with Cohort(path) as c:
        for s in c.sessions(participants=participants):
            if tasks and s.task not in tasks:
                continue
            n = s.n_frames if seconds is None else min(s.n_frames, int(round(seconds * s.fps)))
            names = s.mask_names
            need = {"skin", "face", "torso", "shoulders"} - set(names)
            if need:
                raise InputError(f"{path}: session {s.key} lacks mask(s) {sorted(need)}")
            skin = _head(s.mask("skin"), n)
            shoulders = cv2.dilate(_fixed(s.mask("shoulders")).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            face_box = box_from_mask(_head(s.mask("face"), n), rep.get("margin", 0.1))
            torso_box = box_from_mask(_head(s.mask("torso"), n), 0.0)
            if rep["roi"].startswith("detect:"):  # the network's crop is the detector's, over the clip

                region = rep["roi"].split(":", 1)[1]
                box = detect_box((s.read_frames(a, min(n, a + chunk)) for a in range(0, n, chunk)), s.fps, region,
                                 rep.get("margin"), source=s.key)
                face_box, torso_box = (box, torso_box) if region == "face" else (face_box, box)
            videos = [v for v in s.video_names if v.startswith(f"{source}_x")]
            tname = f"{source}_x{alpha:g}" if alpha is not None else (videos[0] if videos else None)
            if tname is not None and tname not in s.video_names:
                raise InputError(f"{path}: session {s.key} has no {tname} rendering")
            truth_rates = {}
            for src in ("pulse", "resp"):
                if src in s.group:
                    try:
                        truth_rates[src] = _truth_rate(s, src, "deepmag", frames=n)[0]  # the clip's own window
                    except InputError:  # too short for the band (e.g. < 6.3 s for respiration)
                        pass
            key = s.key

            def chunks(key=key, n=n, video=None):
                with Cohort(path) as cc:
                    ss = cc[key]
                    for a in range(0, n, chunk):
                        yield ss.read_frames(a, min(n, a + chunk), video=video)

            skin_fixed = _fixed(skin)
            sx, sy = _centroid(skin_fixed)
            shx = _shoulder_column(shoulders)
            clips.append(Clip(
                name=s.key, task=s.task, fps=s.fps, n_frames=n, chunks=chunks,
                truth=(lambda key=key, n=n, v=tname: chunks(key, n, v)) if tname else None,
                regions=ClipRegions(_per_frame(skin), skin_fixed, shoulders, torso_box),
                boxes={"face": face_box, "torso": torso_box},
                hr_true=truth_rates.get("pulse"), br_true=truth_rates.get("resp"),
                scan_line=("h", sy) if source == "pulse" else ("v", shx),
                pixel=(sx, sy) if source == "pulse" else (shx, int(np.flatnonzero(shoulders[:, shx])[0])),
                meta={"truth_video": tname},
                spec={"kind": "cohort", "path": str(path), "source": source, "participants": [s.participant],
                      "tasks": [s.task], "seconds": seconds, "alpha": alpha, "chunk": chunk, "name": s.key},
            ))
    if not clips:
        raise InputError(f"{path}: no sessions selected")
    return clips


def _shoulder_column(shoulders: np.ndarray) -> int:
    """A column through the shoulder band away from the neck: the one with most band pixels on the left."""
    cols = shoulders.sum(0)
    w = shoulders.shape[1]
    left = cols[: w // 2]
    return int(np.argmax(left)) if left.any() else int(np.argmax(cols))


def video_clips(paths: Sequence, *, seconds: float | None = None, chunk: int = 32) -> list[Clip]:
    """Clips from video files: face skin and torso from the ROI tracker (one extra decoding pass)."""
    clips = []
    for p in paths:
        def chunks(p=p):
            return VideoReader(p, chunk_size=chunk, end_s=seconds).chunks()

        reader = VideoReader(p, chunk_size=chunk, end_s=seconds)
        track = roi_detect(reader.chunks(), reader.fps, roi="face", torso=True)
        n = len(track)
        h, w = reader.height, reader.width
        face_box = track_crop(track, "face", (h, w))
        torso_box = track_crop(track, "torso", (h, w))

        def skin(a, b, track=track):
            return np.stack([track.face_mask(i) for i in range(a, min(b, len(track)))])

        skin_fixed = track.face_mask(n // 2)
        x0, y0, x1, y1 = torso_box
        shoulders = np.zeros((h, w), bool)
        shoulders[y0 : y0 + max(2, (y1 - y0) * 2 // 5), x0:x1] = True
        sx, sy = _centroid(skin_fixed)
        clips.append(Clip(
            name=Path(p).name, task="video", fps=reader.fps, n_frames=n, chunks=chunks,
            regions=ClipRegions(skin, skin_fixed, shoulders, torso_box),
            boxes={"face": face_box, "torso": torso_box}, scan_line=("h", sy), pixel=(sx, sy),
            meta={"path": str(p)}, spec={"kind": "video", "path": str(p), "seconds": seconds, "chunk": chunk},
        ))
    return clips


def clip_from_spec(spec: dict) -> Clip:
    """The clip a :attr:`Clip.spec` describes, built afresh (in an engine's worker)."""
    if spec["kind"] == "video":
        return video_clips([spec["path"]], seconds=spec["seconds"], chunk=spec["chunk"])[0]
    clips = cohort_clips(spec["path"], spec["source"], split="all", participants=spec["participants"],
                         tasks=spec["tasks"], seconds=spec["seconds"], alpha=spec["alpha"], chunk=spec["chunk"])
    return next(c for c in clips if c.name == spec["name"])


def _clip_job(item: tuple, options: dict) -> dict:
    """One (clip, method) of :func:`compare`'s step 2, in an engine's worker."""
    spec, method, factor = item
    return _run(method, options["source"], factor, clip_from_spec(spec), options["device"])


# -- methods ------------------------------------------------------------------------------------------
def _factor_name(method: str) -> str:
    return "gamma" if method.startswith("deepmag") else "alpha"


def _default_factor(method: str, source: str) -> float:
    return DEFAULT_GAMMA[source] if method.startswith("deepmag") else 10.0


def _make(method: str, source: str, factor: float, clip: Clip, device: str):
    band = BANDS[source]
    if method == "deepmag-full":
        return get_magnifier("deepmag", source=source, gamma=factor, roi="full", band_hz=band, device=device)
    if method.startswith("deepmag"):
        region = "face" if source == "pulse" else "torso"
        mag = get_magnifier("deepmag", source=source, gamma=factor, roi=region, band_hz=band, device=device,
                            **_ABLATIONS.get(method, {}), **_VARIANT_KWARGS.get(method, {}))
        mag.box = tuple(int(v) for v in clip.boxes[region])
        return mag
    kwargs: dict = {"alpha": factor, "band_hz": band, "device": device}
    if method == "evm":
        kwargs["mode"] = "color" if source == "pulse" else "motion"
        kwargs["temporal_filter"] = "butter"
    elif method in LEARNED:
        kwargs["learned_mode"] = "temporal"
    return get_magnifier(method, **kwargs)


def _run(method: str, source: str, factor: float | None, clip: Clip, device: str, light: bool = False,
         recorders: Sequence = ()) -> dict:
    """Magnify one clip with one method while scoring it; returns the scores plus fps and peak_mb."""
    scorer = ClipScorer(source, clip.fps, BANDS[source], clip.regions, light=light)
    truth_it = clip.truth() if (clip.truth is not None and not light) else None
    buf = np.empty((0,), np.uint8)
    t0 = time.perf_counter()
    with PeakMemory(device) as mem:
        pairs = ((c, c) for c in clip.chunks()) if method == "original" else \
            magnify_pairs(_make(method, source, factor, clip, device), clip.chunks(), clip.fps)
        for orig, out in pairs:
            truth = None
            if truth_it is not None:
                while len(buf) < len(orig):
                    nxt = next(truth_it)
                    buf = nxt if len(buf) == 0 else np.concatenate([buf, nxt])
                truth, buf = buf[: len(orig)], buf[len(orig):]
            scorer.update(orig, out, truth)
            for r in recorders:
                r.update(out)
    wall = time.perf_counter() - t0
    res = scorer.result()
    res.update(fps=clip.n_frames / wall if wall > 0 else None, peak_mb=mem.peak_mb, seconds=wall)
    if recorders:  # the figure clip: also where the method changed the frame
        res["_change_map"] = scorer.change_map()
    return res


# -- calibration --------------------------------------------------------------------------------------
def calibrate(method: str, source: str, clips: Sequence[Clip], target: float, device: str,
              max_iter: int = 5, tol: float = 0.05, say=print) -> dict:
    """Find the factor whose mean gain over ``clips`` equals ``target`` (secant steps in log–log).

    Assumes gain − 1 grows like a power of the factor; stops within ``tol`` (relative) or after
    ``max_iter`` runs and keeps the closest factor.  ``converged`` says whether ``tol`` was met.
    """
    if not target > 1:
        raise InputError(f"target gain must be > 1, got {target}")
    f = _default_factor(method, source)
    hist: list[tuple[float, float]] = []
    for _ in range(max_iter):
        g = float(np.mean([_run(method, source, f, c, device, light=True)["gain"] for c in clips]))
        hist.append((f, g))
        say(f"  calibrating {method}: {_factor_name(method)} {f:.4g} -> gain {g:.3f} (target {target:.3f})")
        if abs(g / target - 1) <= tol:
            break
        if len(hist) >= 2 and (hist[-1][1] - hist[-2][1]) * (hist[-1][0] - hist[-2][0]) <= 0:
            # the gain does not grow with the factor: further steps cannot reach the target
            say(f"  calibrating {method}: gain does not grow with {_factor_name(method)}; keeping the closest")
            break
        ok = [(a, b) for a, b in hist if b > 1 and np.isfinite(b)]
        if len(ok) >= 2 and ok[-1][0] != ok[-2][0] and ok[-1][1] != ok[-2][1]:
            (fa, ga), (fb, gb) = ok[-2], ok[-1]
            slope = (math.log(gb - 1) - math.log(ga - 1)) / (math.log(fb) - math.log(fa))
            slope = max(slope, 0.2)
            f = fb * math.exp((math.log(target - 1) - math.log(gb - 1)) / slope)
        elif ok:
            f = ok[-1][0] * (target - 1) / (ok[-1][1] - 1)
        else:
            f *= 4.0
        f = float(min(max(f, hist[0][0] / 1e3), hist[0][0] * 1e3))
    best = min(hist, key=lambda fg: abs(math.log(max(fg[1], 1e-9) / target)))
    return {"param": _factor_name(method), "value": best[0], "gain": best[1],
            "converged": abs(best[1] / target - 1) <= tol, "history": hist}


# -- the comparison -----------------------------------------------------------------------------------
_KEYS = ("psnr", "ssim", "fidelity_psnr", "fidelity_ssim", "fidelity_r", "leakage", "change_out", "change_edges",
         "gain")


def _mean(vals) -> float | None:
    v = [x for x in vals if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def _aggregate(rows: list[dict]) -> list[dict]:
    out = []
    tasks = sorted({r["task"] for r in rows})
    groups = [(t, [r for r in rows if r["task"] == t]) for t in tasks]
    if len(tasks) > 1:
        groups.append(("all", rows))
    for task, rs in groups:
        for method in dict.fromkeys(r["method"] for r in rs):
            mr = [r for r in rs if r["method"] == method]
            agg = {"task": task, "method": method, "n": len(mr)}
            for k in _KEYS:
                agg[k] = _mean(r.get(k) for r in mr)
            for rate in ("hr", "br"):
                errs = [abs(r[f"{rate}_bpm"] - r[f"{rate}_true"]) for r in mr
                        if r.get(f"{rate}_bpm") is not None and r.get(f"{rate}_true") is not None]
                agg[f"{rate}_mae"] = float(np.mean(errs)) if errs else None
            frames = sum(r["frames"] for r in mr)
            secs = sum(r["seconds"] for r in mr)
            agg["fps"] = frames / secs if secs > 0 else None
            agg["peak_mb"] = max(r["peak_mb"] for r in mr)
            out.append(agg)
    return out


def environment(device: str) -> dict:
    """Machine and software facts for the report."""
    if str(device).startswith("cuda"):
        dev = f"cuda: {torch.cuda.get_device_name(torch.device(device))}"
    else:
        cpu = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as fh:
                cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
        except OSError:
            pass
        dev = f"cpu: {cpu}, {torch.get_num_threads()} torch thread(s)"
    return {"device": dev, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "physio": getattr(physio, "__version__", "?"), "platform": platform.platform()}


def compare(clips: Sequence[Clip], source: str, methods: Sequence[str] | None = None, *, device: str | None = None,
            factors: dict | None = None, gain: str | float = "auto", calibrate_task: str = "A",
            calibration_s: float = 10.0, gamma_sweep: Sequence[float] = (), sweep_task: str = "C",
            ablations: bool = False, figures_dir=None, progress: bool = True, engine: str = "local",
            workers: int = 1, address: str | None = None) -> dict:
    """Run ``methods`` on ``clips`` and score them (see the module notes).

    Returns a JSON-serialisable dict: ``device``, ``source``, ``calibration``, ``sessions`` (per clip
    and method), ``results`` (per task and method, ``task = "all"`` over every clip), ``gamma_sweep``
    (Table 2) and, with ``ablations``, the ``deepmag-nol1``/``deepmag-nosign`` rows and the §5.4
    figures; ``figures`` maps names to files written under ``figures_dir``.  ``engine``/``workers``/
    ``address``: step 2 (every clip × method) as jobs of :func:`physio.engine.run_jobs` — the figure clips
    stay here (they record for the figures); calibration, the γ sweep and the ablations run here.  The
    runtime columns (fps, peak memory) are then measured in the workers, several at once.
    """
    if source not in BANDS:
        raise InputError(f"source must be pulse or resp, got {source!r}")
    if not clips:
        raise InputError("nothing to compare: no clips")
    dev = str(resolve_device(device))
    methods = list(methods or default_methods(source))
    if ablations:  # the paper's ablations, beside the paper's variant they ablate
        methods += [m for m in ("deepmag-paper", *_ABLATIONS) if m not in methods]
    valid = set(available()) | set(_ABLATIONS) | set(VARIANTS)
    bad = [m for m in methods if m not in valid]
    if bad:
        raise InputError(f"unknown method(s) {', '.join(bad)}; valid: {', '.join(sorted(valid))}")
    if len(set(methods)) != len(methods):
        raise InputError(f"methods repeat: {methods}")
    factors = dict(factors or {})
    say = (lambda msg: tqdm.write(msg, file=sys.stderr)) if progress else (lambda msg: None)

    # 1. matched gain on task A
    cal_clips = [c for c in clips if c.task == calibrate_task]
    if not cal_clips and calibrate_task != "A":  # asked for by name: no silent stand-in
        raise InputError(f"no clip of task {calibrate_task!r} to calibrate on; tasks here: "
                         f"{', '.join(sorted({str(c.task) for c in clips}))}")
    cal_clips = cal_clips or list(clips[:1])
    cal_clips = [_truncated(c, calibration_s) for c in cal_clips]
    calibration: dict = {"task": cal_clips[0].task, "clips": [c.name for c in cal_clips], "seconds": calibration_s,
                         "seconds_used": [round(c.n_frames / c.fps, 2) for c in cal_clips], "factors": {}}
    todo = [m for m in methods if m not in factors]
    if todo:
        target, basis = _target_gain(gain, source, cal_clips, dev, factors)
        calibration.update(target_gain=target, target=basis)
        for m in todo:
            if m in _ABLATIONS:  # ablations keep DeepMag's γ: the same steps without L1 norm / sign correction
                continue
            calibration["factors"][m] = calibrate(m, source, cal_clips, target, dev, say=say)
            factors[m] = calibration["factors"][m]["value"]
        for m in todo:
            if m in _ABLATIONS:
                factors[m] = factors.get("deepmag-paper", _default_factor("deepmag", source))
    for m, f in factors.items():
        calibration["factors"].setdefault(m, {"param": _factor_name(m), "value": float(f), "given": True})

    # 2. every clip, every method (plus the original)
    rows: list[dict] = []
    recordings: dict[str, TaskRecordings] = {}
    fig_clips = {}
    for c in clips:
        fig_clips.setdefault(c.task, c)
    bar = tqdm(total=len(clips) * (len(methods) + 1), desc="compare", disable=not progress, dynamic_ncols=True)
    check_engine(engine, workers, address)
    spread = engine != "local" or workers > 1
    jobs, results = [], {}
    for i, c in enumerate(clips):
        for j, m in enumerate(["original", *methods]):
            rec = _recorders(c) if fig_clips.get(c.task) is c and figures_dir is not None else ()
            if spread and not rec and c.spec is not None:
                jobs.append(((i, j), (c.spec, m, factors.get(m))))
                continue
            bar.set_postfix_str(f"{c.name} {m}")
            r = _run(m, source, factors.get(m), c, dev, recorders=rec)
            if rec:
                _keep_recordings(recordings, c, m, rec, r.pop("_change_map"))
            results[(i, j)] = r
            bar.update()
    for k, r in run_jobs(_clip_job, [item for _, item in jobs], {"source": source, "device": dev}, engine=engine,
                         workers=workers, address=address):
        results[jobs[k][0]] = r
        bar.update()
    bar.close()
    for (i, j), r in sorted(results.items()):
        c, m = clips[i], ["original", *methods][j]
        r.update(session=c.name, task=c.task, method=m, factor=factors.get(m), hr_true=c.hr_true, br_true=c.br_true)
        rows.append(r)

    env = environment(dev)
    result = {"device": env["device"], "device_type": dev, "source": source,
              "band_hz": list(BANDS[source]), "methods": methods, "calibration": calibration,
              "sessions": [_clean(r) for r in rows], "results": [_clean(r) for r in _aggregate(rows)],
              "environment": env}

    # 3. Table 2: DeepMag's γ multiples on one task
    if gamma_sweep:
        result["gamma_sweep"] = _gamma_sweep(clips, source, factors.get("deepmag", _default_factor("deepmag", source)),
                                             gamma_sweep, sweep_task, dev, say)
    if figures_dir is not None:
        ablation = None
        paper = next((m for m in ("deepmag-paper", "deepmag") if m in factors), None)
        if ablations and paper is not None:
            ablation = ablation_analysis(clips[0], source, factors[paper], dev)
            result["ablation"] = ablation.stats
        result["figures"] = write_figures(result, recordings, source, figures_dir, ablation)
    return result


def _truncated(c: Clip, seconds: float | None) -> Clip:
    if seconds is None or seconds * c.fps >= c.n_frames:
        return c
    n = max(16, int(round(seconds * c.fps)))

    def cut(gen):
        def it():
            left = n
            for ch in gen():
                if left <= 0:
                    break
                yield ch[:left]
                left -= len(ch)
        return it

    return Clip(**{**vars(c), "n_frames": n, "chunks": cut(c.chunks), "truth": cut(c.truth) if c.truth else None})


def _target_gain(gain, source, cal_clips, dev, factors) -> tuple[float, str]:
    if gain != "auto":
        return float(gain), "given"
    with_truth = [c for c in cal_clips if c.truth is not None]
    if with_truth:
        g = []
        for c in with_truth:
            scorer = ClipScorer(source, c.fps, BANDS[source], c.regions, light=True)
            for o, t in zip(c.chunks(), c.truth()):
                scorer.update(o, t)
            g.append(scorer.gain())
        return float(np.mean(g)), f"ground-truth rendering ({with_truth[0].meta.get('truth_video')})"
    f = factors.get("deepmag", _default_factor("deepmag", source))
    g = float(np.mean([_run("deepmag", source, f, c, dev, light=True)["gain"] for c in cal_clips]))
    return g, f"DeepMag at gamma {f:g}"


def _gamma_sweep(clips, source, gamma, mults, task, dev, say) -> list[dict]:
    sel = [c for c in clips if c.task == task] or list(clips)
    rows = []
    for k in mults:
        rs = [_run("deepmag", source, gamma * k, c, dev) for c in sel]
        rows.append({"multiple": float(k), "gamma": gamma * k, "task": sel[0].task, "n": len(rs),
                     "psnr": _mean(r["psnr"] for r in rs), "ssim": _mean(r["ssim"] for r in rs),
                     "gain": _mean(r["gain"] for r in rs)})
        say(f"  gamma sweep {k:g}x: PSNR {rows[-1]['psnr']:.2f} dB, SSIM {rows[-1]['ssim']:.4f}, gain {rows[-1]['gain']:.3f}")
    return rows


def _recorders(c: Clip):
    return (ScanlineRecorder(c.scan_line), PixelTraceRecorder([c.pixel], radius=1))


def _keep_recordings(recordings: dict, clip: Clip, method: str, rec, change_map) -> None:
    if clip.task not in recordings:
        recordings[clip.task] = TaskRecordings(clip, next(iter(clip.chunks()))[0])
    r = recordings[clip.task]
    r.scanlines[method] = rec[0].result()
    r.traces[method] = rec[1].result()[:, 0, :]
    if method != "original" and change_map is not None:
        r.change_maps[method] = change_map


def ablation_analysis(clip: Clip, source: str, gamma: float, device: str) -> Ablation:
    """The §5.4 ablations on ``clip`` with the shipped network of ``source`` at step ``gamma``."""
    net, ckpt = load_net(f"{source}_cnn", device)
    spec = RepresentationSpec.from_dict(ckpt["representation"])
    box = clip.boxes["face" if source == "pulse" else "torso"]
    x1 = torch.from_numpy(np.concatenate(list(iter_representation(clip.chunks(), spec, box)))).float()
    scale = float(x1.pow(2).mean().sqrt()) or 1.0
    x_l1, g_l1 = ascent_l1_norms(net, x1.to(device), input_scale=scale)
    cv = float(np.std(g_l1) / np.mean(g_l1)) if np.mean(g_l1) > 0 else None
    stats = {"clip": clip.name, "gamma": gamma, "grad_l1_cv": cv,
             "x1_grad_l1_r": float(np.corrcoef(x_l1, g_l1)[0, 1]) if np.std(x_l1) > 0 and np.std(g_l1) > 0 else None}
    maps = {}
    for on in (False, True):
        xn = gradient_ascent(net, x1.to(device), gamma, 20, sign_correct=on, input_scale=scale).x.cpu()
        corr = per_pixel_correlation(x1.numpy(), xn.numpy())
        tag = "on" if on else "off"
        maps["sign correction" if on else "no sign correction"] = np.nanmean(corr, axis=0)
        finite = corr[np.isfinite(corr)]  # constant cells have no correlation: left out, not counted negative
        stats[f"positive_share_sign_{tag}"] = float(np.mean(finite > 0)) if finite.size else None
        stats[f"median_r_sign_{tag}"] = float(np.nanmedian(corr))
    return Ablation(clip.name, clip.fps, x_l1, g_l1, maps, stats)


def _clean(d: dict) -> dict:
    """JSON-safe: NaN/inf → None, numpy scalars → Python."""
    out = {}
    for k, v in d.items():
        if isinstance(v, (np.floating, float)):
            v = float(v)
            v = v if math.isfinite(v) else None
        elif isinstance(v, np.integer):
            v = int(v)
        out[k] = v
    return out
