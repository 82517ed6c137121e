"""The circle benchmark's sweeps (`physio bench-magnifiers --plot`): one figure of every method.

Columns: the noise sweep (input noise σ), the sub-pixel sweep (input amplitude, factor scaled to keep
the output motion), the magnification-factor sweep (multiplier of the factor and of the truth's
motion) and the no-motion test (static circles, the truth is the input).  Rows: MSE against the
ground truth (log axis, as the thesis plots it) and SSIM.  The numbers are those of
:func:`physio.evaluation.circles.circle_benchmark`; nothing is recomputed here.
"""

from __future__ import annotations

import os

import numpy as np

from physio.errors import InputError
from physio.figures.base import Figure, colormap, save_figure

__all__ = ["SWEEPS", "circle_sweeps_figure"]

# (result key, x column, x label, log x axis)
SWEEPS = (
    ("noise_sweep", "sigma", "input noise σ (8-bit levels)", False),
    ("subpixel_sweep", "amp_in_px", "input motion (px)", True),
    ("factor_sweep", "multiplier", "factor × (truth motion ×)", True),
)


def circle_sweeps_figure(res: dict, path: str | os.PathLike | None = None, title: str | None = None) -> Figure:
    """MSE and SSIM of every method along each sweep, and the no-motion test, from a benchmark result."""
    sweeps = [s for s in SWEEPS if res.get(s[0])]
    if not sweeps and not res.get("no_motion"):
        raise InputError("the benchmark result has no sweeps (it was run with --no-sweeps)")
    names = list(res[sweeps[0][0]]) if sweeps else list(res["no_motion"])
    cmap = colormap("tab10" if len(names) <= 10 else "tab20")
    colours = {n: cmap(i % cmap.N) for i, n in enumerate(names)}
    ncol = len(sweeps) + (1 if res.get("no_motion") else 0)
    fig = Figure(figsize=(3.6 * ncol, 6.4), layout="constrained")
    axes = fig.subplots(2, ncol, squeeze=False)
    for j, (key, col, xlabel, logx) in enumerate(sweeps):
        for n in names:
            rows = res[key].get(n, [])
            if not rows:
                continue
            x = [r[col] for r in rows]
            style = dict(marker="o", ms=3.5, lw=1.4, color=colours[n], label=n,
                         ls="--" if n == "identity" else "-")
            axes[0, j].plot(x, [max(r["mse"], 1e-3) for r in rows], **style)
            axes[1, j].plot(x, [r["ssim"] for r in rows], **style)
        axes[0, j].set_title(key.replace("_", " "))
        axes[0, j].set_yscale("log")
        xs = sorted({r[col] for rows in res[key].values() for r in rows})
        for i in range(2):
            axes[i, j].set_xlabel(xlabel)
            axes[i, j].grid(alpha=0.3)
            if logx and min(xs, default=0) > 0:
                axes[i, j].set_xscale("log")
                axes[i, j].minorticks_off()
            axes[i, j].set_xticks(xs, [f"{v:g}" for v in xs])
    if res.get("no_motion"):
        j = ncol - 1
        nm = res["no_motion"]
        shown = [n for n in names if n in nm]
        pos = np.arange(len(shown))
        axes[0, j].bar(pos, [min(nm[n]["psnr"], 100.0) for n in shown], color=[colours[n] for n in shown])
        axes[0, j].set_ylabel("PSNR (dB, truth = input)")
        axes[0, j].set_title("no-motion test")
        axes[1, j].bar(pos, [nm[n]["ssim"] for n in shown], color=[colours[n] for n in shown])
        for i in range(2):
            axes[i, j].set_xticks(pos, shown, rotation=60, ha="right", fontsize=7)
            axes[i, j].grid(alpha=0.3, axis="y")
    axes[0, 0].set_ylabel("MSE vs truth (8-bit², log)")
    axes[1, 0].set_ylabel("SSIM vs truth")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right center", fontsize=8)
    cfg = res.get("config", {})
    fig.suptitle(title or (f"circle benchmark sweeps: {min(cfg.get('sweep_videos', 0), cfg.get('n_videos', 0))} videos × "
                           f"{cfg.get('sweep_frames', '?')} frames, {cfg.get('size', '?')}² px"), fontsize=10)
    if path is not None:
        save_figure(fig, path)
    return fig
