"""Figure of a synthetic session's ground truth (`physio demo`'s ``signals.png``)."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

from physio.figures.base import save_figure

__all__ = ["session_signals_figure"]


def session_signals_figure(sess, path: str | os.PathLike | None = None) -> Figure:
    """The pulse ``p(t)`` and shoulder rise of a :class:`physio.synth.cohort.SynthSession`, over time."""
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    t = sess.signal_times
    axes[0].plot(t, sess.pulse, lw=0.8, color="tab:red")
    axes[0].set_ylabel("pulse p(t) (z)")
    axes[0].set_title(f"ground truth: HR {sess.hr_bpm:.1f} bpm, BR {sess.br_bpm:.1f} breaths/min, task {sess.task}")
    axes[1].plot(t, sess.resp, lw=0.8, color="tab:blue")
    axes[1].set_ylabel("shoulder rise (px)")
    axes[1].set_xlabel("time (s)")
    if path is not None:
        save_figure(fig, path)
    return fig
