"""What every figure shares: saving atomically, argument checks, turning arrays into images.

Figures are built on Matplotlib's object API (``matplotlib.figure.Figure``, no pyplot): no global
backend is touched and rendering goes through Agg, so they work headless.  Figure functions return
the figure and save it when given ``path``, through :func:`save_figure` (the one atomic writer).
Nothing is computed in a figure function beyond what drawing needs: the numbers come from
:mod:`physio.metrics`, the recorders of :mod:`physio.magnify.outputs` and the evaluation harnesses.

=================================  ==========================================================
module                             figures
=================================  ==========================================================
:mod:`physio.figures.magnification`  scan lines (paper Fig. 5/6), pixel traces (7/8), change maps
:mod:`physio.figures.deepmag`        learning curve (9), L1 norms (10), correlation maps (11)
:mod:`physio.figures.rates`          waveforms, `physio rates`' summary, Bland–Altman
:mod:`physio.figures.session`        a synthetic session's ground-truth signals (`physio demo`)
:mod:`physio.figures.compare`        the figure set of a `physio compare` report
:mod:`physio.figures.circles`        the circle benchmark's sweeps (`physio bench-magnifiers --plot`)
=================================  ==========================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from physio.atomic import AtomicFile
from physio.errors import InputError

__all__ = ["save_figure", "check_fps", "as_dict", "drawable_image", "LINE_COLOR", "colormap", "Figure"]


def colormap(name: str):
    """A registered Matplotlib colormap by name."""
    return matplotlib.colormaps[name]


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 150) -> Path:
    """Save ``fig`` atomically (format from the suffix; PNG when there is none); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFile(p) as f:
        fig.savefig(f.tmp, format=p.suffix[1:].lower() or "png", dpi=dpi)
    return p


def check_fps(fps: float) -> float:
    if fps is None or not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def as_dict(data, name: str) -> dict:
    if isinstance(data, Mapping):
        if not data:
            raise InputError(f"{name}: empty mapping")
        return dict(data)
    return {"": data}


def drawable_image(x: np.ndarray) -> tuple[np.ndarray, dict]:
    """Make an array drawable by imshow: RGB uint8 as is, RGB float clipped to its range, 2-D grey."""
    if x.ndim == 2:
        return x, {"cmap": "gray"}
    if x.ndim == 3 and x.shape[-1] == 3:
        if x.dtype == np.uint8:
            return x, {}
        xf = x.astype(np.float64)
        return (np.clip(xf, 0, 1) if np.nanmax(xf) <= 1.0 else np.clip(xf, 0, 255) / 255.0), {}
    raise InputError(f"expected (T, L, 3) RGB or (T, L) values, got shape {x.shape}")


LINE_COLOR = "#ffd700"  # the paper's yellow line/dot
