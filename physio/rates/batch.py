"""`physio rates --batch`: a whole folder of recordings, one row per video, resumable.

Each video runs :func:`physio.rates.measure.measure_rates` on its own; a video that fails is recorded
with its error and skipped, never the whole batch.  The results file (CSV or Parquet) is rewritten
atomically after every finished video, so a killed run loses at most the videos in flight, and a
re-run with the same options skips the videos already in it (a row is reused only if its options —
method, respiration method, ROI, bands, models and their hashes — match this run's).  The videos are
jobs of :func:`physio.engine.run_jobs`: ``workers > 1`` runs them in parallel processes (each with one
torch thread), ``engine="ray"`` on a Ray cluster.
"""

from __future__ import annotations

import glob
import hashlib
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from physio.atomic import AtomicFile, check_output
from physio.engine import check_engine, run_jobs
from physio.errors import InputError

__all__ = ["VIDEO_SUFFIXES", "COLUMNS", "expand_videos", "model_hash", "run_batch"]

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg")
"""Files a folder contributes to a batch (case-insensitive)."""

COLUMNS = ("video", "hr_bpm", "br_bpm", "hr_confidence", "hr_level", "br_confidence", "br_level", "hr_quality_db",
           "valid_fraction", "method", "resp_method", "roi", "bands", "pulse_model", "pulse_model_sha256",
           "resp_model", "resp_model_sha256", "frames", "fps", "br_error", "error", "wall_s", "sdnn_ms", "rmssd_ms",
           "pnn50_pct", "face", "n_faces")
"""The columns of a batch results file, in order (a public contract: extend, do not rename)."""

_OPTION_KEYS = ("method", "resp_method", "roi", "bands", "pulse_model_sha256", "resp_model_sha256", "face")
_LATER_KEYS = {"face": "largest"}  # option columns added after the first results files: their value in those


def expand_videos(items: Sequence[str]) -> list[Path]:
    """Folders (their video files, sorted), globs and files → a list of videos, each once, in order."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES)
        elif any(c in str(item) for c in "*?["):
            found = sorted(Path(q) for q in glob.glob(str(item), recursive=True) if Path(q).is_file())
        else:
            found = [p]  # a missing file becomes a failed row, not a refusal of the batch
        out.extend(found)
    seen, unique = set(), []
    for p in out:
        key = str(p.resolve())
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        raise InputError(f"no videos found in {', '.join(map(str, items))} (looked for {', '.join(VIDEO_SUFFIXES)})")
    return unique


def model_hash(name_or_path: str) -> str:
    """SHA-256 (first 16 hex digits) of a shipped or given checkpoint file."""
    from physio.nets.weights import resolve_model  # noqa: PLC0415 - torch only when a batch runs

    h = hashlib.sha256()
    with open(resolve_model(name_or_path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def _row(video: Path, options: dict) -> dict:
    """Measure one video; any error is caught and recorded (the batch goes on)."""
    import time  # noqa: PLC0415

    from physio.rates.faces import measure_faces  # noqa: PLC0415

    row = {k: None for k in COLUMNS}
    row.update(video=str(video), **{k: options[k] for k in ("method", "resp_method", "roi", "bands", "pulse_model",
                                                             "resp_model", "pulse_model_sha256", "resp_model_sha256",
                                                             "face")})
    t0 = time.perf_counter()
    try:
        kw = {k: options[k] for k in ("method", "resp_method", "roi", "detector", "every", "torso_every",
                                      "pulse_model", "resp_model", "bands", "device")}
        report, _, per_face = measure_faces(str(video), options["face"], progress=False, **kw)
    except Exception as exc:  # noqa: BLE001 - recorded per video, by design
        row["error"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, InputError) else str(exc)
    else:
        conf = report.extra["confidence"]
        q = [v for v in report.hr_quality if v is not None and math.isfinite(v)]
        row.update(hr_bpm=report.hr_bpm, br_bpm=report.br_bpm, hr_confidence=conf["hr"]["score"],
                   hr_level=conf["hr"]["level"], br_confidence=None if conf["br"] is None else conf["br"]["score"],
                   br_level=None if conf["br"] is None else conf["br"]["level"],
                   hr_quality_db=round(float(np.median(q)), 3) if q else None,
                   valid_fraction=report.extra["valid_fraction"], frames=report.extra["frames"],
                   fps=report.fps, br_error=report.extra.get("br_error"))
        hrv = report.extra.get("hrv") or {}
        row.update({k: hrv.get(k) for k in ("sdnn_ms", "rmssd_ms", "pnn50_pct")}, n_faces=len(per_face))
    row["wall_s"] = round(time.perf_counter() - t0, 3)
    return row


def _read(path: Path):
    import pandas as pd  # noqa: PLC0415

    text = {k: str for k in (*_OPTION_KEYS, "video", "error")}
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=text)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: exists but is not a readable results file ({exc}); move it away or use --overwrite") from None
    for key, value in _LATER_KEYS.items():
        if key not in df.columns:
            df[key] = value
    missing = (set(_OPTION_KEYS) | {"video", "error"}) - set(df.columns)
    if missing:
        raise InputError(f"{path}: not a physio batch results file (no {', '.join(sorted(missing))} column)")
    return df


def _write(path: Path, rows: Iterable[dict]) -> None:
    import pandas as pd  # noqa: PLC0415

    df = pd.DataFrame(list(rows), columns=list(COLUMNS))
    with AtomicFile(path) as f:
        if path.suffix == ".parquet":
            df.to_parquet(f.tmp, index=False)
        else:
            df.to_csv(f.tmp, index=False, float_format="%.6g")


def _same_options(row: dict, options: dict) -> bool:
    def norm(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)

    return all(norm(row.get(k)) == norm(options[k]) for k in _OPTION_KEYS)


def run_batch(items: Sequence[str], out: str | os.PathLike, *, method: str = "cnn", resp_method: str = "cnn",
              roi: str = "face", detector: str = "mesh", every: int | None = None,
              torso_every: int | None = None, pulse_model: str = "pulse_cnn",
              resp_model: str = "resp_cnn", bands: str = "deepmag", device: str | None = None, workers: int = 1,
              face: str = "all", engine: str = "local", address: str | None = None,
              overwrite: bool = False, progress: bool = True) -> list[dict]:
    """Measure every video of ``items`` into the results file ``out`` (``.csv`` or ``.parquet``); returns the
    rows, in the order of ``items``.  See the module notes."""
    check_engine(engine, workers, address)
    videos = expand_videos(items)
    out = check_output(out, inputs=videos, suffixes=(".csv", ".parquet"), what="batch results")
    options = {"method": method, "resp_method": resp_method, "roi": roi, "face": face, "detector": detector,
               "every": every, "torso_every": torso_every,
               "pulse_model": pulse_model if method == "cnn" else None,
               "resp_model": resp_model if resp_method == "cnn" else None, "bands": bands, "device": device}
    options["pulse_model_sha256"] = model_hash(pulse_model) if method == "cnn" else None
    options["resp_model_sha256"] = model_hash(resp_model) if resp_method == "cnn" else None
    done: dict[str, dict] = {}
    if out.exists() and not overwrite:
        for rec in _read(out).to_dict("records"):
            rec = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in rec.items()}
            if _same_options(rec, options) and not rec.get("error"):
                done[str(rec["video"])] = rec
    order = [str(v) for v in videos]
    todo = [v for v in videos if str(v) not in done]
    rows = dict(done)

    def finished(row: dict) -> None:
        rows[row["video"]] = row
        _write(out, (rows[k] for k in order if k in rows))

    bar = tqdm(total=len(videos), initial=len(videos) - len(todo), desc="videos", unit="video", disable=not progress,
               dynamic_ncols=True)
    with bar:
        for _, row in run_jobs(_row, todo, options, engine=engine, workers=workers, address=address):
            finished(row)
            bar.update(1)
    if not todo:
        _write(out, (rows[k] for k in order if k in rows))
    return [rows[k] for k in order]
