"""Streaming outputs of a magnification run: side-by-side videos, scan lines, pixel traces, correlations.

Everything here works on the ``uint8 (t, H, W, 3)`` chunks that :func:`physio.magnify.magnify_stream`
yields (or any ``(t, H, W, C)`` array stream), one chunk at a time, so memory stays bounded by what is
*kept* (a scan line is ``T × W × 3`` bytes, a pixel trace ``T × P × C`` floats), never by the video.

The pieces and the paper figures they feed (:mod:`physio.figures.magnification` draws them):

* :func:`pair_with_input` / :func:`magnify_pairs` — align a magnifier's output chunks with the input
  frames they came from (magnifiers emit chunks of their own sizes, later than they read them).
* :class:`SideBySideWriter` — original and magnified (or more) panels in one atomic H.264 video.
* :class:`ScanlineRecorder` — the pixels along one line in every frame, ``(T, L, C)`` (Fig. 5/6).
* :class:`PixelTraceRecorder` — mean colour in a small window around points, ``(T, P, C)`` (Fig. 7/8).

The per-pixel correlation of Fig. 11 is in :mod:`physio.metrics.magnification`, the L1 norms of
Fig. 10 in :mod:`physio.magnify.ascent`.

Boxes are ``(x0, y0, x1, y1)`` in pixels with exclusive ends (as :func:`physio.represent.compute.box_from_mask`);
points are ``(x, y)``; lines are ``("h", y)`` (a row) or ``("v", x)`` (a column).

References
----------
Chen, W. & McDuff, D. (2020). "DeepMag: Source-specific change magnification using gradient ascent."
ACM Transactions on Graphics 40(1), Figs. 5–11.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from physio.errors import InputError
from physio.io import VideoWriter
from physio.magnify.base import magnify_stream

__all__ = [
    "pair_with_input",
    "magnify_pairs",
    "SideBySideWriter",
    "ScanlineRecorder",
    "PixelTraceRecorder",
]

Box = tuple[int, int, int, int]


def _as_chunk(chunk, name: str = "chunk") -> np.ndarray:
    """``(H, W, C)`` → ``(1, H, W, C)``; checks ``(t, H, W, C)``."""
    arr = chunk.detach().cpu().numpy() if hasattr(chunk, "detach") else np.asarray(chunk)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4:
        raise InputError(f"{name} must be (t, H, W, C) or (H, W, C), got shape {arr.shape}")
    return arr


# -- aligning output with input -------------------------------------------------------------------


def pair_with_input(
    chunks: Iterable[np.ndarray], transform: Callable[[Iterator[np.ndarray]], Iterable[np.ndarray]]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Run ``transform`` over ``chunks`` and yield ``(input, output)`` chunks covering the same frames.

    Parameters
    ----------
    chunks : iterable of ndarray
        Input frames in chunks ``(t, H, W, C)`` (e.g. ``VideoReader.chunks()``).
    transform : callable
        Takes an iterator of input chunks and yields output chunks, in order, of any sizes, that
        together have one frame per input frame — e.g. ``lambda c: magnify_stream(m, c, fps)`` or
        ``lambda c: deepmag.stream(c, fps, record=True)``.

    Yields
    ------
    (ndarray, ndarray)
        The input frames and the output frames of one output chunk (equal lengths).

    Notes
    -----
    Input frames are kept only from when ``transform`` reads them until it emits their output (a
    magnifier's margin plus one block), so memory stays bounded.  The transform must be causal: it
    cannot emit a frame before it has read it.

    Raises
    ------
    InputError
        The transform emitted more frames than it had read, or a different total than it read.
    """
    pending: deque[np.ndarray] = deque()
    count = {"in": 0, "out": 0}

    def source() -> Iterator[np.ndarray]:
        for c in chunks:
            arr = _as_chunk(c, "input chunk")
            if not len(arr):
                continue
            pending.append(arr)
            count["in"] += len(arr)
            yield arr

    for out in transform(source()):
        out = _as_chunk(out, "output chunk")
        n = len(out)
        if not n:
            continue
        if count["out"] + n > count["in"]:
            raise InputError(
                f"the transform emitted frames {count['out']}..{count['out'] + n - 1} "
                f"but had read only {count['in']} input frames"
            )
        parts, need = [], n
        while need:
            head = pending[0]
            if len(head) <= need:
                parts.append(pending.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                pending[0] = head[need:]
                need = 0
        count["out"] += n
        yield (parts[0] if len(parts) == 1 else np.concatenate(parts)), out
    if count["out"] != count["in"]:
        raise InputError(f"the transform emitted {count['out']} frames for {count['in']} input frames")


def magnify_pairs(
    magnifier, chunks: Iterable[np.ndarray], fps: float, block_frames: int | None = None, progress=None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`physio.magnify.magnify_stream` with each output chunk paired to its input frames.

    Yields ``(original uint8 (t, H, W, 3), magnified uint8 (t, H, W, 3))``; see :func:`pair_with_input`.

    Examples
    --------
    >>> with SideBySideWriter("face_sbs.mp4", reader.fps) as sbs:           # doctest: +SKIP
    ...     for orig, mag in magnify_pairs(magnifier, reader.chunks(), reader.fps):
    ...         sbs.write(orig, mag)
    """
    return pair_with_input(chunks, lambda c: magnify_stream(magnifier, c, fps, block_frames, progress))


# -- side-by-side video ---------------------------------------------------------------------------


class SideBySideWriter:
    """Write two (or more) frame streams side by side into one H.264 video, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination (``.mp4``, ``.mkv``, ``.mov``); written through :class:`physio.io.VideoWriter`, so
        it appears only when :meth:`close` succeeds.
    fps : float
        Frame rate to store (the input's).
    labels : sequence of str, or None
        One label per panel, left to right (its length sets the number of panels).  ``None``: no text.
    panels : int, optional
        Number of panels when ``labels`` is None (default 2).
    gap : int
        Pixels of separator between panels (default 0: the output is exactly ``n × W`` wide).
    gap_value : int
        Grey level of the separator, 0–255.
    banner : bool
        Draw labels in a black strip *above* the panels (default), so no frame pixel is covered; the
        strip's height is chosen so that the total height is even when ``H`` is (H.264 4:2:0 needs
        even sizes).  ``False``: draw labels over the top-left corner of each panel instead
        (white on a black outline), keeping the height ``H``.
    font_scale : float, optional
        OpenCV font scale; default grows with the frame height (0.4 at ≤ 240 px).
    **writer_kwargs
        Passed to :class:`physio.io.VideoWriter` (``crf``, ``lossless``, ``preset``, ``pix_fmt``).

    Notes
    -----
    Layout: output height ``banner_px + H``, width ``n × W + (n − 1) × gap``; panel ``i`` occupies rows
    ``banner_px … banner_px + H`` and columns ``i × (W + gap) … i × (W + gap) + W`` (see
    :meth:`panel_box`).  ``banner_px`` is 0 when ``banner=False`` or ``labels`` is None.  Odd sizes
    are written as ``yuv444p`` by the video writer (never cropped or padded).

    :meth:`write` takes one chunk per panel; chunks may have different lengths (a magnifier emits
    blocks of its own size): frames are queued per panel and written as soon as every panel has them.
    At :meth:`close`, all panels must have supplied the same number of frames.

    Examples
    --------
    >>> with SideBySideWriter("out.mp4", 30, labels=("original", "DeepMag")) as sbs:  # doctest: +SKIP
    ...     for orig, mag in magnify_pairs(magnifier, reader.chunks(), 30):
    ...         sbs.write(orig, mag)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        labels: Sequence[str] | None = ("original", "magnified"),
        *,
        panels: int | None = None,
        gap: int = 0,
        gap_value: int = 255,
        banner: bool = True,
        font_scale: float | None = None,
        **writer_kwargs,
    ) -> None:
        if labels is not None:
            labels = [str(s) for s in labels]
            if panels is not None and panels != len(labels):
                raise InputError(f"panels={panels} but {len(labels)} labels were given")
            panels = len(labels)
        panels = 2 if panels is None else int(panels)
        if panels < 1:
            raise InputError(f"need at least one panel, got {panels}")
        if int(gap) < 0:
            raise InputError(f"gap must be ≥ 0 pixels, got {gap}")
        if not 0 <= int(gap_value) <= 255:
            raise InputError(f"gap_value must be in 0..255, got {gap_value}")
        if font_scale is not None and not font_scale > 0:
            raise InputError(f"font_scale must be > 0, got {font_scale}")
        self.labels = labels
        self.panels = panels
        self.gap = int(gap)
        self.gap_value = int(gap_value)
        self.banner = bool(banner) and labels is not None
        self.font_scale = font_scale
        self._writer = VideoWriter(path, fps, **writer_kwargs)
        self.path = self._writer.path
        self.fps = self._writer.fps
        self._queues: list[deque[np.ndarray]] = [deque() for _ in range(panels)]
        self._queued = [0] * panels
        self._received = [0] * panels
        self._frame_shape: tuple[int, int] | None = None
        self._canvas: np.ndarray | None = None  # one output frame: banner text and separators
        self.banner_px = 0

    # -- layout -----------------------------------------------------------------------------------
    @property
    def frames_written(self) -> int:
        return self._writer.frames_written

    @property
    def width(self) -> int | None:
        """Output width in pixels (None before the first frame)."""
        return None if self._canvas is None else self._canvas.shape[1]

    @property
    def height(self) -> int | None:
        """Output height in pixels (None before the first frame)."""
        return None if self._canvas is None else self._canvas.shape[0]

    def panel_box(self, i: int) -> Box:
        """Panel ``i``'s ``(x0, y0, x1, y1)`` in the output frame (exclusive ends)."""
        if self._frame_shape is None:
            raise InputError("the layout is known only after the first frames were written")
        if not 0 <= i < self.panels:
            raise InputError(f"panel index {i} out of range 0..{self.panels - 1}")
        h, w = self._frame_shape
        x0 = i * (w + self.gap)
        return x0, self.banner_px, x0 + w, self.banner_px + h

    def _scale(self, h: int) -> float:
        return self.font_scale if self.font_scale is not None else max(0.4, h / 600.0)

    def _setup(self, h: int, w: int) -> None:
        self._frame_shape = (h, w)
        scale = self._scale(h)
        thick = max(1, int(round(scale * 1.5)))
        pad = max(2, int(round(4 * scale)))
        (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        if self.banner:
            b = th + base + 2 * pad
            self.banner_px = b + ((h + b) % 2 if h % 2 == 0 else 0)
        width = self.panels * w + (self.panels - 1) * self.gap
        canvas = np.zeros((self.banner_px + h, width, 3), np.uint8)
        for i in range(1, self.panels):
            x = i * (w + self.gap)
            canvas[:, x - self.gap : x] = self.gap_value
        self._canvas = canvas
        # Labels as coverage masks (anti-aliased, 0..1) of one panel's top rows, rendered once and
        # clipped to the panel's width: white text, plus a black outline when drawn over the frame.
        self._label_masks: list[tuple[np.ndarray, np.ndarray]] = []
        if self.labels is None:
            return
        rows = self.banner_px if self.banner else min(h, th + base + 2 * pad + thick + 2)
        y_text = (self.banner_px - base - pad) if self.banner else (pad + th)
        for label in self.labels:
            masks = []
            for t in (thick + 2, thick):
                m = np.zeros((rows, w), np.uint8)
                cv2.putText(m, label, (pad, y_text), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, t, cv2.LINE_AA)
                masks.append(m.astype(np.float32)[..., None] / 255.0)
            self._label_masks.append((masks[0], masks[1]))
        if self.banner:
            for i, (_, text) in enumerate(self._label_masks):
                x0 = i * (w + self.gap)
                canvas[: self.banner_px, x0 : x0 + w] = np.round(255.0 * text).astype(np.uint8)

    def _overlay_labels(self, out: np.ndarray) -> None:
        """Draw the labels over the top-left of each panel of ``out`` (t, H, W', 3), in place."""
        for i, (outline, text) in enumerate(self._label_masks):
            x0, y0, x1, _ = self.panel_box(i)
            region = out[:, y0 : y0 + len(text), x0:x1].astype(np.float32)
            region *= 1.0 - outline  # black outline
            region += (255.0 - region) * text  # white text
            out[:, y0 : y0 + len(text), x0:x1] = np.round(region).astype(np.uint8)

    # -- writing ----------------------------------------------------------------------------------
    def write(self, *chunks) -> None:
        """Queue one chunk per panel (``(t, H, W, 3)`` / ``(H, W, 3)`` uint8, or None for nothing)
        and write every frame all panels now have."""
        if len(chunks) != self.panels:
            raise InputError(f"write() needs {self.panels} chunks (one per panel), got {len(chunks)}")
        arrs = []
        for i, c in enumerate(chunks):
            if c is None:
                arrs.append(None)
                continue
            a = _as_chunk(c, f"panel {i} chunk")
            if a.shape[-1] != 3 or a.dtype != np.uint8:
                raise InputError(f"panel {i} chunk must be uint8 RGB (t, H, W, 3), got {a.dtype} {a.shape}")
            if self._frame_shape is None and len(a):
                self._setup(a.shape[1], a.shape[2])
            if len(a) and a.shape[1:3] != self._frame_shape:
                raise InputError(
                    f"panel {i}: frame size {a.shape[2]}x{a.shape[1]} differs from "
                    f"{self._frame_shape[1]}x{self._frame_shape[0]}"
                )
            arrs.append(a)
        for i, a in enumerate(arrs):
            if a is not None and len(a):
                self._queues[i].append(a)
                self._queued[i] += len(a)
                self._received[i] += len(a)
        self._flush()

    def _take(self, i: int, n: int) -> np.ndarray:
        q, parts, need = self._queues[i], [], n
        while need:
            head = q[0]
            if len(head) <= need:
                parts.append(q.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                q[0] = head[need:]
                need = 0
        self._queued[i] -= n
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _flush(self) -> None:
        n = min(self._queued)
        if n == 0:
            return
        out = np.repeat(self._canvas[None], n, axis=0)
        for i in range(self.panels):
            x0, y0, x1, y1 = self.panel_box(i)
            out[:, y0:y1, x0:x1] = self._take(i, n)
        if self.labels is not None and not self.banner:
            self._overlay_labels(out)
        self._writer.write(out)

    def close(self) -> Path:
        """Check every panel got the same number of frames, finish the file, return its path."""
        if len(set(self._received)) != 1:
            self._writer.abort()
            counts = ", ".join(
                f"{self.labels[i] if self.labels else f'panel {i}'}: {n}" for i, n in enumerate(self._received)
            )
            raise InputError(f"{self.path}: the panels have different frame counts ({counts})")
        return self._writer.close()

    def abort(self) -> None:
        """Stop and delete the temporary file; the destination is left untouched."""
        self._writer.abort()

    def __enter__(self) -> SideBySideWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# -- recorders ------------------------------------------------------------------------------------


class _Recorder:
    """Shared frame-range bookkeeping: keep frames ``start ≤ i < stop`` of the stream."""

    def __init__(self, start: int = 0, stop: int | None = None) -> None:
        if int(start) < 0 or (stop is not None and int(stop) <= int(start)):
            raise InputError(f"need 0 ≤ start < stop, got start={start}, stop={stop}")
        self.start = int(start)
        self.stop = None if stop is None else int(stop)
        self.frames_seen = 0
        self._parts: list[np.ndarray] = []
        self._shape: tuple[int, ...] | None = None

    def _window(self, arr: np.ndarray) -> np.ndarray:
        i0 = self.frames_seen
        self.frames_seen += len(arr)
        lo = max(self.start - i0, 0)
        hi = len(arr) if self.stop is None else min(self.stop - i0, len(arr))
        return arr[lo:hi] if hi > lo else arr[:0]

    def update(self, chunk) -> np.ndarray:
        """Record one chunk ``(t, H, W, C)`` (or a frame ``(H, W, C)``); returns it unchanged."""
        arr = _as_chunk(chunk)
        if self._shape is None:
            self._shape = arr.shape[1:]
            self._configure(arr.shape[1], arr.shape[2])
        elif arr.shape[1:] != self._shape:
            raise InputError(f"frame shape changed from {self._shape} to {arr.shape[1:]}")
        part = self._window(arr)
        if len(part):
            self._parts.append(self._extract(part))
        return chunk

    def result(self) -> np.ndarray:
        if not self._parts:
            raise InputError(
                f"{type(self).__name__}: no frames recorded (saw {self.frames_seen}, range {self.start}..{self.stop})"
            )
        if len(self._parts) > 1:
            self._parts = [np.concatenate(self._parts)]
        return self._parts[0]

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def _configure(self, h: int, w: int) -> None:  # pragma: no cover - overridden
        pass

    def _extract(self, frames: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError


class ScanlineRecorder(_Recorder):
    """Collect the pixels along one line of every frame: a space–time slice ``(T, L, C)``.

    Parameters
    ----------
    line : ("h", y) or ("v", x), optional
        A horizontal line (row ``y``; ``L = W``) or a vertical line (column ``x``; ``L = H``).
        Default: the line of ``orientation`` through the centre of ``box``, or of the frame.
    box : (x0, y0, x1, y1), optional
        Region (e.g. the face or torso box) whose centre the default line passes through.
    orientation : {"h", "v"}
        Orientation of the default line.
    start, stop : int
        Record only frames ``start ≤ i < stop`` of the stream (e.g. the paper's 15 s section).

    Notes
    -----
    The centre of a box is ``((x0 + x1) // 2, (y0 + y1) // 2)``; of a frame, ``(W // 2, H // 2)``.
    The recorded values keep the chunks' dtype (uint8 frames → uint8 scan line).  Memory: ``T × L × C``
    values; the frames themselves are not kept.  Use one recorder per stream (original, each method).
    """

    def __init__(
        self,
        line: tuple[str, int] | None = None,
        *,
        box: Box | None = None,
        orientation: str = "h",
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        super().__init__(start, stop)
        if orientation not in ("h", "v"):
            raise InputError(f"orientation must be 'h' or 'v', got {orientation!r}")
        if line is not None:
            if len(line) != 2 or line[0] not in ("h", "v"):
                raise InputError(f"line must be ('h', y) or ('v', x), got {line!r}")
            line = (line[0], int(line[1]))
        if box is not None:
            if len(box) != 4 or not (box[0] < box[2] and box[1] < box[3]):
                raise InputError(f"box must be (x0, y0, x1, y1) with x0 < x1 and y0 < y1, got {box!r}")
        self.line = line
        self.box = box
        self.orientation = orientation

    def _configure(self, h: int, w: int) -> None:
        if self.line is None:
            if self.box is not None:
                cx, cy = (self.box[0] + self.box[2]) // 2, (self.box[1] + self.box[3]) // 2
            else:
                cx, cy = w // 2, h // 2
            self.line = ("h", int(cy)) if self.orientation == "h" else ("v", int(cx))
        kind, pos = self.line
        size = h if kind == "h" else w
        if not 0 <= pos < size:
            raise InputError(
                f"scan line {self.describe()} is outside the {w}x{h} frame "
                f"({'y' if kind == 'h' else 'x'} must be in 0..{size - 1})"
            )

    def _extract(self, frames: np.ndarray) -> np.ndarray:
        kind, pos = self.line
        return (frames[:, pos, :, :] if kind == "h" else frames[:, :, pos, :]).copy()

    def describe(self) -> str:
        """``"horizontal line y = 24 px"`` (or vertical …); the default line is known after a frame."""
        if self.line is None:
            return "line through the centre (not yet known)"
        kind, pos = self.line
        return f"horizontal line y = {pos} px" if kind == "h" else f"vertical line x = {pos} px"


class PixelTraceRecorder(_Recorder):
    """Per-frame mean colour in a small square around each point: ``(T, P, C)`` float64.

    Parameters
    ----------
    points : sequence of (x, y)
        Pixel positions.
    radius : int
        The window is ``(2 radius + 1)²`` pixels centred on the point (0: the pixel itself), clipped
        at the frame edges.
    start, stop : int
        Record only frames ``start ≤ i < stop``.
    """

    def __init__(self, points: Sequence[tuple[int, int]], radius: int = 1, *, start: int = 0, stop: int | None = None) -> None:
        super().__init__(start, stop)
        pts = [tuple(int(v) for v in p) for p in points]
        if not pts or any(len(p) != 2 for p in pts):
            raise InputError(f"points must be a non-empty sequence of (x, y), got {points!r}")
        if int(radius) < 0:
            raise InputError(f"radius must be ≥ 0, got {radius}")
        self.points = pts
        self.radius = int(radius)
        self._windows: list[tuple[slice, slice]] = []

    def _configure(self, h: int, w: int) -> None:
        r = self.radius
        for x, y in self.points:
            if not (0 <= x < w and 0 <= y < h):
                raise InputError(f"point (x={x}, y={y}) is outside the {w}x{h} frame")
            self._windows.append((slice(max(0, y - r), min(h, y + r + 1)), slice(max(0, x - r), min(w, x + r + 1))))

    def _extract(self, frames: np.ndarray) -> np.ndarray:
        return np.stack([frames[:, ys, xs, :].mean(axis=(1, 2), dtype=np.float64) for ys, xs in self._windows], axis=1)
