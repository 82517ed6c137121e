"""The ``physio compare`` report: ``report.html`` (self-contained: figures embedded as PNG data URIs),
``results.csv`` (per task and method), ``sessions.csv`` (per clip and method) and ``compare.json``.

Every file is written atomically (temporary file, then rename), so an interrupted run leaves no
half-written report.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

from physio.atomic import atomic_write_bytes, atomic_write_text
from physio.evaluation.scoring import MOVING_EDGE_LEVELS

__all__ = ["write_report", "RESULT_COLUMNS"]

RESULT_COLUMNS = ("task", "method", "n", "psnr", "ssim", "fidelity_psnr", "fidelity_ssim", "fidelity_r", "leakage",
                  "change_out", "change_edges", "gain", "hr_mae", "br_mae", "fps", "peak_mb")
_SESSION_COLUMNS = ("session", "task", "method", "factor", "frames", "psnr", "ssim", "fidelity_psnr", "fidelity_ssim",
                    "fidelity_r", "leakage", "change_out", "change_edges", "gain", "hr_bpm", "hr_true", "br_bpm",
                    "br_true", "fps", "peak_mb")
_HEAD = {"psnr": "PSNR dB", "ssim": "SSIM", "fidelity_psnr": "PSNR vs truth", "fidelity_ssim": "SSIM vs truth",
         "fidelity_r": "fidelity r", "leakage": "leakage",
         "change_out": "RMS change outside", "change_edges": "RMS change on moving edges", "gain": "gain",
         "hr_mae": "HR MAE bpm",
         "br_mae": "BR MAE breaths/min", "fps": "frames/s", "peak_mb": "peak MiB"}


def _fmt(v, key: str = "") -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if key in ("ssim", "fidelity_ssim", "fidelity_r", "leakage"):
            return f"{v:.4f}"
        if key in ("gain",):
            return f"{v:.3f}"
        if key in ("factor", "gamma", "value"):  # γ ~ 1e-4 .. 1e-2: significant digits, not decimals
            return f"{v:.4g}"
        return f"{v:.2f}"
    return html.escape(str(v))


def _csv(rows: list[dict], cols) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(cols), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue().encode()


def _table(rows: list[dict], cols, head: dict | None = None) -> str:
    head = head or {}
    th = "".join(f"<th>{html.escape(head.get(c, c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c), c)}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def _span(cal: dict) -> str:
    """The calibration span actually used (a clip shorter than the requested seconds is used whole)."""
    used = cal.get("seconds_used")
    if not used:
        return f"first {cal.get('seconds')} s"
    lo, hi = min(used), max(used)
    span = f"{lo:g} s" if lo == hi else f"{lo:g}–{hi:g} s"
    return f"the first {span} of each (requested {cal.get('seconds')} s)"


def markdown_table(result: dict) -> str:
    """The per-task table as markdown (for the terminal and ``docs/``)."""
    cols = [c for c in RESULT_COLUMNS if any(r.get(c) is not None for r in result["results"])]
    lines = ["| " + " | ".join(_HEAD.get(c, c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for r in result["results"]:
        lines.append("| " + " | ".join(_fmt(r.get(c), c).replace("–", "–") for c in cols) + " |")
    return "\n".join(lines)


def write_report(result: dict, out_dir, command: str = "") -> list[str]:
    """Write ``report.html``, ``results.csv``, ``sessions.csv`` and ``compare.json`` into ``out_dir``
    (figures already written there by the comparison are embedded); returns the written paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in (("results.csv", _csv(result["results"], RESULT_COLUMNS)),
                       ("sessions.csv", _csv(result["sessions"], _SESSION_COLUMNS)),
                       ("compare.json", (json.dumps({**result, "command": command}, indent=1) + "\n").encode())):
        atomic_write_bytes(out / name, data)
        written.append(str(out / name))
    figs = result.get("figures", {})
    cal = result.get("calibration", {})
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>physio compare: {html.escape(result['source'])}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #bbb;padding:3px 7px;"
        "text-align:right}th{background:#eee}figure{margin:1em 0}img{max-width:100%}"
        "code,pre{background:#f4f4f4;padding:2px 4px}</style>",
        "</head>", "<body>",
        f"<h1>physio compare — {html.escape(result['source'])} magnification</h1>",
        f"<p>Device: <b>{html.escape(result['device'])}</b>. Band {result['band_hz'][0]:g}–{result['band_hz'][1]:g} Hz. "
        f"Methods: {html.escape(', '.join(result['methods']))}.</p>",
        "<h2>Results per task and method</h2>",
        "<p>PSNR/SSIM against the original frame (paper Table 1) and, on synthetic cohorts, against the "
        "ground-truth magnified rendering; fidelity r between each method's change and the true change in "
        "the source region; leakage = mean squared change outside the region over inside; RMS change "
        f"outside the region and on moving edges (original luma moved &gt; {MOVING_EDGE_LEVELS:g} grey levels "
        "since the previous frame), in grey levels; gain = in-band "
        "amplitude ratio in the region; HR/BR MAE of the rates measured from each output (same estimator "
        "for all); runtime on the device above. <i>original</i> scores the unmagnified input.</p>",
        _table(result["results"], RESULT_COLUMNS, _HEAD),
        "<h2>Matched gain</h2>",
        f"<p>Factors calibrated on task {html.escape(str(cal.get('task', '?')))} clips "
        f"({html.escape(', '.join(cal.get('clips', [])))}, {_span(cal)}) to the target gain "
        f"{_fmt(cal.get('target_gain'), 'gain')} ({html.escape(str(cal.get('target', 'given factors')))}), "
        "then kept for every task.</p>",
        _table([{"method": m, **{k: v for k, v in f.items() if k != "history"}} for m, f in cal.get("factors", {}).items()],
               ("method", "param", "value", "gain", "converged", "given")),
    ]
    if result.get("gamma_sweep"):
        parts += ["<h2>Step size γ (paper Table 2)</h2>",
                  _table(result["gamma_sweep"], ("multiple", "gamma", "task", "n", "psnr", "ssim", "gain"), _HEAD)]
    if result.get("ablation"):
        parts += ["<h2>Ablations (§5.4)</h2>", _table([result["ablation"]], list(result["ablation"]))]
    if figs:
        parts.append("<h2>Figures</h2>")
        for name, rel in figs.items():
            parts.append(_img(out / rel, name.replace("_", " ")))
    parts += ["<h2>Per clip</h2>", _table(result["sessions"], _SESSION_COLUMNS, _HEAD),
              "<h2>Environment</h2>",
              _table([result.get("environment", {})], list(result.get("environment", {}))),
              f"<p>Command: <code>{html.escape(command)}</code></p>", "</body>", "</html>"]
    atomic_write_text(out / "report.html", "\n".join(parts))
    written.append(str(out / "report.html"))
    return written
