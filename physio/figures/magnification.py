"""Figures of a magnified video: scan lines (paper Fig. 5/6), pixel traces (Fig. 7/8), change maps.

The data come from the recorders of :mod:`physio.magnify.outputs` (scan lines, pixel traces) and
:meth:`physio.evaluation.scoring.ClipScorer.change_map`; see :mod:`physio.figures.base` for the
conventions (object API, atomic saving, no computation here).

References
----------
Chen, W. & McDuff, D. (2020). "DeepMag: Source-specific change magnification using gradient ascent."
ACM Transactions on Graphics 40(1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from physio.errors import InputError
from physio.figures.base import (
    LINE_COLOR,
    as_dict,
    check_fps,
    drawable_image,
    save_figure,
)

__all__ = ["scanline_figure", "pixel_trace_figure", "change_map_figure"]


def _parse_line(line_desc) -> tuple[tuple[str, int] | None, str]:
    """``("h", y)``/``("v", x)`` or a description → (the line or None, its description)."""
    if not isinstance(line_desc, tuple):
        return None, str(line_desc)
    if len(line_desc) != 2 or line_desc[0] not in ("h", "v"):
        raise InputError(f"line must be ('h', y) or ('v', x), got {line_desc!r}")
    line = (line_desc[0], int(line_desc[1]))
    return line, (f"horizontal line y = {line[1]} px" if line[0] == "h" else f"vertical line x = {line[1]} px")


def _scanline_layout(n: int, has_frame: bool, time_axis: str):
    """The figure, one slot per scan line, and the frame's slot (None without a frame)."""
    if time_axis == "x":
        fig = Figure(figsize=(9.5 if has_frame else 8, max(2.2, 1.7 * n + 0.6)), layout="constrained")
        gs = fig.add_gridspec(n, 2 if has_frame else 1, width_ratios=[1, 3] if has_frame else None)
        return fig, [gs[i, -1] for i in range(n)], (gs[:, 0] if has_frame else None)
    fig = Figure(figsize=(2.4 * (n + has_frame) + 0.5, 5), layout="constrained")
    gs = fig.add_gridspec(1, n + has_frame)
    return fig, [gs[0, i + has_frame] for i in range(n)], (gs[0, 0] if has_frame else None)


def _draw_frame(ax, frame, line) -> None:
    img, kw = drawable_image(np.asarray(frame))
    ax.imshow(img, **kw)
    if line is not None:
        (ax.axhline if line[0] == "h" else ax.axvline)(line[1], color=LINE_COLOR, lw=1.2)
    ax.set_axis_off()
    ax.set_title("frame", fontsize="small")


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
    fps = check_fps(fps)
    lines = as_dict(scanlines, "scanlines")
    if time_axis not in ("x", "y"):
        raise InputError(f"time_axis must be 'x' or 'y', got {time_axis!r}")
    line, desc = _parse_line(line_desc)
    along = "x" if line is not None and line[0] == "h" else ("y" if line is not None else "position")
    n = len(lines)
    fig, slots, frame_slot = _scanline_layout(n, frame is not None, time_axis)
    if frame is not None:
        _draw_frame(fig.add_subplot(frame_slot), frame, line)
    first = None
    for i, (label, sl) in enumerate(lines.items()):
        arr = np.asarray(sl)
        if arr.ndim not in (2, 3) or len(arr) < 1:
            raise InputError(f"scanlines[{label!r}] must be (T, L, 3) or (T, L), got shape {arr.shape}")
        img, kw = drawable_image(arr)
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
    fps = check_fps(fps)
    data = {}
    for label, tr in as_dict(traces, "traces").items():
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
        RMS change (grey levels) per pixel, e.g. from :meth:`physio.evaluation.scoring.ClipScorer.change_map`.
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
    data = {k: np.asarray(v, dtype=np.float64) for k, v in as_dict(maps, "maps").items()}
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
