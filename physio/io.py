"""Streaming video input/output.

Reading goes through PyAV (FFmpeg): frames come out as RGB ``uint8`` arrays of shape
``(T, H, W, 3)`` in bounded chunks, so a video of any length never sits in memory whole.  Writing
encodes H.264 with PyAV (OpenCV's wheels cannot), keeps the input frame rate, and is atomic: frames go
to a hidden temporary file in the destination folder that is renamed over the destination only when
the writer is closed without error.  An interrupted or failed run leaves no partial file.

This module never crops, resizes (except on explicit request) or guesses a frame rate: an unknown frame
rate is an error unless the caller overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from physio import DEFAULT_PRESET, X264_PRESETS
from physio.atomic import AtomicFile
from physio.errors import InputError, VideoReadError, VideoWriteError

__all__ = [
    "CHUNK_BYTES",
    "chunk_frames",
    "prefetched",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "video_info",
    "video_read",
    "video_write",
    "WRITABLE_SUFFIXES",
]

WRITABLE_SUFFIXES = (".mp4", ".mkv", ".mov")
"""Containers :class:`VideoWriter` can write H.264 into."""

DEFAULT_CHUNK = 64
"""Frames per chunk when iterating a video."""


def _import_av():
    try:
        import av  # noqa: PLC0415 - deferred: PyAV loads FFmpeg; a missing PyAV becomes a VideoReadError
    except ImportError as exc:  # pragma: no cover - av is a hard dependency
        raise VideoReadError("PyAV (package 'av') is required for video I/O") from exc
    # Do not route FFmpeg's logs through PyAV's Python handler (av.logging.set_level): with threaded
    # decoding that handler can deadlock (PyAV issues #751, #909); PyAV's default leaves it off.
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What a video file declares and contains.

    Attributes
    ----------
    path : str
        The file.
    fps : float
        Frames per second (the container's average rate, or the caller's override).
    frame_count : int
        Number of video frames (counted from the container's packets when it does not say).
    width, height : int
        Frame size in pixels (before any resize the reader applies).
    duration_s : float
        ``frame_count / fps``.
    codec : str
        Name of the video codec.
    """

    path: str
    fps: float
    frame_count: int
    width: int
    height: int
    duration_s: float
    codec: str


def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise VideoReadError(f"{p}: no such file")
    if p.is_dir():
        raise VideoReadError(f"{p}: is a folder, not a video file")
    if p.stat().st_size == 0:
        raise VideoReadError(f"{p}: empty file")
    return p


def _open_container(p: Path):
    av = _import_av()
    try:
        container = av.open(str(p), mode="r")
    except Exception as exc:  # av raises many subclasses (InvalidDataError, OSError, ...)
        raise VideoReadError(f"{p}: cannot open as a video ({type(exc).__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{p}: contains no video stream")
    return container


def _stream_fps(stream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0 and np.isfinite(float(rate)):
            return float(rate)
    return None


def _count_packets(p: Path) -> int:
    container = _open_container(p)
    try:
        stream = container.streams.video[0]
        n = 0
        for packet in container.demux(stream):
            if packet.size > 0:
                n += 1
        return n
    except Exception as exc:
        raise VideoReadError(f"{p}: corrupt or unreadable ({type(exc).__name__}: {exc})") from None
    finally:
        container.close()


def video_info(path: str | os.PathLike, fps: float | None = None) -> VideoInfo:
    """Read a video's properties without decoding it.

    Parameters
    ----------
    path : str or path-like
        Video file (mp4, avi, mkv, mov … anything FFmpeg reads).
    fps : float, optional
        Override the frame rate (for files whose container gives none, or a wrong one, e.g. high-speed
        footage stored at 30 fps).

    Raises
    ------
    VideoReadError
        Missing, empty, unreadable or corrupt file, no video stream, zero frames, or an unknown frame
        rate without an override.
    InputError
        A non-positive ``fps`` override.
    """
    p = _check_path(path)
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise InputError(f"fps override must be a positive number, got {fps}")
    container = _open_container(p)
    try:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        codec = stream.codec_context.name
        declared = int(stream.frames or 0)
        stream_fps = _stream_fps(stream)
    finally:
        container.close()
    count = declared if declared > 0 else _count_packets(p)
    if count <= 0:
        raise VideoReadError(f"{p}: the video has zero frames")
    if width <= 0 or height <= 0:
        raise VideoReadError(f"{p}: the video has no valid frame size ({width}x{height})")
    rate = fps if fps is not None else stream_fps
    if rate is None:
        raise VideoReadError(f"{p}: unknown frame rate; give it explicitly (--fps)")
    return VideoInfo(str(p), float(rate), count, width, height, count / float(rate), codec)


class VideoReader:
    """Iterate a video's frames in bounded chunks.

    Parameters
    ----------
    path : str or path-like
        Video file.
    chunk_size : int
        Frames per chunk yielded by :meth:`chunks` (memory is ``chunk_size × H × W × 3`` bytes).
    start_s, end_s : float, optional
        Read only frames whose index ``i`` satisfies ``start_s ≤ i / fps < end_s``.
    size : (width, height), optional
        Resize every frame to this size with area interpolation (OpenCV ``INTER_AREA``).
    fps : float, optional
        Frame-rate override (see :func:`video_info`).
    crop : (x0, y0, x1, y1), optional
        Read only this region of every frame (integer pixels, before ``size``): a video of one
        person in a frame of several (:mod:`physio.rates.faces`).

    Notes
    -----
    Frames are RGB ``uint8`` arrays ``(T, H, W, 3)``.  Frame ``i``'s time is ``i / fps`` seconds from
    the first frame (constant frame rate assumed; variable-rate files are read frame by frame in
    decoding order).

    Examples
    --------
    >>> with VideoReader("face.mp4", chunk_size=32) as reader:   # doctest: +SKIP
    ...     for chunk in reader.chunks():
    ...         print(chunk.shape)
    """

    def __init__(
        self,
        path: str | os.PathLike,
        chunk_size: int = DEFAULT_CHUNK,
        start_s: float | None = None,
        end_s: float | None = None,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
        crop: tuple[int, int, int, int] | None = None,
    ) -> None:
        if chunk_size < 1:
            raise InputError(f"chunk_size must be ≥ 1, got {chunk_size}")
        self.info = video_info(path, fps=fps)
        self.path = Path(path)
        self.chunk_size = int(chunk_size)
        if crop is not None:
            x0, y0, x1, y1 = (int(v) for v in crop)
            if not (0 <= x0 < x1 <= self.info.width and 0 <= y0 < y1 <= self.info.height):
                raise InputError(f"crop {tuple(crop)} is not a region of the {self.info.width}x{self.info.height} frame")
            crop = (x0, y0, x1, y1)
        self.crop = crop
        if size is not None:
            if len(size) != 2 or min(size) < 1:
                raise InputError(f"size must be (width, height) with positive entries, got {size}")
            size = (int(size[0]), int(size[1]))
        self.size = size
        start = 0 if start_s is None else int(round(start_s * self.info.fps))
        stop = self.info.frame_count if end_s is None else int(round(end_s * self.info.fps))
        if start_s is not None and start_s < 0:
            raise InputError(f"start time must be ≥ 0, got {start_s}")
        stop = min(stop, self.info.frame_count)
        if stop <= start:
            raise InputError(
                f"{self.path}: empty time range [{start_s}, {end_s}) s "
                f"(the video lasts {self.info.duration_s:.2f} s)"
            )
        self.start_frame, self.stop_frame = start, stop
        self._container = None

    # -- properties ---------------------------------------------------------------------------------
    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def frame_count(self) -> int:
        """Frames this reader will yield (after the time range is applied)."""
        return self.stop_frame - self.start_frame

    @property
    def width(self) -> int:
        if self.size:
            return self.size[0]
        return self.crop[2] - self.crop[0] if self.crop else self.info.width

    @property
    def height(self) -> int:
        if self.size:
            return self.size[1]
        return self.crop[3] - self.crop[1] if self.crop else self.info.height

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    def __len__(self) -> int:
        return self.frame_count

    # -- iteration ----------------------------------------------------------------------------------
    def _convert(self, frame) -> np.ndarray:
        arr = frame.to_ndarray(format="rgb24")
        if self.crop is not None:
            x0, y0, x1, y1 = self.crop
            arr = np.ascontiguousarray(arr[y0:y1, x0:x1])
        if self.size is not None and (arr.shape[1], arr.shape[0]) != self.size:
            arr = cv2.resize(arr, self.size, interpolation=cv2.INTER_AREA)
        return arr

    def frames(self) -> Iterator[np.ndarray]:
        """Yield frames one at a time, ``(H, W, 3)`` uint8 RGB."""
        container = _open_container(self.path)
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            index = -1
            yielded = 0
            try:
                for frame in container.decode(stream):
                    index += 1
                    if index < self.start_frame:
                        continue
                    if index >= self.stop_frame:
                        break
                    yielded += 1
                    yield self._convert(frame)
            except Exception as exc:
                if yielded == 0 and index < 0:
                    raise VideoReadError(
                        f"{self.path}: corrupt or undecodable video ({type(exc).__name__}: {exc})"
                    ) from None
                raise VideoReadError(
                    f"{self.path}: decoding failed at frame {index + 1}/{self.info.frame_count} "
                    f"({type(exc).__name__}: {exc})"
                ) from None
            if yielded == 0:
                raise VideoReadError(f"{self.path}: no frame could be decoded")
        finally:
            container.close()

    def chunks(self, chunk_size: int | None = None, prefetch: bool = False) -> Iterator[np.ndarray]:
        """Yield consecutive chunks ``(t, H, W, 3)`` uint8 with ``t ≤ chunk_size`` frames.

        ``prefetch``: decode the next chunk in a reader thread while the caller works on this one
        (:func:`prefetched`; one chunk more in memory).
        """
        if prefetch:
            return prefetched(self._chunks(chunk_size))
        return self._chunks(chunk_size)

    def _chunks(self, chunk_size: int | None) -> Iterator[np.ndarray]:
        n = self.chunk_size if chunk_size is None else int(chunk_size)
        buf: list[np.ndarray] = []
        for frame in self.frames():
            buf.append(frame)
            if len(buf) == n:
                yield np.stack(buf)
                buf = []
        if buf:
            yield np.stack(buf)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.chunks()

    def read_all(self, max_bytes: int = 4 << 30) -> np.ndarray:
        """Read the whole (time-ranged) video into one array; refuses above ``max_bytes``."""
        need = self.frame_count * self.height * self.width * 3
        if need > max_bytes:
            raise InputError(
                f"{self.path}: reading {self.frame_count} frames would take {need / 2**20:.0f} MiB "
                f"(limit {max_bytes / 2**20:.0f} MiB); iterate chunks() instead"
            )
        return np.concatenate(list(self.chunks()), axis=0)

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        return None


_DONE = object()


CHUNK_BYTES = 64 << 20
"""Frames are decoded in chunks of at most this many bytes (64 frames at 640×480, 10 at 1080p): with
the reader thread's chunk in flight, a 1080p video then holds ~200 MB of frames, not 1.2 GB."""


def chunk_frames(width: int, height: int, most: int = 64, budget: int = CHUNK_BYTES) -> int:
    """Frames per decoded chunk for ``width × height`` video (``budget`` bytes, at most ``most``)."""
    return int(max(2, min(most, budget // max(1, width * height * 3))))


def prefetched(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    Decoding (FFmpeg, OpenCV's colour conversion) runs without the GIL, so a reader thread overlaps it
    with the caller's work.  An exception in the producer is raised in the consumer at the item where
    it happened; a consumer that stops early (``break``, an exception, garbage collection) stops the
    thread and closes the source iterator.
    """
    import queue  # noqa: PLC0415
    import threading  # noqa: PLC0415

    q: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((item, None)):
                    break
            else:
                put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((_DONE, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="physio-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join()


def video_read(path: str | os.PathLike, **kwargs) -> tuple[np.ndarray, float]:
    """Read a (short) video whole: returns ``(frames (T,H,W,3) uint8 RGB, fps)``.

    Keyword arguments go to :class:`VideoReader`.  Use :class:`VideoReader` chunks for long videos.
    """
    reader = VideoReader(path, **kwargs)
    return reader.read_all(), reader.fps


class VideoWriter:
    """Write RGB frames to an H.264 video, atomically.

    Parameters
    ----------
    path : str or path-like
        Destination; its suffix must be one of :data:`WRITABLE_SUFFIXES`.  Parent folders are created.
    fps : float
        Frame rate to store (keep the input's).
    crf : int
        x264 constant rate factor (0–51, lower is better; 18 is visually lossless).  Ignored when
        ``lossless``.
    lossless : bool
        Encode losslessly: ``libx264rgb`` with ``crf 0`` in RGB (bit-exact round trip; larger files and
        fewer players support it).
    preset : str
        x264 speed preset (:data:`physio.X264_PRESETS`).  Default ``"veryfast"``: on 640×480 at crf 18 it encodes
        ~2.4× faster than ``"medium"`` with a smaller file, 0.5 dB lower PSNR against the frames
        (docs/performance.md); ``"medium"`` or slower for archiving.
    pix_fmt : str, optional
        ``"yuv420p"`` (plays everywhere; chroma at half resolution) or ``"yuv444p"`` (full-resolution
        chroma, for analysis).  Default: ``yuv420p`` when width and height are even, else ``yuv444p``.

    Notes
    -----
    Frames are ``(H, W, 3)`` or ``(T, H, W, 3)`` uint8 RGB (float input in [0, 1] or [0, 255] is
    refused: convert explicitly).  Lossy output uses ``yuv420p`` when width and height are even (plays
    everywhere) and ``yuv444p`` otherwise (4:2:0 needs even sizes; we never crop or pad).  The file is
    written to ``.NAME.partial-PID.SUFFIX`` beside the destination and renamed on :meth:`close`;
    :meth:`abort` (or an exception inside ``with``) deletes it.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        crf: int = 18,
        lossless: bool = False,
        preset: str = DEFAULT_PRESET,
        pix_fmt: str | None = None,
    ) -> None:
        self.path = Path(path)
        if preset not in X264_PRESETS:
            raise InputError(f"preset must be one of {', '.join(X264_PRESETS)}, got {preset!r}")
        if pix_fmt not in (None, "yuv420p", "yuv444p"):
            raise InputError(f"pix_fmt must be 'yuv420p' or 'yuv444p', got {pix_fmt!r}")
        self.pix_fmt = pix_fmt
        if self.path.suffix.lower() not in WRITABLE_SUFFIXES:
            raise VideoWriteError(
                f"{self.path}: unsupported output type {self.path.suffix or '(none)'!r}; "
                f"use one of {', '.join(WRITABLE_SUFFIXES)}"
            )
        if self.path.is_dir():
            raise VideoWriteError(f"{self.path}: is a folder")
        if not (np.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be a positive number, got {fps}")
        if not 0 <= int(crf) <= 51:
            raise InputError(f"crf must be in 0..51, got {crf}")
        self.fps = float(fps)
        self.crf = int(crf)
        self.lossless = bool(lossless)
        self.preset = preset
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise VideoWriteError(f"{self.path}: cannot create folder ({exc})") from None
        self._file = AtomicFile(self.path)
        self._tmp = self._file.tmp
        self._container = None
        self._stream = None
        self._shape: tuple[int, int] | None = None
        self.frames_written = 0
        self._closed = False

    def _open(self, height: int, width: int) -> None:
        av = _import_av()
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except Exception as exc:
            raise VideoWriteError(f"{self.path}: cannot write here ({exc})") from None
        rate = Fraction(self.fps).limit_denominator(1001)
        if self.lossless:
            stream = self._container.add_stream("libx264rgb", rate=rate)
            stream.pix_fmt = "rgb24"
            stream.options = {"crf": "0", "preset": self.preset}
        else:
            stream = self._container.add_stream("libx264", rate=rate)
            even = height % 2 == 0 and width % 2 == 0
            if self.pix_fmt == "yuv420p" and not even:
                raise VideoWriteError(f"{self.path}: yuv420p needs even width and height, got {width}x{height}")
            stream.pix_fmt = self.pix_fmt or ("yuv420p" if even else "yuv444p")
            stream.options = {"crf": str(self.crf), "preset": self.preset}
        stream.width, stream.height = width, height
        self._stream = stream
        self._shape = (height, width)

    def write(self, frames: np.ndarray) -> None:
        """Append one frame ``(H, W, 3)`` or a chunk ``(T, H, W, 3)`` of uint8 RGB frames."""
        if self._closed:
            raise VideoWriteError(f"{self.path}: writer already closed")
        arr = np.asarray(frames)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 3:
            raise InputError(f"frames must be (H, W, 3) or (T, H, W, 3) RGB, got shape {arr.shape}")
        if arr.dtype != np.uint8:
            raise InputError(f"frames must be uint8, got {arr.dtype}; convert explicitly")
        if self._container is None:
            self._open(arr.shape[1], arr.shape[2])
        if arr.shape[1:3] != self._shape:
            raise InputError(f"frame size changed from {self._shape} to {arr.shape[1:3]}")
        av = _import_av()
        try:
            for img in arr:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
                self.frames_written += 1
        except Exception as exc:
            self.abort()
            raise VideoWriteError(f"{self.path}: encoding failed ({exc})") from None

    def close(self) -> Path:
        """Flush, close and move the finished file into place; returns its path."""
        if self._closed:
            return self.path
        if self.frames_written == 0:
            self.abort()
            raise VideoWriteError(f"{self.path}: no frames were written")
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._file.commit()
        except Exception as exc:
            self.abort()
            raise VideoWriteError(f"{self.path}: finishing the file failed ({exc})") from None
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the temporary file; the destination is left untouched."""
        self._closed = True
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 - best effort on an already failing path
                pass
            self._container = None
        self._file.abort()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def video_write(
    path: str | os.PathLike, frames: np.ndarray | Iterable[np.ndarray], fps: float, **kwargs
) -> Path:
    """Write frames (an array ``(T,H,W,3)`` or an iterable of chunks) to ``path`` atomically."""
    with VideoWriter(path, fps, **kwargs) as writer:
        if isinstance(frames, np.ndarray):
            writer.write(frames)
        else:
            for chunk in frames:
                writer.write(chunk)
    return Path(path)
