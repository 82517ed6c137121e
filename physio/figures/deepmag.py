"""Figures of DeepMag's gradient ascent: learning curve (paper Fig. 9), L1 norms (Fig. 10), correlation
maps (Fig. 11).  The series come from :class:`physio.magnify.deepmag.DeepMag` (objective history),
:func:`physio.magnify.ascent.ascent_l1_norms` and :func:`physio.metrics.magnification.per_pixel_correlation`.

References
----------
Chen, W. & McDuff, D. (2020). "DeepMag: Source-specific change magnification using gradient ascent."
ACM Transactions on Graphics 40(1), §5.4.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from physio.errors import InputError
from physio.figures.base import as_dict, check_fps, save_figure
from physio.metrics.magnification import correlation_summary

__all__ = ["learning_curve_figure", "gradient_norm_figure", "correlation_map_figure"]


# -- Fig. 9 --------------------------------------------------------------------------------------


def _objective_matrix(obj, label) -> np.ndarray:
    """(N, B) array, or a list of such (batches of one run, concatenated over B) → (N, B')."""
    if isinstance(obj, (list, tuple)):
        parts = [np.asarray(o, dtype=np.float64) for o in obj]
        parts = [p[:, None] if p.ndim == 1 else p for p in parts]
        if not parts or any(p.ndim != 2 for p in parts) or len({p.shape[0] for p in parts}) != 1:
            raise InputError(f"objective {label!r}: a list must hold (N, B) arrays with the same N")
        return np.concatenate(parts, axis=1)
    a = np.asarray(obj, dtype=np.float64)
    a = a[:, None] if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] < 1:
        raise InputError(f"objective {label!r} must be (N, B), got shape {np.shape(obj)}")
    return a


def learning_curve_figure(
    objective,
    *,
    step: float | Mapping[str, float] | None = None,
    spread: str = "std",
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Learning curve of gradient ascent: ``|y(X_n)|`` against iteration n (Fig. 9).

    Parameters
    ----------
    objective : (N, B) array, list of (N, B) arrays, or dict label → either
        ``|y|`` per iteration (rows, n = 1 … N) and time point (columns) — ``DeepMag.objective_history``
        after ``stream(..., record=True)`` is a list of per-batch arrays, which are joined over time
        points.  A dict draws one curve per setting (e.g. ``{"N=10, γ=0.1": …, …}``, Fig. 9a).
    step : float or dict label → float, optional
        The step size γ of each curve: the x axis becomes ``(n − 1) · γ``, the total step length
        (Fig. 9b).  Default: x is n.
    spread : {"std", "sem", "range"}
        Band drawn around the mean over time points: ± standard deviation, ± standard error, or
        minimum–maximum.
    title : str, optional
    path : str or path-like, optional

    Returns
    -------
    Figure
        One axes.
    """
    if spread not in ("std", "sem", "range"):
        raise InputError(f"spread must be 'std', 'sem' or 'range', got {spread!r}")
    curves = as_dict(objective, "objective")
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for j, (label, obj) in enumerate(curves.items()):
        a = _objective_matrix(obj, label)
        n = np.arange(1, a.shape[0] + 1, dtype=np.float64)
        if step is not None:
            g = step.get(label) if isinstance(step, Mapping) else step
            if g is None:
                raise InputError(f"no step size for curve {label!r}")
            x = (n - 1) * float(g)
        else:
            x = n
        mean = a.mean(axis=1)
        if spread == "std":
            lo, hi = mean - a.std(axis=1), mean + a.std(axis=1)
        elif spread == "sem":
            se = a.std(axis=1, ddof=1) / np.sqrt(a.shape[1]) if a.shape[1] > 1 else np.zeros_like(mean)
            lo, hi = mean - se, mean + se
        else:
            lo, hi = a.min(axis=1), a.max(axis=1)
        color = f"C{j}"
        ax.plot(x, mean, marker="o" if len(x) <= 30 else None, ms=3, color=color, label=label or None)
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
    ax.set_xlabel("step length (n − 1)·γ" if step is not None else "iteration n")
    ax.set_ylabel(r"$|y(X_n)|$  (mean " + {"std": "± SD", "sem": "± SE", "range": ", min–max"}[spread]
                  + " over time points)")
    if any(curves):
        ax.legend(fontsize="small")
    ax.set_title(title or "gradient ascent learning curve", fontsize="medium")
    if path is not None:
        save_figure(fig, path)
    return fig


# -- Fig. 10 -------------------------------------------------------------------------------------


def gradient_norm_figure(
    x1_l1,
    grad_l1,
    *,
    fps: float | None = None,
    bins: int = 40,
    labels: tuple[str, str] = (r"$\|X_1\|_1$", r"$\|\nabla\|y(X_1)\|_2\|_1$"),
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Time series and histograms of ``‖X₁‖₁`` and of the gradient's L1 norm (Fig. 10, §5.4).

    Parameters
    ----------
    x1_l1, grad_l1 : array_like, shape (T,)
        Per-time-point norms, e.g. from :func:`physio.magnify.ascent.ascent_l1_norms`.
    fps : float, optional
        Frame rate: the series' x axis is in seconds (else the sample index).
    bins : int
        Histogram bins.
    labels : (str, str)
        Names of the two quantities.
    title : str, optional
    path : str or path-like, optional

    Returns
    -------
    Figure
        Four axes: (series, histogram) for ``X₁`` then for the gradient.  Each histogram's title gives
        the coefficient of variation (SD / mean): L1 normalisation matters when the gradient's is
        not the representation's (the gradient is not proportional to ``X₁``).
    """
    series = []
    for name, v in (("x1_l1", x1_l1), ("grad_l1", grad_l1)):
        a = np.asarray(v.detach().cpu() if hasattr(v, "detach") else v, dtype=np.float64).reshape(-1)
        if a.size < 1:
            raise InputError(f"{name} is empty")
        series.append(a)
    if int(bins) < 1:
        raise InputError(f"bins must be ≥ 1, got {bins}")
    if fps is not None:
        check_fps(fps)
    fig = Figure(figsize=(9, 5), layout="constrained")
    axes = fig.subplots(2, 2, width_ratios=[3, 1], sharey="row", squeeze=False)
    for row, (a, label) in enumerate(zip(series, labels)):
        x = np.arange(a.size) / fps if fps else np.arange(a.size)
        ax_t, ax_h = axes[row]
        ax_t.plot(x, a, lw=0.8, color=f"C{row}")
        ax_t.set_ylabel(label)
        ax_t.set_xlabel("time [s]" if fps else "time point")
        ax_h.hist(a[np.isfinite(a)], bins=int(bins), orientation="horizontal", color=f"C{row}", alpha=0.8)
        ax_h.set_xlabel("count")
        m = float(np.nanmean(a))
        cv = float(np.nanstd(a) / m) if m else float("nan")
        ax_h.set_title(f"CV = {cv:.2f}", fontsize="small")
    fig.suptitle(title or "L1 norms of the representation and of the objective's gradient", fontsize="medium")
    if path is not None:
        save_figure(fig, path)
    return fig


# -- Fig. 11 -------------------------------------------------------------------------------------


def correlation_map_figure(
    corr,
    *,
    mask=None,
    cmap: str = "RdBu_r",
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Per-pixel correlation between input and magnified representation, on a diverging map (Fig. 11).

    Parameters
    ----------
    corr : ndarray ``(H, W)`` or dict label → ndarray ``(H, W)``
        From :func:`physio.metrics.magnification.per_pixel_correlation`; a dict draws one panel per map
        (e.g. ``{"no sign correction": …, "sign correction": …}``) with one shared colour bar.
    mask : ndarray ``(H, W)`` of bool, optional
        Pixels to keep; the others are drawn black (Fig. 11d).  NaN pixels (constant over time) are grey.
    cmap : str
        Diverging colormap, centred on 0 (limits −1 … 1).
    title : str, optional
    path : str or path-like, optional

    Returns
    -------
    Figure
        One axes per map plus one for the colour bar.  Panel titles give the share of positive and
        negative correlations (within ``mask``).
    """
    maps = as_dict(corr, "corr")
    m = None if mask is None else np.asarray(mask, dtype=bool)
    n = len(maps)
    fig = Figure(figsize=(3.6 * n + 0.8, 3.6), layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    colormap = mpl.colormaps[cmap].with_extremes(bad="0.6")
    im = None
    for ax, (label, c) in zip(axes, maps.items()):
        a = np.asarray(c, dtype=np.float64)
        if a.ndim != 2:
            raise InputError(f"corr[{label!r}] must be (H, W), got shape {a.shape}")
        if m is not None and m.shape != a.shape:
            raise InputError(f"mask shape {m.shape} differs from corr[{label!r}]'s {a.shape}")
        s = correlation_summary(a, m)
        im = ax.imshow(a, cmap=colormap, vmin=-1.0, vmax=1.0, interpolation="nearest")
        if m is not None:
            overlay = np.zeros(a.shape + (4,))
            overlay[..., 3] = (~m).astype(float)
            ax.imshow(overlay, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        head = f"{label}\n" if label else ""
        ax.set_title(f"{head}r > 0: {100 * s['fraction_positive']:.1f} %, r < 0: "
                     f"{100 * s['fraction_negative']:.1f} %", fontsize="small")
    fig.colorbar(im, ax=list(axes), shrink=0.85, label="Pearson r (input vs magnified)")
    if title:
        fig.suptitle(title, fontsize="medium")
    if path is not None:
        save_figure(fig, path)
    return fig
