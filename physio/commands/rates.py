"""``physio rates``: heart rate and breathing rate of a video, no ground truth needed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from physio.atomic import check_output_folder
from physio.errors import InputError
from physio.rates.methods import PULSE_METHODS, RESP_METHODS

NAME = "rates"
HELP = "measure heart rate and breathing rate of a video (shipped networks or rPPG)"
DESCRIPTION = (
    "Face/torso regions -> representations -> shipped PulseNet and RespNet (or POS/CHROM/GREEN on the skin "
    "mask for the pulse) -> HR and BR, whole-video and over sliding windows. --json prints one JSON object "
    "with hr_bpm, br_bpm, hr_series, br_series, method, fps and hrv (beats, intervals, mean HR, SDNN, RMSSD, "
    "pNN50, whole and per 30 s window); -o DIR also writes waveforms.csv, series.csv, beats.csv, hrv.csv "
    "and rates.png; --truth FILE scores against a ground-truth signal."
)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", nargs="+", help="a video; with --batch: videos, folders and globs")
    p.add_argument("--method", default="cnn", choices=PULSE_METHODS,
                   help="pulse estimator (default cnn = shipped PulseNet)")
    p.add_argument("--resp-method", default="cnn", choices=RESP_METHODS,
                   help="breathing estimator: shipped RespNet, or vertical torso motion by phase correlation")
    p.add_argument("--roi", default="face", choices=("face", "full"),
                   help="face = detect face/torso (fails clearly if none); full = the whole frame, explicitly")
    p.add_argument("--face", default="all", choices=("all", "largest"),
                   help="all = one result per person in the frame (--json: faces, largest first, stable ids; the "
                        "top-level numbers are the largest face's); largest = only the largest face, on the whole frame")
    p.add_argument("--detector", default="mesh", choices=("mesh", "detection", "haar"))
    p.add_argument("--every", type=int, default=None, metavar="K",
                   help="run the face detector every K frames, optical flow following the face between "
                        "(default 10; 1 = detect on every frame)")
    p.add_argument("--torso-every", type=int, default=None, metavar="K",
                   help="run Pose every K frames, optical flow between (default: 3 x --every)")
    p.add_argument("--fps", type=float, help="frame-rate override")
    p.add_argument("--start", type=float, metavar="S")
    p.add_argument("--end", type=float, metavar="S")
    p.add_argument("--bands", default=None, choices=("deepmag", "rppg-toolbox", "mtts-can"),
                   help="pass bands: deepmag 0.7-2.5/0.16-0.5 Hz (default), rppg-toolbox 0.6-3.3/0.13-0.5 Hz")
    p.add_argument("--subject", default="adult", choices=("adult", "child", "infant"),
                   help="rate bands that fit the subject: adult = --bands (HR 42-150 bpm, BR 9.6-30 breaths/min by "
                        "default); child HR 60-150, BR 15-40; infant HR 100-180, BR 30-60")
    p.add_argument("--pulse-model", default="pulse_cnn", help="shipped name or checkpoint path")
    p.add_argument("--resp-model", default="resp_cnn", help="shipped name or checkpoint path")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch threads (default: torch's own choice); reported in --json as threads")
    p.add_argument("--truth", metavar="FILE",
                   help="ground truth: CSV with time_s and pulse and/or resp columns (as `physio cohort export` writes)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("-o", "--out", metavar="DIR", help="also write waveforms.csv, series.csv and rates.png here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--batch", action="store_true",
                   help="many videos: -o RESULTS.csv|.parquet gets one row per video (a failed video is recorded and "
                        "skipped; a re-run skips the finished ones)")
    p.add_argument("--workers", type=int, default=1, help="--batch: videos measured in parallel (default 1)")
    p.add_argument("--engine", default="local", choices=("local", "ray"),
                   help="--batch: where the videos are measured: local processes, or a Ray cluster (docs/scale-out.md)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="--engine ray: the cluster (host:port, or auto); default a local cluster of --workers CPUs")
    p.add_argument("--overwrite", action="store_true", help="--batch: start the results file afresh")


def _load_truth(path: str) -> dict:
    import pandas as pd  # noqa: PLC0415

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such truth file")
    try:
        df = pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{p}: not a readable CSV ({exc})") from None
    if "time_s" not in df.columns or not ({"pulse", "resp"} & set(df.columns)):
        raise InputError(f"{p}: needs a time_s column and a pulse and/or resp column; has {list(df.columns)}")
    t = df["time_s"].to_numpy(float)
    if len(t) < 3 or np.any(np.diff(t) <= 0):
        raise InputError(f"{p}: time_s must increase strictly")
    out = {"fs": 1.0 / float(np.median(np.diff(t)))}
    for k in ("pulse", "resp"):
        if k in df.columns and np.isfinite(df[k].to_numpy(float)).all():
            out[k] = df[k].to_numpy(float)
    return out


def _score(report, arrays, truth: dict) -> dict:
    from physio.rates.waveform import reference_rate, snr_db  # noqa: PLC0415

    res = {}
    for key, source, series_key in (("pulse", "pulse", "hr"), ("resp", "resp", "br")):
        if key not in truth:
            continue
        est = reference_rate(truth[key], truth["fs"], source, bands=report.extra["bands"])
        pred = report.hr_bpm if source == "pulse" else report.br_bpm
        entry = {"truth": round(est.rate_per_min, 3), "abs_error": None if pred is None else round(abs(pred - est.rate_per_min), 3)}
        series = report.hr_series if source == "pulse" else report.br_series
        if series and est.series:
            tt = np.array([s[0] for s in est.series])
            tv = np.array([s[1] for s in est.series])
            pv = np.array([v for _, v in series])
            pt = np.array([t for t, _ in series])
            ref = np.interp(pt, tt, tv)
            entry["series_mae"] = round(float(np.mean(np.abs(pv - ref))), 3)
        if source == "pulse":
            entry["snr_db"] = round(float(snr_db(arrays["pulse_wave"], report.fps, est.rate_per_min)), 3)
        res[series_key] = entry
    return res


def _hrv_columns(measures: dict) -> dict:
    keys = ("t_start_s", "t_end_s", "n_ibi", "mean_hr_bpm", "sdnn_ms", "rmssd_ms", "pnn50_pct")
    return {k: measures[k] for k in keys if k in measures}


def _write_outputs(out: Path, report, arrays) -> list[str]:
    import pandas as pd  # noqa: PLC0415 - deferred: building the parser must stay light

    from physio.atomic import AtomicFile, output_folder  # noqa: PLC0415
    from physio.figures.rates import rates_figure  # noqa: PLC0415

    fps = report.fps
    pw = arrays["pulse_wave"]
    rw = arrays["resp_wave"]
    n = len(pw)
    df = pd.DataFrame({"time_s": np.arange(n) / fps, "pulse_wave": pw,
                       "resp_wave": rw if rw is not None and len(rw) == n else np.full(n, np.nan)})
    series = pd.DataFrame([{"signal": "hr", "t": t, "value": v} for t, v in report.hr_series]
                          + [{"signal": "br", "t": t, "value": v} for t, v in report.br_series])
    tables = [("waveforms.csv", df), ("series.csv", series)]
    hrv = arrays.get("hrv")
    if hrv is not None:
        b = hrv.beats_s
        tables.append(("beats.csv", pd.DataFrame({
            "time_s": b, "ibi_ms": np.concatenate([[np.nan], hrv.ibi_ms]) if b.size else b,
            "ibi_used": np.concatenate([[False], hrv.ibi_ok]) if b.size else np.zeros(0, bool)})))
        rows = [{"window": "all", "t_start_s": 0.0, "t_end_s": round(n / fps, 3), **_hrv_columns(hrv.overall)}]
        rows += [{"window": str(i), **_hrv_columns(w)} for i, w in enumerate(hrv.windows)]
        tables.append(("hrv.csv", pd.DataFrame(rows)))
    files = []
    with output_folder(out):
        for name, frame in tables:
            with AtomicFile(out / name) as f:
                frame.to_csv(f.tmp, index=False, float_format="%.6g")
            files.append(str(out / name))
        windows = arrays.get("windows", {})
        rates_figure(pw, rw, fps, report.hr_series, report.br_series, hr_bpm=report.hr_bpm, br_bpm=report.br_bpm,
                     method=report.method, path=out / "rates.png", beats_s=None if hrv is None else hrv.beats_s,
                     hr_window_s=windows.get("hr"), br_window_s=windows.get("br"),
                     br_missing=f"no breathing rate: {report.extra.get('br_error') or 'no signal'}")
    files.append(str(out / "rates.png"))
    return files


def _run_batch(args: argparse.Namespace, bands: str) -> int:
    from physio.rates.batch import run_batch  # noqa: PLC0415

    if not args.out:
        raise InputError("--batch needs -o RESULTS.csv or RESULTS.parquet")
    if args.truth:
        raise InputError("--truth scores one video; it does not apply to --batch")
    rows = run_batch(args.video, args.out, method=args.method, resp_method=args.resp_method, roi=args.roi,
                     detector=args.detector, every=args.every, torso_every=args.torso_every,
                     pulse_model=args.pulse_model,
                     resp_model=args.resp_model, bands=bands, device=None if args.device == "auto" else args.device,
                     workers=args.workers, overwrite=args.overwrite, progress=not args.quiet, face=args.face,
                     engine=args.engine, address=args.address)
    failed = [r for r in rows if r["error"]]
    for r in failed:
        print(f"physio: warning: {r['video']}: {r['error']}", file=sys.stderr)
    summary = {"results": str(args.out), "videos": len(rows), "failed": len(failed)}
    print(json.dumps(summary) if args.json else f"{args.out}: {len(rows)} videos, {len(failed)} failed")
    return 0


def run(args: argparse.Namespace) -> int:
    from physio.rates.faces import measure_faces  # noqa: PLC0415

    if args.subject != "adult" and args.bands is not None:
        raise InputError(f"--subject {args.subject} sets the bands itself; leave out --bands {args.bands}")
    bands = args.subject if args.subject != "adult" else (args.bands or "deepmag")
    if args.batch:
        return _run_batch(args, bands)
    if len(args.video) != 1:
        raise InputError(f"{len(args.video)} videos given: measure several with --batch -o RESULTS.csv")
    if args.workers != 1 or args.overwrite or args.engine != "local" or args.address:
        raise InputError("--workers, --overwrite, --engine and --address apply to --batch only")
    args.video = args.video[0]
    if args.out:
        check_output_folder(args.out, inputs=[args.video])
    truth = _load_truth(args.truth) if args.truth else None
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be >= 1, got {args.threads}")
        import torch  # noqa: PLC0415

        torch.set_num_threads(args.threads)
    report, arrays, per_face = measure_faces(
        args.video, args.face, method=args.method, resp_method=args.resp_method, roi=args.roi, detector=args.detector,
        every=args.every, torso_every=args.torso_every, fps=args.fps, start_s=args.start, end_s=args.end, pulse_model=args.pulse_model,
        resp_model=args.resp_model, bands=bands, device=None if args.device == "auto" else args.device,
        progress=not args.quiet,
    )
    report.extra["subject"] = args.subject
    if truth is not None:
        report.extra["truth"] = _score(report, arrays, truth)
    several = len(per_face) > 1
    for info, rep, _ in per_face:
        who = f"face {info['id']}: " if several else ""
        for line in rep.extra["warnings"]:
            print(f"physio: warning: {who}{line}", file=sys.stderr)
    if args.out:
        report.extra["files"] = _write_outputs(Path(args.out), report, arrays)
        if several:
            for info, rep, arr in per_face:
                report.extra["files"] += _write_outputs(Path(args.out) / f"face_{info['id']}", rep, arr)
    if args.json:
        print(json.dumps(report.to_json()))
        return 0
    for info, rep, _ in per_face:
        _print_summary(f"{args.video}" + (f" face {info['id']}" if several else ""), rep, args.resp_method)
    if truth is not None:
        print("truth: " + json.dumps(report.extra["truth"]), file=sys.stdout)
    return 0


def _print_summary(name: str, report, resp_method: str) -> None:
    conf = report.extra["confidence"]
    br = "n/a" if report.br_bpm is None else f"{report.br_bpm:.1f} breaths/min ({conf['br']['level']} confidence)"
    print(f"{name}: HR {report.hr_bpm:.1f} bpm ({report.method}, {conf['hr']['level']} confidence), "
          f"BR {br} ({resp_method})")
    hrv = report.extra.get("hrv")
    if hrv and hrv["rmssd_ms"] is not None:
        print(f"  HRV: RMSSD {hrv['rmssd_ms']:.1f} ms, SDNN {hrv['sdnn_ms']:.1f} ms, pNN50 {hrv['pnn50_pct']:.1f} % "
              f"({hrv['n_ibi']} of {len(hrv['ibi_ms'])} intervals used; {conf['hrv']['level']} confidence)")
