"""Magnifying a video file with any :class:`~physio.magnify.base.Magnifier`, streamed, atomically."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from physio.errors import InputError
from physio.io import VideoReader, VideoWriter, chunk_frames
from physio.magnify.base import Magnifier, magnify_stream
from physio.magnify.outputs import pair_with_input

MAGNIFY_CHUNK_BYTES = 32 << 20
"""Decoded chunks of :func:`magnify_video` hold at most this many bytes (32 frames at 640 × 480, 5 at
1080p; the video is read twice, and each reading holds a chunk and the frames it is stacked from)."""

__all__ = ["magnify_video"]


def magnify_video(
    magnifier: Magnifier,
    video: str | os.PathLike,
    output: str | os.PathLike,
    *,
    fps: float | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    block_frames: int | None = None,
    chunk_size: int = 32,
    crf: int = 18,
    preset: str | None = None,
    progress: Callable[[int], object] | None = None,
    outputs=None,
) -> dict:
    """Stream ``video`` through ``magnifier`` into ``output`` (H.264, same fps and size, atomic).

    Memory is bounded by the block size (see :func:`physio.magnify.base.magnify_stream`), whatever the
    video's length.  ``outputs``: a :class:`physio.magnify.run_outputs.RunOutputs` that receives every
    ``(original, magnified)`` chunk pair of the same pass (side-by-side video, scan line, pixel traces,
    learning curve) and writes them after the video.  ``progress`` is called with frame counts twice
    per frame — when the magnifier takes it in and when it is written — so a bar of ``2 × frames``
    moves from the first chunk on (a magnifier holds a margin and a block before its first output)
    and its ETA covers the whole pipeline.  Returns ``{"output", "frames", "fps", "width",
    "height", "margin_frames", "extra_outputs"}``.
    """
    reader = VideoReader(video, chunk_size=chunk_size, start_s=start_s, end_s=end_s, fps=fps)
    # at most MAGNIFY_CHUNK_BYTES a chunk (32 frames at 640 × 480, 5 at 1080p): the frames are read twice
    reader.chunk_size = chunk_frames(reader.width, reader.height, most=chunk_size, budget=MAGNIFY_CHUNK_BYTES)
    out = Path(output)
    if out.resolve() == Path(video).resolve():
        raise InputError(f"{out}: output would overwrite the input video")
    extra = outputs if outputs is not None and outputs.wanted else None
    if extra is not None:
        extra.check_against(video, out)
        if extra.record and not hasattr(magnifier, "objective_history"):
            raise InputError(f"--learning-curve needs --method deepmag: {magnifier.name!r} does no gradient ascent")

    def transform(chunks):
        if extra is not None and extra.record:  # DeepMag, keeping the ascent's objective (Fig. 9)
            return magnifier.stream(chunks, reader.fps, record=True, again=reader.chunks)
        return magnify_stream(magnifier, chunks, reader.fps, block_frames, again=reader.chunks)

    def read(chunks):  # the first half of the progress: frames taken in by the magnifier
        for c in chunks:
            yield c
            if progress is not None:
                progress(len(c))

    n = 0
    pairs = pair_with_input(read(reader.chunks()), transform) if extra is not None else \
        ((None, chunk) for chunk in transform(read(reader.chunks())))
    with VideoWriter(out, reader.fps, crf=crf, **({} if preset is None else {"preset": preset})) as writer:
        try:
            for orig, chunk in pairs:
                writer.write(chunk)
                if extra is not None:
                    extra.update(orig, chunk, getattr(magnifier, "box", None))
                n += len(chunk)
                if progress is not None:  # the second half: frames written
                    progress(len(chunk))
        except BaseException:
            if extra is not None:
                extra.abort()
            raise
    written = extra.finish(magnifier) if extra is not None else []
    return {
        "output": str(out),
        "frames": n,
        "fps": reader.fps,
        "width": reader.width,
        "height": reader.height,
        "margin_frames": int(magnifier.margin_frames(reader.fps)),
        "extra_outputs": written,
    }
