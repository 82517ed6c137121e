"""Streaming a temporal magnifier through a bounded window of its filtered components.

A linear temporal magnifier (EVM, phase-based, acceleration, a learned magnifier in its temporal mode)
splits each frame into the components the temporal filter acts on (EVM: a small Gaussian level or the
Laplacian levels; phase-based: the phase changes of the steerable pyramid; learned: the encoder's
shape representation) and a synthesis that needs the frame and its filtered components.  The generic
block driver (:func:`physio.magnify.base.blocked_stream`) keeps whole float blocks of frames *and*
every intermediate of :meth:`Magnifier.process`; :func:`window_stream` keeps only

* the components of the frames in the temporal window (``left context + core + margin`` frames,
  ``margin = Magnifier.margin_frames(fps)``), and
* the original frames as ``uint8`` until they are emitted,

and recomputes the cheap analysis of the ``core`` frames when it synthesises them.  Each block of
``core`` frames sees the same context on both sides as in the block driver, so the output equals
``blocked_stream(…, block_frames=core)`` to rounding error, and peak memory depends on the frame size
and the filter's margin, not on the video's length.

The default ``core`` is :data:`DEFAULT_CORE` frames for the seamless filters (FIR, Butterworth, IIR,
second-order kernels: the output does not depend on the block length, to rounding), and the block
driver's default ``max(4 × margin, 128)`` for the ideal filter, whose FFT over a window is only
approximately seamless: a shorter window would change the result (on MIT's face.mp4, core 32 instead
of the whole 301 frames: mean |Δ| 3.0 grey levels, max 158; measured in ``docs/reliability.md``).
Where the video can be read a second time (``again``: a callable returning a fresh iterator over the
same chunks, as :func:`physio.magnify.video.magnify_video` passes), the frames are decoded again for
the synthesis instead of being kept, so the window holds only the (small) filtered components.

A magnifier streamed this way provides four hooks (all on float tensors ``(B, 3, H, W)`` in [0, 1]):

``_stream_setup(h, w, x)``
    called once with the first batch (sizes, colour matrices; resets per-video state);
``_analyse(x) -> list[Tensor]``
    the components of a batch of consecutive frames, each ``(B, ...)``;
``_filter_rows(window, fps, start, stop) -> list[Tensor]``
    the temporal filter's output rows ``start:stop`` of the window (``window``: per frame, the list of
    its components); :func:`filter_rows` is the usual one;
``_synthesise(x, filtered) -> Tensor``
    the magnified frames (unclipped) from the original batch and its filtered components.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch import Tensor

from physio.errors import InputError
from physio.magnify.base import to_tensor, to_uint8
from physio.magnify.temporal import TemporalFilter

__all__ = ["DEFAULT_CORE", "BATCH", "default_core", "window_stream", "filter_rows"]

DEFAULT_CORE = 32
"""Output frames synthesised per step when the caller gives no ``block_frames``."""

BATCH = 8
"""Full-resolution frames converted to float at a time (bounds the memory of analysis and synthesis)."""


def filter_rows(filt: TemporalFilter, window: list[list[Tensor]], fps: float, start: int, stop: int,
                cumulative: bool = False) -> list[Tensor]:
    """Rows ``start:stop`` of ``filt`` applied to each component of ``window`` (see
    :meth:`TemporalFilter.rows`); ``cumulative``: filter the running sum of each component instead."""
    return [filt.rows([p[k] for p in window], fps, start, stop, cumulative=cumulative)
            for k in range(len(window[0]))]


def default_core(filt: TemporalFilter, margin: int) -> int:
    """Output frames per step when none is given (see the module notes)."""
    return max(4 * int(margin), 128) if filt.kind == "ideal" else DEFAULT_CORE


def window_stream(mag, chunks: Iterable[np.ndarray], fps: float, margin: int, core: int | None = None,
                  progress=None, again=None) -> Iterator[np.ndarray]:
    """Stream ``uint8 (t, H, W, 3)`` chunks through ``mag`` (see the module notes); yields uint8 chunks.
    ``core`` None: :func:`default_core`; ``again``: re-reads the frames for the synthesis."""
    core = int(core) if core else default_core(mag._filter, margin)
    if core < 1:
        raise InputError(f"block_frames must be ≥ 1, got {core}")
    state = _Window(mag, float(fps), int(margin), core, None if again is None else _Frames(again()))
    for chunk in chunks:
        for out in state.push(np.asarray(chunk)):
            if progress is not None:
                progress(len(out))
            yield out
    for out in state.finish():
        if progress is not None:
            progress(len(out))
        yield out


class _Frames:
    """Frames decoded a second time, taken in order ``take(k)`` (the synthesis' copy of the input)."""

    def __init__(self, chunks: Iterable[np.ndarray]) -> None:
        self._it = iter(chunks)
        self._buf: list[np.ndarray] = []

    def take(self, k: int) -> list[np.ndarray]:
        while len(self._buf) < k:
            try:
                c = np.asarray(next(self._it))
            except StopIteration:
                raise InputError("the video gave fewer frames on its second reading") from None
            self._buf.extend(c[None] if c.ndim == 3 else c)
        out, self._buf = self._buf[:k], self._buf[k:]
        return out


class _Window:
    """The stream's state: the components of the window, the frames not yet emitted (or their reader)."""

    def __init__(self, mag, fps: float, margin: int, core: int, again: _Frames | None = None) -> None:
        self.mag, self.fps, self.margin, self.core, self.again = mag, fps, margin, core, again
        self.device = getattr(mag, "device", torch.device("cpu"))
        self.parts: list[list[Tensor]] = []  # per frame, from (next to emit − left) onward
        self.left = 0  # leading entries that are context only
        self.frames: list[np.ndarray] = []  # uint8 frames from the next to emit onward
        self.n_frames = 0
        self.shape: tuple[int, int] | None = None

    def _add(self, chunk: np.ndarray) -> None:
        if chunk.ndim == 3:
            chunk = chunk[None]
        if chunk.ndim != 4 or chunk.shape[-1] != 3:
            raise InputError(f"{self.mag.name}: frames must be (t, H, W, 3), got shape {chunk.shape}")
        if not len(chunk):
            return
        for s in range(0, len(chunk), BATCH):
            x = to_tensor(chunk[s : s + BATCH], self.device)
            with torch.inference_mode():
                if self.shape is None:
                    self.shape = tuple(chunk.shape[1:3])
                    self.mag._stream_setup(*self.shape, x)
                elif tuple(chunk.shape[1:3]) != self.shape:
                    raise InputError(f"{self.mag.name}: frame size changed from {self.shape} to {chunk.shape[1:3]}")
                comps = [c.clone() for c in self.mag._analyse(x)]  # own storage: the batch is freed
            self.parts.extend([c[i] for c in comps] for i in range(len(x)))
        if self.again is None:
            self.frames.extend(chunk)
        self.n_frames += len(chunk)

    def _emit(self, core: int) -> Iterator[np.ndarray]:
        """The next ``core`` output frames, yielded :data:`BATCH` at a time (so neither the input frames
        nor the output of a long core are ever held whole)."""
        window = self.parts[: self.left + core + self.margin]
        with torch.inference_mode():
            filtered = self.mag._filter_rows(window, self.fps, self.left, self.left + core)
        del window
        for s in range(0, core, BATCH):
            k = min(BATCH, core - s)
            frames = self.frames[s : s + k] if self.again is None else self.again.take(k)
            with torch.inference_mode():
                x = to_tensor(np.stack(frames), self.device)
                out = to_uint8(self.mag._synthesise(x, [f[s : s + k] for f in filtered]))
            yield out
        consumed = self.left + core
        keep_from = max(0, consumed - self.margin)
        self.parts = self.parts[keep_from:]
        self.left = consumed - keep_from
        if self.again is None:
            self.frames = self.frames[core:]

    def push(self, chunk: np.ndarray) -> Iterator[np.ndarray]:
        self._add(chunk)
        while len(self.parts) - self.left >= self.core + self.margin:
            yield from self._emit(self.core)

    def finish(self) -> Iterator[np.ndarray]:
        if self.n_frames == 0:
            raise InputError("no frames to magnify")
        if self.n_frames < 2:
            raise InputError(f"video too short for {self.mag.name}: 1 frame; a temporal magnifier needs at least 2")
        while len(self.parts) - self.left > 0:
            yield from self._emit(min(self.core, len(self.parts) - self.left))
