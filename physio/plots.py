"""Figures for rates and agreement: Bland–Altman and waveform plots.

Uses Matplotlib's object API (``matplotlib.figure.Figure``) without pyplot, so it never touches
the global backend and works headless (rendering goes through Agg).  Functions return the
figure; ``path`` saves it too.  No computation lives here: statistics come from
:mod:`physio.metrics`, waveforms from :mod:`physio.rates`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physio.errors import InputError
from physio.metrics import BlandAltman, bland_altman

__all__ = ["bland_altman_plot", "waveform_plot"]


def bland_altman_plot(
    pred=None,
    ref=None,
    *,
    stats: BlandAltman | None = None,
    unit: str = "bpm",
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Bland–Altman difference plot: ``pred - ref`` against ``(pred + ref) / 2``.

    Parameters
    ----------
    pred, ref : array_like, shape (n,), optional
        Paired rates; ignored when ``stats`` is given.
    stats : BlandAltman, optional
        Precomputed :func:`physio.metrics.bland_altman` result.
    unit : str
        Axis unit label.
    title : str, optional
    path : str or Path, optional
        Save the figure there (format from the suffix, e.g. ``.png``, ``.pdf``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if stats is None:
        if pred is None or ref is None:
            raise InputError("bland_altman_plot needs pred and ref, or stats")
        stats = bland_altman(pred, ref)
    fig = Figure(figsize=(5, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(stats.means, stats.diffs, s=14, alpha=0.7)
    ax.axhline(stats.mean_diff, color="k", label=f"bias {stats.mean_diff:.2f}")
    for y, name in ((stats.loa_low, "-"), (stats.loa_high, "+")):
        ax.axhline(y, color="k", linestyle="--", label=f"bias {name} {stats.z:g} SD: {y:.2f}")
    ax.set_xlabel(f"mean of prediction and reference [{unit}]")
    ax.set_ylabel(f"prediction - reference [{unit}]")
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(path)
    return fig


def waveform_plot(
    wave,
    fs_hz: float,
    *,
    reference=None,
    label: str = "estimate",
    reference_label: str = "reference",
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Waveform (and optional reference) against time in seconds, each z-scored.

    Parameters
    ----------
    wave : array_like, shape (T,)
    fs_hz : float
        Sampling rate, Hz.
    reference : array_like, shape (T,), optional
    label, reference_label, title : str
    path : str or Path, optional
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    w = np.asarray(wave, dtype=np.float64).reshape(-1)
    if not fs_hz or fs_hz <= 0:
        raise InputError(f"fs_hz must be > 0, got {fs_hz!r}")
    t = np.arange(w.size) / fs_hz

    def z(x):
        sd = x.std()
        return (x - x.mean()) / sd if sd > 0 else x - x.mean()

    fig = Figure(figsize=(8, 2.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(t, z(w), lw=1, label=label)
    if reference is not None:
        r = np.asarray(reference, dtype=np.float64).reshape(-1)
        if r.size != w.size:
            raise InputError(f"reference has {r.size} samples, wave has {w.size}")
        ax.plot(t, z(r), lw=1, alpha=0.7, label=reference_label)
        ax.legend(fontsize="small")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("z-score")
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(path)
    return fig
