"""The optional outputs of one magnification run, made in the same single pass as the magnified video.

``physio magnify … --side-by-side SBS.mp4 --scanline SCAN.png --traces TRACES.png --learning-curve CURVE.png``
asks for them; :func:`physio.magnify.video.magnify_video` feeds :class:`RunOutputs` every
``(original, magnified)`` chunk pair and lets it finish the files after the video:

* the side-by-side video (original | magnified, labelled, H.264, atomic) — :class:`SideBySideWriter`;
* the scan line (the paper's Fig. 5/6): one line through every frame, original over magnified — by
  default horizontal through the centre of the method's region for pulse, vertical for respiration
  (the frame's centre when the method has no region), or ``line=("h", y)`` / ``("v", x)``;
* pixel traces (Fig. 7/8): the mean colour of a 5 × 5 window, original and magnified — by default at
  the centre of the method's region (or of the frame), or ``pixel=(x, y)``;
* DeepMag's learning curve (Fig. 9): ``|y(X_n)|`` against the iteration ``n``, over every time point
  (only for gradient-ascent methods; the run then records the objective).

Memory: the scan line is ``T × L × 3`` bytes and the traces ``T × 2 × 3`` floats — a 10-minute 640 × 480
video at 30 fps keeps ~35 MB for the scan line; nothing else grows with the video.  Figures are written
atomically once the video is complete; a failed run leaves none of these files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physio.errors import InputError
from physio.figures.deepmag import learning_curve_figure
from physio.figures.magnification import pixel_trace_figure, scanline_figure
from physio.magnify.outputs import (
    PixelTraceRecorder,
    ScanlineRecorder,
    SideBySideWriter,
)

__all__ = ["RunOutputs", "FIGURE_SUFFIXES", "VIDEO_SUFFIXES"]

FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
TRACE_RADIUS = 2
"""Pixel traces average a (2·2 + 1)² = 5 × 5 window around the pixel (less sensor noise than one pixel)."""


def _check_path(path, suffixes: tuple[str, ...], what: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{what} {p}: unsupported file type {p.suffix or '(none)'!r}; use {', '.join(suffixes)}")
    return p


class RunOutputs:
    """Collect the side-by-side video, scan line, pixel traces and learning curve of one run.

    Parameters
    ----------
    fps : float
        The video's frame rate.
    side_by_side, scanline, traces, learning_curve : path, optional
        Where to write each output (None: not made).  Videos: .mp4/.mkv/.mov; figures: .png/.pdf/.svg/.jpg.
    line : ("h", y) or ("v", x), optional
        The scan line (default: see the module notes).
    pixel : (x, y), optional
        The traced pixel (default: see the module notes).
    orientation : {"h", "v"}
        Orientation of the default scan line ("h" for pulse, "v" for respiration).
    label : str
        Name of the magnified panel / curve (e.g. ``"deepmag"``).
    crf : int
        H.264 quality of the side-by-side video.
    """

    def __init__(self, fps: float, *, side_by_side=None, scanline=None, traces=None, learning_curve=None,
                 line: tuple[str, int] | None = None, pixel: tuple[int, int] | None = None,
                 orientation: str = "h", label: str = "magnified", crf: int = 18, preset: str | None = None) -> None:
        if orientation not in ("h", "v"):
            raise InputError(f"orientation must be 'h' or 'v', got {orientation!r}")
        if line is not None and (len(line) != 2 or line[0] not in ("h", "v")):
            raise InputError(f"line must be ('h', y) or ('v', x), got {line!r}")
        self.fps, self.label, self.crf, self.preset = float(fps), str(label), int(crf), preset
        self.side_by_side = _check_path(side_by_side, VIDEO_SUFFIXES, "side-by-side video")
        self.scanline = _check_path(scanline, FIGURE_SUFFIXES, "scan-line figure")
        self.traces = _check_path(traces, FIGURE_SUFFIXES, "pixel-trace figure")
        self.learning_curve = _check_path(learning_curve, FIGURE_SUFFIXES, "learning-curve figure")
        paths = [p.resolve() for p in (self.side_by_side, self.scanline, self.traces, self.learning_curve) if p]
        if len(set(paths)) != len(paths):
            raise InputError("the side-by-side, scan-line, trace and learning-curve outputs need different paths")
        self.line = None if line is None else (line[0], int(line[1]))
        self.pixel = None if pixel is None else (int(pixel[0]), int(pixel[1]))
        self.orientation = orientation
        self._sbs = None
        self._scan: dict | None = None
        self._trace: dict | None = None
        self._first: np.ndarray | None = None

    @property
    def paths(self) -> list[Path]:
        return [p for p in (self.side_by_side, self.scanline, self.traces, self.learning_curve) if p is not None]

    @property
    def wanted(self) -> bool:
        """Whether any output was asked for."""
        return bool(self.paths)

    @property
    def record(self) -> bool:
        """Whether the run must record the gradient-ascent objective (for the learning curve)."""
        return self.learning_curve is not None

    def check_against(self, *paths) -> None:
        """Refuse outputs that would overwrite ``paths`` (the input video, the magnified video)."""
        taken = {Path(p).resolve() for p in paths}
        for p in self.paths:
            if p.resolve() in taken:
                raise InputError(f"{p}: would overwrite the input or the magnified video")

    def update(self, orig: np.ndarray, out: np.ndarray, box=None) -> None:
        """Take one aligned chunk pair; ``box`` is the method's region (x0, y0, x1, y1), if any."""
        if self._first is None:
            self._first = np.array(orig[0])
            h, w = orig.shape[1:3]
            if self.side_by_side is not None:
                self._sbs = SideBySideWriter(self.side_by_side, self.fps, labels=("original", self.label), crf=self.crf,
                                              **({} if self.preset is None else {"preset": self.preset}))
            if self.scanline is not None:
                self._scan = {k: ScanlineRecorder(self.line, box=box, orientation=self.orientation)
                              for k in ("original", self.label)}
            if self.traces is not None:
                if self.pixel is None:
                    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
                    self.pixel = ((x0 + x1) // 2, (y0 + y1) // 2)
                self._trace = {k: PixelTraceRecorder([self.pixel], radius=TRACE_RADIUS) for k in ("original", self.label)}
        if self._sbs is not None:
            self._sbs.write(orig, out)
        for recs in (self._scan, self._trace):
            if recs is not None:
                recs["original"].update(orig)
                recs[self.label].update(out)

    def abort(self) -> None:
        """The run failed: drop the side-by-side video's temporary file (figures were never started)."""
        if self._sbs is not None:
            self._sbs.abort()
            self._sbs = None

    def finish(self, magnifier=None) -> list[str]:
        """Close the side-by-side video and draw the figures; returns the written paths."""
        if self._first is None:
            raise InputError("no frames were magnified: nothing to draw")
        written: list[str] = []
        if self._sbs is not None:
            written.append(str(self._sbs.close()))
            self._sbs = None
        if self._scan is not None:
            rec = self._scan["original"]
            scanline_figure({k: r.result() for k, r in self._scan.items()}, self.fps, rec.line, frame=self._first,
                            title=f"scan line ({rec.describe()}): original vs {self.label}", path=self.scanline)
            written.append(str(self.scanline))
        if self._trace is not None:
            x, y = self.pixel
            pixel_trace_figure({k: r.result()[:, 0, :] for k, r in self._trace.items()}, self.fps,
                               channel_names=("R", "G", "B"), subtract_mean=True,
                               title=f"pixel (x={x}, y={y}), {2 * TRACE_RADIUS + 1}x{2 * TRACE_RADIUS + 1} window",
                               path=self.traces)
            written.append(str(self.traces))
        if self.learning_curve is not None:
            history = getattr(magnifier, "objective_history", None)
            if not history:
                raise InputError("no gradient-ascent objective was recorded: --learning-curve needs --method deepmag")
            learning_curve_figure(history, title=f"learning curve of {self.label}: |y(X_n)| over all time points",
                                  path=self.learning_curve)
            written.append(str(self.learning_curve))
        return written
