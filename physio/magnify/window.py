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

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from physio.errors import InputError, VideoWriteError
from physio.magnify.base import to_tensor, to_uint8
from physio.magnify.temporal import TemporalFilter

__all__ = ["DEFAULT_CORE", "BATCH", "FrameQueue", "default_core", "window_stream", "filter_rows"]

DEFAULT_CORE = 32
"""Output frames synthesised per step when the caller gives no ``block_frames``."""

BATCH = 8
"""Most full-resolution frames converted to float at a time (bounds the memory of analysis and synthesis)."""

BATCH_BYTES = 16 * 2**20
"""Frames per analysis/synthesis batch: at most :data:`BATCH`, and fewer when one frame's components
(as float32) exceed ``BATCH_BYTES / BATCH``: the pyramid of a phase-based synthesis needs several
times its components, so a batch of eight 640 × 480 frames alone took ~400 MB."""

WINDOW_RAM_BYTES = int(float(os.environ.get("PHYSIO_WINDOW_RAM_MB", "256")) * 2**20)
"""Largest window kept in memory; a longer one (phase-based FIR at 640 × 480: ~1 GB of half-precision
phase changes, 6.4 GB at 1080p) is spilled to an anonymous temporary file in ``TMPDIR`` (removed by
the system when the process ends, even when killed) and read back one component at a time for each
step of filtered rows (from the page cache, ~10 % of the phase-based run time).  Environment variable
``PHYSIO_WINDOW_RAM_MB`` (default 256)."""

FRAME_BYTES = 64 * 2**20
"""…and fewer when their float RGB frames exceed this (8 at 640 × 480, 2 at 1080p: the synthesis of
colour EVM holds several full-size copies of its batch)."""

ROWS_BYTES = 64 * 2**20
"""Filtered rows computed at once: the whole core when its filtered components fit in this, else one
synthesis batch at a time (the same rows of the same matrix, so the same result)."""


def filter_rows(filt: TemporalFilter, window, fps: float, start: int, stop: int,
                cumulative: bool = False) -> list[Tensor]:
    """Rows ``start:stop`` of ``filt`` applied to each component of ``window`` (see
    :meth:`TemporalFilter.rows`); ``cumulative``: filter the running sum of each component instead.
    ``window``: per frame, the list of its components, or a spilled window (read one component at a
    time, see :data:`WINDOW_RAM_BYTES`)."""
    component = getattr(window, "component", None)
    if component is not None:
        return [filt.rows(component(k), fps, start, stop, cumulative=cumulative) for k in range(window.n_components)]
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


class _RamParts:
    """The window's components in memory: per frame, the list of its components."""

    def __init__(self) -> None:
        self._frames: list[list[Tensor]] = []

    def extend(self, comps: list[Tensor]) -> None:
        self._frames.extend([c[i] for c in comps] for i in range(len(comps[0])))

    def __len__(self) -> int:
        return len(self._frames)

    def head(self, n: int) -> list[list[Tensor]]:
        return self._frames[:n]

    def drop(self, k: int) -> None:
        del self._frames[:k]

    def dtypes(self) -> set:
        return {c.dtype for c in self._frames[0]} if self._frames else set()


class _SpillParts:
    """The window's components in a ring of ``capacity`` frame slots in an anonymous temporary file
    (:func:`tempfile.TemporaryFile`: unlinked at once, so nothing is left behind whatever ends the
    process); read back one component of one frame at a time."""

    def __init__(self, like: list[Tensor], capacity: int) -> None:
        self.shapes = [tuple(c.shape[1:]) for c in like]
        self.np_dtypes = [c[:1].cpu().numpy().dtype for c in like]
        self.torch_dtypes = [c.dtype for c in like]
        self.device = like[0].device
        sizes = [int(np.prod(sh)) * dt.itemsize for sh, dt in zip(self.shapes, self.np_dtypes)]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.frame_bytes = self.offsets[-1]
        self.capacity, self.start, self.n = int(capacity), 0, 0
        self._file = tempfile.TemporaryFile(prefix="physio-window-")
        self._fd = self._file.fileno()

    @property
    def n_components(self) -> int:
        return len(self.shapes)

    def extend(self, comps: list[Tensor]) -> None:
        cpu = [c.detach().cpu().contiguous().numpy() for c in comps]
        for i in range(len(cpu[0])):
            if self.n >= self.capacity:
                raise RuntimeError(f"internal: spilled window full ({self.capacity} frames)")
            base = ((self.start + self.n) % self.capacity) * self.frame_bytes
            for k, c in enumerate(cpu):
                data = memoryview(np.ascontiguousarray(c[i])).cast("B")
                try:
                    done = 0
                    while done < len(data):  # pwrite may write less than asked
                        done += os.pwrite(self._fd, data[done:], base + self.offsets[k] + done)
                except OSError as e:
                    raise VideoWriteError(
                        f"cannot keep the magnifier's temporal window in a temporary file "
                        f"({self.capacity * self.frame_bytes / 2**20:.0f} MB in {tempfile.gettempdir()}): {e.strerror}; "
                        "set TMPDIR to a folder with room, or PHYSIO_WINDOW_RAM_MB to keep it in memory") from e
            self.n += 1

    def read(self, j: int, k: int) -> Tensor:
        """Component ``k`` of the ``j``-th frame held."""
        if not 0 <= j < self.n:
            raise IndexError(j)
        buf = bytearray(self.offsets[k + 1] - self.offsets[k])
        base = ((self.start + j) % self.capacity) * self.frame_bytes
        if os.preadv(self._fd, [buf], base + self.offsets[k]) != len(buf):
            raise OSError("short read from the spilled window")
        arr = np.frombuffer(buf, dtype=self.np_dtypes[k]).reshape(self.shapes[k])
        return torch.from_numpy(arr).to(self.device)

    def __len__(self) -> int:
        return self.n

    def head(self, n: int) -> "_SpillView":
        return _SpillView(self, min(int(n), self.n))

    def drop(self, k: int) -> None:
        k = min(int(k), self.n)
        self.start, self.n = self.start + k, self.n - k

    def dtypes(self) -> set:
        return set(self.torch_dtypes)


class _SpillView:
    """The first ``n`` frames of a spilled window, as :func:`filter_rows` reads them."""

    def __init__(self, parts: _SpillParts, n: int) -> None:
        self.parts, self.n = parts, n
        self.n_components = parts.n_components

    def __len__(self) -> int:
        return self.n

    def component(self, k: int) -> "_SpillComponent":
        return _SpillComponent(self.parts, k, self.n)


class _SpillComponent(Sequence):
    """One component of every frame of a spilled view, read from the file as it is iterated."""

    def __init__(self, parts: _SpillParts, k: int, n: int) -> None:
        self.parts, self.k, self.n = parts, k, n
        self._first: Tensor | None = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, j):
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(self.n))]
        j = int(j) + (self.n if j < 0 else 0)
        if not 0 <= j < self.n:
            raise IndexError(j)
        if j == 0:  # asked for repeatedly (its shape and type)
            if self._first is None:
                self._first = self.parts.read(0, self.k)
            return self._first
        return self.parts.read(j, self.k)


class FrameQueue:
    """The original frames a synthesis needs, in order: kept as they stream in (``again`` None), or
    decoded a second time (``again``: returns a fresh iterator over the same chunks), so that a
    magnifier whose output lags its input by a long filter (DeepMag: margin + block) holds none."""

    def __init__(self, again=None) -> None:
        self._reader = None if again is None else _Frames(again())
        self._kept: list[np.ndarray] = []

    def keep(self, chunk: np.ndarray) -> None:
        """Note frames taken in (kept only without a second reading)."""
        if self._reader is None:
            self._kept.extend(chunk)

    def take(self, k: int) -> np.ndarray:
        """The next ``k`` frames, ``uint8 (k, H, W, 3)``."""
        if self._reader is not None:
            return np.stack(self._reader.take(k))
        if len(self._kept) < k:
            raise InputError(f"internal: {k} frames asked for, {len(self._kept)} held")
        out = np.stack(self._kept[:k])
        del self._kept[:k]
        return out


class _Window:
    """The stream's state: the components of the window, the frames not yet emitted (or their reader)."""

    def __init__(self, mag, fps: float, margin: int, core: int, again: _Frames | None = None) -> None:
        self.mag, self.fps, self.margin, self.core, self.again = mag, fps, margin, core, again
        self.device = getattr(mag, "device", torch.device("cpu"))
        self.parts: _RamParts | _SpillParts = _RamParts()  # per frame, from (next to emit − left) onward
        self.left = 0  # leading entries that are context only
        self.frames: list[np.ndarray] = []  # uint8 frames from the next to emit onward
        self.n_frames = 0
        self.shape: tuple[int, int] | None = None
        self.store = getattr(mag, "window_dtype", None)  # e.g. float16 (see PhaseMagnifier)
        self.batch: int | None = None  # frames per analysis / synthesis batch (from the first frame)
        self.rows_step: int | None = None  # None: filter the whole core at once

    def _add(self, chunk: np.ndarray) -> None:
        if chunk.ndim == 3:
            chunk = chunk[None]
        if chunk.ndim != 4 or chunk.shape[-1] != 3:
            raise InputError(f"{self.mag.name}: frames must be (t, H, W, 3), got shape {chunk.shape}")
        if not len(chunk):
            return
        x = to_tensor(chunk, self.device)
        with torch.inference_mode():
            if self.shape is None:
                self.shape = tuple(chunk.shape[1:3])
                self.mag._stream_setup(*self.shape, x)
            elif tuple(chunk.shape[1:3]) != self.shape:
                raise InputError(f"{self.mag.name}: frame size changed from {self.shape} to {chunk.shape[1:3]}")
            # own storage (the batch is freed), in the magnifier's storage type if it has one
            comps = [c.to(self.store) if self.store is not None and c.is_floating_point() else c.clone()
                     for c in self.mag._analyse(x)]
        if self.batch is None:  # sized from the first frame's components (see BATCH_BYTES)
            frame_bytes = max(1, sum(4 * c[0].numel() for c in comps))
            pixels = 4 * x[0].numel()  # bytes of one float RGB frame; its synthesis needs a few copies
            self.batch = int(min(BATCH, max(1, BATCH_BYTES // frame_bytes), max(1, FRAME_BYTES // pixels)))
            step = max(1, ROWS_BYTES // frame_bytes) // self.batch * self.batch
            self.rows_step = None if step >= self.core else max(self.batch, step)
            capacity = 2 * self.margin + self.core + self.batch
            stored = sum(c[0].numel() * c.element_size() for c in comps)
            numpy_types = all(c.dtype in (torch.float16, torch.float32, torch.float64) for c in comps)
            if numpy_types and stored * capacity > WINDOW_RAM_BYTES:
                self.parts = _SpillParts(comps, capacity)
        self.parts.extend(comps)
        if self.again is None:
            self.frames.extend(chunk)
        self.n_frames += len(chunk)

    def _emit(self, core: int) -> Iterator[np.ndarray]:
        """The next ``core`` output frames, yielded :data:`BATCH` at a time (so neither the input frames
        nor the output of a long core are ever held whole)."""
        window = self.parts.head(self.left + core + self.margin)
        step = self.rows_step or core
        rows: list[Tensor] = []
        for s in range(0, core, self.batch):
            k = min(self.batch, core - s)
            frames = self.frames[s : s + k] if self.again is None else self.again.take(k)
            with torch.inference_mode():
                if s % step == 0:  # the filtered rows of the next step (the same rows of the same matrix)
                    del rows
                    a = self.left + s
                    rows = self.mag._filter_rows(window, self.fps, a, a + min(step, core - s))
                o = s % step
                x = to_tensor(np.stack(frames), self.device)
                out = to_uint8(self.mag._synthesise(x, [f[o : o + k] for f in rows]))
            del x
            yield out
        del window, rows
        consumed = self.left + core
        keep_from = max(0, consumed - self.margin)
        self.parts.drop(keep_from)
        self.left = consumed - keep_from
        if self.again is None:
            self.frames = self.frames[core:]

    def push(self, chunk: np.ndarray) -> Iterator[np.ndarray]:
        """Take a chunk a batch at a time, emitting as soon as a core is complete (the window never
        holds more than ``left + core + margin`` frames plus one batch, whatever the chunk size)."""
        if chunk.ndim == 3:
            chunk = chunk[None]
        s = 0
        while s < len(chunk):
            k = self.batch or 1
            self._add(chunk[s : s + k])
            s += k
            while len(self.parts) - self.left >= self.core + self.margin:
                yield from self._emit(self.core)

    def finish(self) -> Iterator[np.ndarray]:
        if self.n_frames == 0:
            raise InputError("no frames to magnify")
        if self.n_frames < 2:
            raise InputError(f"video too short for {self.mag.name}: 1 frame; a temporal magnifier needs at least 2")
        while len(self.parts) - self.left > 0:
            yield from self._emit(min(self.core, len(self.parts) - self.left))
