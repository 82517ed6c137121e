"""Scoring rate estimators on a cohort with ground truth (``physio evaluate``).

For every selected session, each method estimates the whole-session HR (pulse methods) or BR
(respiration methods) and the ground truth is estimated from the session's reference signal by the
*same* estimator (``derivative=False`` on the reference waveform), so only the input differs.  Metrics
(MAE, RMSE, MAPE, Pearson r, SNR, each with its standard error) are aggregated per task and method.

Methods:

* ``pulse_cnn`` / ``resp_cnn`` — the networks (default: the shipped weights) on the representation they
  were trained on, computed once and kept in the cohort's cache file (:mod:`physio.represent.cache`;
  the cohort itself is only read).
* ``pos``, ``chrom``, ``green`` — classical rPPG on the spatial mean of the session's ``skin`` mask
  (the ground-truth mask of synthetic cohorts; the whole frame when a cohort has none — stated in the
  output as ``rppg_region``), or with ``rppg_mask="detect"`` of the skin mask `physio rates` draws
  from the face tracker, so that they see what they would see on a user's video.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from physio.atomic import AtomicFile, atomic_write_text, output_folder
from physio.cohort import Cohort
from physio.cohort.digest import cohort_content_sha256
from physio.device import resolve_device
from physio.engine import check_engine, run_jobs
from physio.errors import InputError, PhysioWarning, RoiNotFoundError
from physio.figures.rates import bland_altman_plot
from physio.metrics.rates import rate_metrics
from physio.nets.weights import load_net
from physio.rates.measure import SkinMeans
from physio.rates.methods import RPPG_METHODS
from physio.rates.rppg import rppg_pulse, skin_rgb_means
from physio.rates.waveform import estimate_rate, reference_rate, snr_db
from physio.represent.cache import CacheReader, ensure_cache
from physio.roi import roi_detect
from physio.train.loop import predict_session

__all__ = ["evaluate_cohort", "METHODS"]

METHODS = {"pulse_cnn": "pulse", "resp_cnn": "resp", **{m: "pulse" for m in RPPG_METHODS}}
"""Evaluable methods and the signal each estimates: the networks and every rPPG method of
:data:`physio.rates.methods.RPPG_METHODS`."""


def _truth_rate(session, source: str, bands: str, frames: int | None = None) -> tuple[float, float]:
    """Rate of the session's reference signal (over its first ``frames`` frames when given)."""
    sig = session.signal_at_frames("pulse" if source == "pulse" else "resp")[:frames]
    kind = str(session.group["pulse" if source == "pulse" else "resp"].attrs.get("kind", ""))
    est = reference_rate(sig, session.fps, source, derivative=(kind == "derivative"), bands=bands, with_series=False)
    return float(est.rate_per_min), session.fps


def _skin_means(session, rppg_mask: str = "truth") -> tuple[np.ndarray, str]:
    """Per-frame mean RGB of the session's skin, and what the region was.

    ``truth``: the cohort's ``skin`` mask (the whole frame when it has none); ``detect``: the skin mask
    `physio rates` draws from the face tracker's landmarks, per frame (frames without skin pixels hold
    the last valid value)."""
    if rppg_mask == "detect":
        track = roi_detect(session.iter_frames(chunk=128), session.fps, roi="face", source=session.key)
        sink = SkinMeans(track)
        for frames in session.iter_frames(chunk=128):
            sink.push(frames)
        return sink.bridged(session.key), "detected skin mask"
    if "skin" in session.mask_names:
        mask_ds = session.group["masks/skin"]
        out = []
        for s in range(0, session.n_frames, 128):
            frames = session.read_frames(s, s + 128)
            m = mask_ds[s : s + 128] > 0 if mask_ds.ndim == 3 else mask_ds[()] > 0
            out.append(skin_rgb_means(frames, m))
        return np.concatenate(out), "skin mask"
    out = [f.reshape(len(f), -1, 3).mean(1) for f in session.iter_frames(128)]
    return np.concatenate(out), "whole frame"


_NETS: dict = {}


def _net(model: str, device: str):
    """A network loaded once per process (the jobs of one worker share it)."""
    if (model, device) not in _NETS:
        _NETS[(model, device)] = load_net(model, resolve_device(device))
    return _NETS[(model, device)]


def _session_rows(key: str, options: dict) -> tuple[list[dict], list[str], list[str]]:
    """Every method on one session: ``(rows, rPPG regions used, warnings)`` — one job of
    :func:`physio.engine.run_jobs` (it opens the cohort and its cache itself, read-only)."""
    path, bands, dev = options["cohort"], options["bands"], options["device"]
    rows, regions, notes = [], [], []
    with Cohort(path) as c, CacheReader(path) as cache:
        s = c.session(key)
        truth = {}
        for source in sorted({METHODS[m] for m in options["methods"]}):
            if source in s.group:
                try:
                    truth[source] = _truth_rate(s, source, bands)[0]
                except InputError as exc:  # e.g. shorter than one breathing period: no reference, no score
                    notes.append(f"{s.key}: no {source} reference ({exc})")
        rgb = None
        for m in options["methods"]:
            source = METHODS[m]
            if source not in truth:
                continue
            try:
                if m in options["models"]:
                    net, ckpt = _net(options["models"][m], dev)
                    std = bool(ckpt["representation"].get("standardize", True))
                    y = predict_session(net, cache.require(s.key, options["cache_keys"][m]), resolve_device(dev),
                                        standardize=std)
                    est = estimate_rate(y, s.fps, source, derivative=True, bands=bands, with_series=False)
                else:
                    if rgb is None:
                        rgb, region = _skin_means(s, options["rppg_mask"])
                        regions.append(region)
                    wave = rppg_pulse(rgb, s.fps, m)
                    est = estimate_rate(wave, s.fps, source, derivative=False, bands=bands, with_series=False)
            except (InputError, RoiNotFoundError) as exc:  # e.g. a session the face detector cannot find
                notes.append(f"{s.key}: {m} failed ({exc})")
                continue
            snr = snr_db(est.waveform, s.fps, truth[source], est.band_hz) if source == "pulse" else float("nan")
            rows.append({"participant": s.participant, "session": s.session, "task": s.task, "method": m,
                         "source": source, "pred": float(est.rate_per_min), "truth": truth[source],
                         "abs_error": abs(float(est.rate_per_min) - truth[source]), "snr_db": float(snr)})
    return rows, regions, notes


def evaluate_cohort(
    cohort_path,
    methods=tuple(METHODS),
    split: str = "test",
    pulse_model: str = "pulse_cnn",
    resp_model: str = "resp_cnn",
    bands: str = "deepmag",
    device: str | None = None,
    progress: bool = True,
    rppg_mask: str = "truth",
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
) -> dict:
    """Evaluate ``methods`` on a cohort; returns ``{"sessions": [...], "table": [...], "split": ...}``.

    ``split="test"`` uses the test participants recorded in the network checkpoint when the checkpoint
    was trained on this very cohort (same content hash), and every participant otherwise (a cohort the
    networks never saw); ``split="all"`` always uses every participant.  ``rppg_mask``: the skin region
    of POS/CHROM/GREEN — ``truth`` (the cohort's skin mask) or ``detect`` (the face tracker's, as
    `physio rates` uses; one tracker pass per session).  Each session is one job of
    :func:`physio.engine.run_jobs` (``engine``, ``workers``, ``address``: here, in worker processes or on
    Ray); the representation caches are built first, here.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(f"unknown method(s) {unknown}; valid: {', '.join(METHODS)}")
    if split not in ("test", "all"):
        raise InputError(f"split must be 'test' or 'all', got {split!r}")
    if rppg_mask not in ("truth", "detect"):
        raise InputError(f"rppg_mask must be 'truth' or 'detect', got {rppg_mask!r}")
    check_engine(engine, workers, address)
    dev = resolve_device(device)
    models = {m: model for m, model in (("pulse_cnn", pulse_model), ("resp_cnn", resp_model)) if m in methods}
    nets = {m: _net(model, str(dev)) for m, model in models.items()}
    participants = None
    split_note = "all participants"
    if split == "test" and nets:
        content = cohort_content_sha256(cohort_path)
        ckpt = next(iter(nets.values()))[1]
        if ckpt.get("cohort_content_sha256") == content:
            participants = ckpt["split"]["test"]["participants"]
            split_note = "test participants of the checkpoint's split"
        else:
            split_note = "all participants (the networks were trained on another cohort)"
    keys = {}
    for m, (net, ckpt) in nets.items():
        keys[m] = ensure_cache(cohort_path, ckpt["representation"], device=str(dev), progress=progress)
    with Cohort(cohort_path) as c:
        sessions = [s.key for s in c.sessions(participants=participants)]
    if not sessions:
        raise InputError(f"{cohort_path}: no sessions to evaluate")
    options = {"cohort": str(cohort_path), "methods": list(methods), "models": models, "cache_keys": keys,
               "bands": bands, "device": str(dev), "rppg_mask": rppg_mask}
    per_session: dict[int, list[dict]] = {}
    regions: set[str] = set()
    bar = tqdm(total=len(sessions), desc="evaluating", disable=not progress, leave=False, dynamic_ncols=True)
    with bar:
        for i, (rows_i, regions_i, notes) in run_jobs(_session_rows, sessions, options, engine=engine,
                                                       workers=workers, address=address):
            per_session[i] = rows_i
            regions.update(regions_i)
            for note in notes:
                warnings.warn(note, PhysioWarning, stacklevel=2)
            bar.update(1)
    rows = [r for i in range(len(sessions)) for r in per_session[i]]
    table = []
    tasks = sorted({r["task"] for r in rows})
    for m in methods:
        for task in tasks + ["all"]:
            sel = [r for r in rows if r["method"] == m and (task == "all" or r["task"] == task)]
            if not sel:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PhysioWarning)
                snrs = [r["snr_db"] for r in sel if np.isfinite(r["snr_db"])]
                met = rate_metrics([r["pred"] for r in sel], [r["truth"] for r in sel], snrs or None)
            table.append({"task": task, "method": m, "source": METHODS[m], **met.as_dict()})
    return {
        "cohort": str(cohort_path),
        "split": split_note,
        "bands": bands,
        "rppg_region": ", ".join(sorted(regions)) or None,
        "device": str(dev),
        "sessions": rows,
        "table": table,
    }


def table_markdown(result: dict) -> str:
    """The metric table as markdown (one row per task and method)."""
    head = "| task | method | n | MAE | RMSE | MAPE % | r | SNR dB |\n|---|---|---|---|---|---|---|---|\n"
    lines = []
    for t in result["table"]:
        unit = "bpm" if t["source"] == "pulse" else "breaths/min"
        lines.append(
            f"| {t['task']} | {t['method']} | {t['n']} | {t['mae']:.2f} ± {t['mae_se']:.2f} {unit} | "
            f"{t['rmse']:.2f} ± {t['rmse_se']:.2f} | {t['mape']:.1f} ± {t['mape_se']:.1f} | "
            f"{t['pearson_r']:.2f} ± {t['pearson_r_se']:.2f} | "
            + (f"{t['snr_db']:.1f} ± {t['snr_db_se']:.1f} |" if np.isfinite(t["snr_db"]) else "– |")
        )
    return head + "\n".join(lines) + "\n"


def write_outputs(result: dict, out_dir) -> list[str]:
    """``evaluation.csv`` (table), ``sessions.csv``, ``evaluation.md``, ``bland_altman_<method>.png``."""
    with output_folder(out_dir) as out:
        return _write_outputs(result, out)


def _write_outputs(result: dict, out: Path) -> list[str]:
    files = []
    for name, df in (("evaluation.csv", pd.DataFrame(result["table"])), ("sessions.csv", pd.DataFrame(result["sessions"]))):
        with AtomicFile(out / name) as f:
            df.to_csv(f.tmp, index=False, float_format="%.6g")
        files.append(str(out / name))
    md = out / "evaluation.md"
    region = f", rPPG on the {result['rppg_region']}" if result.get("rppg_region") else ""
    atomic_write_text(md, f"Cohort `{result['cohort']}` ({result['split']}), bands {result['bands']}{region}.\n\n"
                  + table_markdown(result))
    files.append(str(md))
    for m in sorted({r["method"] for r in result["sessions"]}):
        sel = [r for r in result["sessions"] if r["method"] == m]
        if len(sel) < 3:
            continue
        unit = "bpm" if sel[0]["source"] == "pulse" else "breaths/min"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PhysioWarning)
            bland_altman_plot([r["pred"] for r in sel], [r["truth"] for r in sel], unit=unit, title=m,
                              path=out / f"bland_altman_{m}.png")
        files.append(str(out / f"bland_altman_{m}.png"))
    return files
