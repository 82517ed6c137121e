"""Figures for rates and agreement: Bland–Altman and waveform plots.

Uses Matplotlib's object API (``matplotlib.figure.Figure``) without pyplot, so it never touches
the global backend and works headless (rendering goes through Agg).  Functions return the
figure; ``path`` saves it too.  No computation lives here: statistics come from
:mod:`physio.metrics.rates`, waveforms from :mod:`physio.rates.waveform`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from physio.errors import InputError
from physio.figures.base import save_figure
from physio.metrics.rates import BlandAltman, bland_altman

__all__ = ["bland_altman_plot", "waveform_plot", "rates_figure"]


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
        Precomputed :func:`physio.metrics.rates.bland_altman` result.
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
        save_figure(fig, path)
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
        save_figure(fig, path)
    return fig


def _series_panel(ax, series, window_s: float | None, colour: str, missing: str) -> None:
    """A windowed-rate series: each estimate drawn over the window it covers (a horizontal bar), the
    centres joined; a short video's single window is then a readable bar, not one dot."""
    if not series:
        ax.text(0.5, 0.5, missing, transform=ax.transAxes, ha="center", va="center", color="0.4", fontsize="small")
        ax.set_yticks([])
        return
    t, v = (np.asarray(x, dtype=np.float64) for x in zip(*series))
    if window_s:
        ax.hlines(v, t - window_s / 2, t + window_s / 2, color=colour, alpha=0.35, lw=4)
    ax.plot(t, v, "o-", ms=3, color=colour)
    pad = max(2.0, 0.1 * float(np.ptp(v)))
    ax.set_ylim(float(v.min()) - pad, float(v.max()) + pad)


def rates_figure(pulse_wave, resp_wave, fps: float, hr_series, br_series, *, hr_bpm: float | None,
                 br_bpm: float | None, method: str, path: str | Path | None = None, beats_s=None,
                 hr_window_s: float | None = None, br_window_s: float | None = None,
                 br_missing: str = "no breathing signal") -> Figure:
    """`physio rates`' summary: pulse and respiration waveforms, HR and BR over time (four rows).

    Parameters
    ----------
    pulse_wave, resp_wave : array_like, shape (T,)
        The waveforms (``resp_wave`` may be None).
    fps : float
        Their sampling rate, Hz.
    hr_series, br_series : list of (t_s, value)
        Windowed rates.
    hr_bpm, br_bpm : float or None
        Whole-video rates (title).
    method : str
        The pulse estimator (title).
    beats_s : array_like, optional
        Detected beat times (marked on the pulse).
    hr_window_s, br_window_s : float, optional
        The series' window lengths (each estimate is drawn over its window).
    br_missing : str
        What the empty breathing panels say (e.g. why there is no breathing rate).
    """
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    ax = fig.subplots(4, 1)
    pw = np.asarray(pulse_wave, dtype=np.float64)
    t = np.arange(len(pw)) / fps
    ax[0].plot(t, pw, lw=0.7, color="tab:red")
    if beats_s is not None and len(beats_s):
        b = np.asarray(beats_s, dtype=np.float64)
        ax[0].plot(b, np.interp(b, t, pw), "v", ms=4, color="k", label="beats")
        ax[0].legend(fontsize="small", loc="upper right")
    ax[0].set_ylabel("pulse")
    hr = "n/a" if hr_bpm is None else f"{hr_bpm:.1f} bpm"
    br = "n/a" if br_bpm is None else f"{br_bpm:.1f} breaths/min"
    ax[0].set_title(f"HR {hr}, BR {br} ({method})")
    if resp_wave is not None:
        ax[1].plot(np.arange(len(resp_wave)) / fps, resp_wave, lw=0.7, color="tab:blue")
    else:
        ax[1].text(0.5, 0.5, br_missing, transform=ax[1].transAxes, ha="center", va="center", color="0.4",
                   fontsize="small")
        ax[1].set_yticks([])
    ax[1].set_ylabel("respiration")
    _series_panel(ax[2], hr_series, hr_window_s, "tab:red", "no heart-rate series")
    ax[2].set_ylabel("HR (bpm)")
    _series_panel(ax[3], br_series, br_window_s, "tab:blue", br_missing)
    ax[3].set_ylabel("BR (breaths/min)")
    ax[3].set_xlabel("time (s)")
    for a in ax[1:]:
        a.sharex(ax[0])
    ax[0].set_xlim(0, len(pw) / fps)
    if path is not None:
        save_figure(fig, path)
    return fig
