"""Figures of a ``physio compare`` run: scan lines (paper Fig. 5/6), pixel traces (Fig. 7/8), Table 1
as bars, rates from the outputs (Bland–Altman), and the §5.4 ablations (Fig. 10/11)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physio.figures.base import save_figure
from physio.figures.deepmag import correlation_map_figure, gradient_norm_figure
from physio.figures.magnification import (
    change_map_figure,
    pixel_trace_figure,
    scanline_figure,
)
from physio.magnify.learned.catalog import LEARNED
from physio.figures.rates import bland_altman_plot

__all__ = ["write_figures", "label"]

_LABEL = {"original": "original", "deepmag": "DeepMag", "evm": "EVM", "phase": "phase EVM", "vam": "VAM",
          **{name: entry.label for name, entry in LEARNED.items()},
          "deepmag-nol1": "DeepMag, no L1 norm", "deepmag-nosign": "DeepMag, no sign corr.",
          "deepmag-signsample": "DeepMag, per-sample sign", "deepmag-full": "DeepMag, whole frame"}


def label(method: str) -> str:
    return _LABEL.get(method, method)


def write_figures(result: dict, recordings: dict, source: str, out_dir, ablation=None) -> dict:
    """Write every figure of a comparison under ``out_dir``; returns ``{name: path relative to out_dir's parent}``.

    Parameters
    ----------
    result : dict
        :func:`physio.evaluation.compare.compare`'s result (``methods``, ``results``, ``sessions``).
    recordings : dict task → :class:`physio.evaluation.compare.TaskRecordings`
        What the first clip of each task recorded (scan lines, pixel traces, change maps per method).
    source : {"pulse", "resp"}
    ablation : :class:`physio.evaluation.compare.Ablation`, optional
        The §5.4 ablation series (Fig. 10/11).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}

    def keep(name: str, fig) -> None:
        path = out / f"{name}.png"
        save_figure(fig, path, dpi=110)
        files[name] = f"{out.name}/{path.name}"

    methods = ["original", *result["methods"]]
    for task, rec in recordings.items():
        clip = rec.clip
        scans = {label(m): rec.scanlines[m] for m in methods if m in rec.scanlines}
        traces = {label(m): rec.traces[m] for m in methods if m in rec.traces}
        if not scans:
            continue
        keep(f"scanline_{task}", scanline_figure(scans, clip.fps, clip.scan_line, frame=rec.first_frame,
                                                 title=f"{clip.name} (task {task}): scan line, {source}"))
        keep(f"pixel_{task}", pixel_trace_figure(traces, clip.fps, channel_names=("R", "G", "B"), subtract_mean=True,
                                                 title=f"{clip.name}: pixel (x={clip.pixel[0]}, y={clip.pixel[1]})"))
        changes = {label(m): rec.change_maps[m] for m in result["methods"] if m in rec.change_maps}
        if changes:
            region, name = ((clip.regions.skin_fixed, "skin") if source == "pulse"
                            else (clip.regions.shoulders_fixed, "shoulders"))
            keep(f"change_{task}", change_map_figure(
                changes, frame=rec.first_frame, mask=region,
                title=f"{clip.name} (task {task}): where each method changes the frame ({name} outlined)"))

    # Table 1 as bars
    agg = [r for r in result["results"] if r["task"] != "all" and r["method"] != "original"]
    tasks = sorted({r["task"] for r in agg})
    ms = list(dict.fromkeys(r["method"] for r in agg))
    if agg:
        fig = Figure(figsize=(9, 3.4), layout="constrained")
        for k, key in enumerate(("psnr", "ssim", "gain")):
            ax = fig.add_subplot(1, 3, k + 1)
            w = 0.8 / max(1, len(ms))
            for j, m in enumerate(ms):
                vals = [next((r[key] for r in agg if r["task"] == t and r["method"] == m), None) for t in tasks]
                ax.bar(np.arange(len(tasks)) + j * w, [np.nan if v is None else v for v in vals], w, label=label(m))
            ax.set_xticks(np.arange(len(tasks)) + w * (len(ms) - 1) / 2, tasks)
            ax.set_title({"psnr": "PSNR vs original [dB]", "ssim": "SSIM vs original", "gain": "in-band gain"}[key])
            if key == "ssim":
                lo = min((r["ssim"] for r in agg if r["ssim"] is not None), default=0.9)
                ax.set_ylim(max(0.0, lo - 0.02), 1.0)
        fig.axes[0].legend(fontsize="small")
        keep("table1", fig)

    # rates from the outputs
    rate = "hr" if source == "pulse" else "br"
    unit = "bpm" if rate == "hr" else "breaths/min"
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    drawn = False
    for k, rt in enumerate(("hr", "br")):
        ax = fig.add_subplot(1, 2, k + 1)
        for j, m in enumerate(methods):
            rows = [r for r in result["sessions"] if r["method"] == m and r.get(f"{rt}_bpm") is not None]
            if not rows:
                continue
            x = np.arange(len(rows)) + (j - (len(methods) - 1) / 2) * 0.8 / len(methods)
            ax.scatter(x, [r[f"{rt}_bpm"] for r in rows], s=16, label=label(m))
            drawn = True
        truth = [r.get(f"{rt}_true") for r in result["sessions"] if r["method"] == "original"]
        if any(v is not None for v in truth):
            ax.scatter(np.arange(len(truth)), [np.nan if v is None else v for v in truth], marker="_", s=300,
                       color="k", label="truth")
        clips_ = [r["session"] for r in result["sessions"] if r["method"] == "original"]
        ax.set_xticks(np.arange(len(clips_)), clips_, rotation=60, fontsize="x-small")
        ax.set_ylabel(f"{rt.upper()} measured from the output [{'bpm' if rt == 'hr' else 'breaths/min'}]")
    if drawn:
        fig.axes[0].legend(fontsize="x-small")
        keep("rates", fig)
    for m in methods:
        rows = [r for r in result["sessions"] if r["method"] == m and r.get(f"{rate}_bpm") is not None
                and r.get(f"{rate}_true") is not None]
        if len(rows) >= 2:
            keep(f"bland_altman_{m}", bland_altman_plot([r[f"{rate}_bpm"] for r in rows], [r[f"{rate}_true"] for r in rows],
                                                        unit=unit, title=f"{rate.upper()} from the {label(m)} output"))
    if ablation is not None:
        keep("ablation_gradient_norms", gradient_norm_figure(ablation.x_l1, ablation.g_l1, fps=ablation.fps,
                                                              title=f"{ablation.clip}: L1 norms (§5.4)"))
        keep("ablation_correlation", correlation_map_figure(ablation.corr_maps,
                                                            title=f"{ablation.clip}: corr(X1, XN) per pixel (§5.4)"))
    return files
