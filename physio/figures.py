"""Figures of magnification results, after the DeepMag paper's Figs. 5–11.

Like :mod:`physio.plots`, this builds ``matplotlib.figure.Figure`` objects directly (no pyplot, no
global backend; rendering goes through Agg), returns them, and saves them when given ``path`` — here
atomically: the image is written to a hidden temporary file beside the destination and renamed over
it, so an interrupted run never leaves a truncated PNG.  Nothing is computed here beyond what a
figure needs to draw: scan lines, pixel traces, objectives and correlations come from
:mod:`physio.magnify.outputs` and :class:`physio.magnify.deepmag.DeepMag`.

=========================  ====================================================  ===================
function                   shows                                                 paper
=========================  ====================================================  ===================
scanline_figure            space–time slices along one line, one panel a method  Fig. 5, 6
pixel_trace_figure         channel traces of one pixel, one line per method/γ    Fig. 7, 8
learning_curve_figure      mean ± spread of ``|y(X_n)|`` over time points vs n   Fig. 9
gradient_norm_figure       series and histograms of ``‖X₁‖₁`` and ``‖∇‖y‖₂‖₁``   Fig. 10
correlation_map_figure     per-pixel input–output correlation, diverging map     Fig. 11
change_map_figure          RMS change per pixel, one panel a method (log scale)  —
=========================  ====================================================  ===================

References
----------
Chen, W. & McDuff, D. (2020). "DeepMag: Source-specific change magnification using gradient ascent."
ACM Transactions on Graphics 40(1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physio.errors import InputError
from physio.magnify.outputs import correlation_summary

__all__ = [
    "scanline_figure",
    "pixel_trace_figure",
    "learning_curve_figure",
    "gradient_norm_figure",
    "correlation_map_figure",
    "save_figure",
]


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (format from the suffix; PNG when there is none); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fmt = p.suffix[1:].lower() or "png"
    tmp = p.with_name(f".{p.name}.partial-{os.getpid()}")
    try:
        fig.savefig(tmp, format=fmt, dpi=dpi)
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def _check_fps(fps: float) -> float:
    if fps is None or not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _as_dict(data, name: str) -> dict:
    if isinstance(data, Mapping):
        if not data:
            raise InputError(f"{name}: empty mapping")
        return dict(data)
    return {"": data}


def _image(x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Make an array drawable by imshow: RGB uint8 as is, RGB float clipped to its range, 2-D grey."""
    if x.ndim == 2:
        return x, {"cmap": "gray"}
    if x.ndim == 3 and x.shape[-1] == 3:
        if x.dtype == np.uint8:
            return x, {}
        xf = x.astype(np.float64)
        return (np.clip(xf, 0, 1) if np.nanmax(xf) <= 1.0 else np.clip(xf, 0, 255) / 255.0), {}
    raise InputError(f"expected (T, L, 3) RGB or (T, L) values, got shape {x.shape}")


_LINE_COLOR = "#ffd700"  # the paper's yellow line/dot


# -- Fig. 5/6 ------------------------------------------------------------------------------------


def scanline_figure(
    scanlines: Mapping[str, np.ndarray],
    fps: float,
    line_desc: str | tuple[str, int],
    *,
    frame: np.ndarray | None = None,
    time_axis: str = "x",
    t0_s: float = 0.0,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Scan-line comparison: each method's space–time slice along one line, one panel per method.

    Parameters
    ----------
    scanlines : dict label → ndarray ``(T, L, 3)`` uint8 (or ``(T, L)`` values)
        From :class:`physio.magnify.outputs.ScanlineRecorder`, e.g. ``{"original": …, "EVM": …,
        "DeepMag": …}``; panels follow the dict's order.
    fps : float
        Frame rate: the time axis is in seconds.
    line_desc : str or ("h", y) / ("v", x)
        What the line is (axis label); a line tuple is also drawn on ``frame``.
    frame : ndarray ``(H, W, 3)``, optional
        An example frame shown left of the panels (with the line in yellow when ``line_desc`` is a
        tuple), like the paper's insets.
    time_axis : {"x", "y"}
        ``"x"`` (default): time runs left to right, position top to bottom, panels stacked in rows;
        ``"y"``: time runs downwards, panels side by side.
    t0_s : float
        Time of the first recorded frame (e.g. ``start / fps`` of the recorder).
    title : str, optional
    path : str or path-like, optional
        Save the figure there (atomically).

    Returns
    -------
    Figure
        ``len(scanlines)`` axes, plus one for ``frame`` when given (that one first).
    """
    fps = _check_fps(fps)
    lines = _as_dict(scanlines, "scanlines")
    if time_axis not in ("x", "y"):
        raise InputError(f"time_axis must be 'x' or 'y', got {time_axis!r}")
    line = None
    if isinstance(line_desc, tuple):
        if len(line_desc) != 2 or line_desc[0] not in ("h", "v"):
            raise InputError(f"line must be ('h', y) or ('v', x), got {line_desc!r}")
        line = (line_desc[0], int(line_desc[1]))
        desc = f"horizontal line y = {line[1]} px" if line[0] == "h" else f"vertical line x = {line[1]} px"
    else:
        desc = str(line_desc)
    along = "x" if line is not None and line[0] == "h" else ("y" if line is not None else "position")
    n = len(lines)
    has_frame = frame is not None
    if time_axis == "x":
        fig = Figure(figsize=(9.5 if has_frame else 8, max(2.2, 1.7 * n + 0.6)), layout="constrained")
        gs = fig.add_gridspec(n, 2 if has_frame else 1, width_ratios=[1, 3] if has_frame else None)
        slots = [gs[i, -1] for i in range(n)]
        frame_slot = gs[:, 0] if has_frame else None
    else:
        fig = Figure(figsize=(2.4 * (n + has_frame) + 0.5, 5), layout="constrained")
        gs = fig.add_gridspec(1, n + has_frame)
        slots = [gs[0, i + has_frame] for i in range(n)]
        frame_slot = gs[0, 0] if has_frame else None
    if has_frame:
        ax = fig.add_subplot(frame_slot)
        img, kw = _image(np.asarray(frame))
        ax.imshow(img, **kw)
        if line is not None:
            (ax.axhline if line[0] == "h" else ax.axvline)(line[1], color=_LINE_COLOR, lw=1.2)
        ax.set_axis_off()
        ax.set_title("frame", fontsize="small")
    first = None
    for i, (label, sl) in enumerate(lines.items()):
        arr = np.asarray(sl)
        if arr.ndim not in (2, 3) or len(arr) < 1:
            raise InputError(f"scanlines[{label!r}] must be (T, L, 3) or (T, L), got shape {arr.shape}")
        img, kw = _image(arr)
        t, length = arr.shape[0], arr.shape[1]
        t1 = t0_s + t / fps
        ax = fig.add_subplot(slots[i], sharex=first if time_axis == "x" else None,
                             sharey=first if time_axis == "y" else None)
        first = first or ax
        if time_axis == "x":
            ax.imshow(np.swapaxes(img, 0, 1), aspect="auto", extent=(t0_s, t1, length, 0), interpolation="nearest", **kw)
            ax.set_ylabel(f"{along} [px]")
            if i == n - 1:
                ax.set_xlabel("time [s]")
            else:
                ax.tick_params(labelbottom=False)
        else:
            ax.imshow(img, aspect="auto", extent=(0, length, t1, t0_s), interpolation="nearest", **kw)
            ax.set_xlabel(f"{along} [px]")
            if i == 0:
                ax.set_ylabel("time [s]")
            else:
                ax.tick_params(labelleft=False)
        ax.set_title(label or None, fontsize="small", loc="left")
    fig.suptitle(title or f"scan lines along the {desc}", fontsize="medium")
    if path is not None:
        save_figure(fig, path)
    return fig


# -- Fig. 7/8 ------------------------------------------------------------------------------------


def pixel_trace_figure(
    traces: Mapping[str, np.ndarray],
    fps: float,
    *,
    channel_names: Sequence[str] | None = None,
    t0_s: float = 0.0,
    subtract_mean: bool = False,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Traces of one pixel's channels over time: one subplot per channel, one line per label.

    Parameters
    ----------
    traces : dict label → ndarray ``(T, C)`` (or ``(T,)``)
        E.g. ``{"original": …, "γ×0.5": …, "γ": …, "γ×2": …, "γ×4": …}`` — one point of
        :class:`physio.magnify.outputs.PixelTraceRecorder` per run (``rec.result()[:, p]``).
    fps : float
        Frame rate (time axis in seconds).
    channel_names : sequence of str, optional
        Subplot titles; default ``("red", "green", "blue")`` for 3 channels (Fig. 7), else
        ``channel 0 …`` (e.g. pass ``("θ = 0°", "θ = 45°", "θ = 90°", "θ = 135°")`` for Fig. 8's
        phase orientations).
    t0_s : float
        Time of the first sample.
    subtract_mean : bool
        Plot each trace minus its mean (compare amplitudes when offsets differ).
    title : str, optional
    path : str or path-like, optional

    Returns
    -------
    Figure
        ``C`` axes sharing the time axis; the first label is drawn in black (the original).
    """
    fps = _check_fps(fps)
    data = {}
    for label, tr in _as_dict(traces, "traces").items():
        a = np.asarray(tr, dtype=np.float64)
        a = a[:, None] if a.ndim == 1 else a
        if a.ndim != 2 or len(a) < 1:
            raise InputError(f"traces[{label!r}] must be (T, C) or (T,), got shape {np.shape(tr)}")
        data[label] = a - np.nanmean(a, axis=0) if subtract_mean else a
    channels = {a.shape[1] for a in data.values()}
    if len(channels) != 1:
        raise InputError(f"all traces need the same number of channels, got {sorted(channels)}")
    c = channels.pop()
    if channel_names is None:
        channel_names = ("red", "green", "blue") if c == 3 else tuple(f"channel {k}" for k in range(c))
    if len(channel_names) != c:
        raise InputError(f"{len(channel_names)} channel names for {c} channels")
    fig = Figure(figsize=(8, 1.9 * c + 0.6), layout="constrained")
    axes = fig.subplots(c, 1, sharex=True, squeeze=False)[:, 0]
    for k, ax in enumerate(axes):
        for j, (label, a) in enumerate(data.items()):
            t = t0_s + np.arange(len(a)) / fps
            ax.plot(t, a[:, k], lw=1.0, label=label or None, color="k" if j == 0 else f"C{j - 1}",
                    zorder=3 if j == 0 else 2)
        ax.set_title(channel_names[k], fontsize="small", loc="left")
        ax.set_ylabel("intensity" + (" − mean" if subtract_mean else ""))
    axes[-1].set_xlabel("time [s]")
    if any(data):
        axes[0].legend(fontsize="x-small", ncol=min(len(data), 5), loc="upper right")
    if title:
        fig.suptitle(title, fontsize="medium")
    if path is not None:
        save_figure(fig, path)
    return fig


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
    curves = _as_dict(objective, "objective")
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
        Per-time-point norms, e.g. from :func:`physio.magnify.outputs.ascent_l1_norms`.
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
        _check_fps(fps)
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
        From :func:`physio.magnify.outputs.per_pixel_correlation`; a dict draws one panel per map
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
    import matplotlib as mpl  # noqa: PLC0415

    maps = _as_dict(corr, "corr")
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


def change_map_figure(
    maps: Mapping[str, np.ndarray],
    *,
    frame: np.ndarray | None = None,
    mask=None,
    title: str | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """Where each method changes the frame: RMS change per pixel over a clip, one panel per method.

    Parameters
    ----------
    maps : dict label → ndarray ``(H, W)``
        RMS change (grey levels) per pixel, e.g. from :meth:`physio.magnify.scoring.ClipScorer.change_map`.
        All panels share one logarithmic colour scale (0.1 grey level to the largest value), so methods
        whose changes differ by orders of magnitude stay comparable.
    frame : ndarray ``(H, W, 3)``, optional
        An example frame shown first.
    mask : ndarray ``(H, W)`` of bool, optional
        The source region, outlined on every panel; panel titles then give the RMS inside and outside it.
    title : str, optional
    path : str or path-like, optional

    Returns
    -------
    Figure
        One axes per map (plus one for ``frame``) and a colour bar.
    """
    import matplotlib as mpl  # noqa: PLC0415

    data = {k: np.asarray(v, dtype=np.float64) for k, v in _as_dict(maps, "maps").items()}
    for k, a in data.items():
        if a.ndim != 2:
            raise InputError(f"maps[{k!r}] must be (H, W), got shape {a.shape}")
    m = None if mask is None else np.asarray(mask, dtype=bool)
    top = max(max(float(np.nanmax(a)) for a in data.values()), 0.2)
    norm = mpl.colors.LogNorm(vmin=0.1, vmax=top)
    n = len(data) + (frame is not None)
    fig = Figure(figsize=(3.3 * n + 0.8, 3.2), layout="constrained")
    axes = list(fig.subplots(1, n, squeeze=False)[0])
    if frame is not None:
        ax = axes.pop(0)
        ax.imshow(np.asarray(frame))
        ax.set_title("frame", fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    im = None
    for ax, (label, a) in zip(axes, data.items()):
        im = ax.imshow(np.maximum(a, 0.1), cmap="magma", norm=norm, interpolation="nearest")
        head = f"{label}: RMS {np.sqrt(np.mean(a ** 2)):.2f}"
        if m is not None:
            if m.shape != a.shape:
                raise InputError(f"mask shape {m.shape} differs from maps[{label!r}]'s {a.shape}")
            ax.contour(m.astype(float), levels=[0.5], colors="c", linewidths=0.6)
            inside = np.sqrt(np.mean(a[m] ** 2)) if m.any() else float("nan")
            outside = np.sqrt(np.mean(a[~m] ** 2)) if (~m).any() else float("nan")
            head += f"\nin {inside:.2f} / out {outside:.2f}"
        ax.set_title(head, fontsize="small")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes, shrink=0.85, label="RMS change per pixel [grey levels]")
    if title:
        fig.suptitle(title, fontsize="medium")
    if path is not None:
        save_figure(fig, path)
    return fig
