"""The shared ``Magnifier`` interface and its streaming driver.

Every magnification method — DeepMag, the classical Eulerian/phase/acceleration baselines and the
learned magnifiers — is a :class:`Magnifier`: configured once, then applied to a *block* of frames by
:meth:`Magnifier.process`.  :func:`magnify_stream` runs any magnifier over a video of any length in
overlapping temporal blocks: each block is processed with ``margin`` extra frames of context on both
sides and only its core is emitted, so memory stays bounded and temporal filters have no seams (the
output equals the whole-video result wherever the filter's response has decayed within the margin).

Frames cross this interface as float tensors ``(T, 3, H, W)`` in ``[0, 1]`` (RGB) on the magnifier's
device; the driver converts from and to the ``uint8 (T, H, W, 3)`` chunks of :mod:`physio.io`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from physio.errors import InputError

__all__ = ["Magnifier", "magnify_stream", "blocked_stream", "frame_chunks", "to_tensor", "to_uint8"]


def to_tensor(frames: np.ndarray, device: torch.device | str = "cpu", dtype=torch.float32) -> torch.Tensor:
    """``uint8 (T, H, W, 3)`` → float ``(T, 3, H, W)`` in ``[0, 1]``."""
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InputError(f"frames must be (T, H, W, 3), got shape {arr.shape}")
    t = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
    return t.permute(0, 3, 1, 2).to(dtype).div_(255.0)  # in place: one float copy, not two


def frame_chunks(chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The non-empty chunks of a stream as ``(t, H, W, 3)`` arrays (a single ``(H, W, 3)`` frame becomes
    a chunk of one; empty chunks are skipped)."""
    for chunk in chunks:
        c = np.asarray(chunk)
        if c.ndim == 3:
            c = c[None]
        if len(c):
            yield c


def to_uint8(frames: torch.Tensor) -> np.ndarray:
    """Float ``(T, 3, H, W)`` in ``[0, 1]`` → ``uint8 (T, H, W, 3)``, clipped and rounded."""
    x = frames.detach().clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)  # one float copy
    return x.permute(0, 2, 3, 1).contiguous().cpu().numpy()


class Magnifier(ABC):
    """A video magnification method.

    Subclasses set :attr:`name` and implement :meth:`process` (and :meth:`margin_frames` when they
    filter over time).  They hold their configuration (factor, band, device …) as attributes.
    """

    name: str = "magnifier"
    device: torch.device = torch.device("cpu")

    @abstractmethod
    def process(self, frames: torch.Tensor, fps: float) -> torch.Tensor:
        """Magnify one block: float ``(T, 3, H, W)`` in ``[0, 1]`` → the same shape (not clipped)."""

    def margin_frames(self, fps: float) -> int:
        """Frames of context needed on each side of a block for a seamless result (0: frame-wise)."""
        return 0

    def min_block_frames(self, fps: float) -> int:
        """Shortest block :meth:`process` accepts (e.g. a temporal filter's minimum length)."""
        return 1

    def describe(self) -> dict:
        """The configuration, for reports and model cards."""
        return {k: (v if isinstance(v, (int, float, str, bool, type(None), list, tuple)) else str(v))
                for k, v in vars(self).items() if not k.startswith("_")}


def magnify_stream(
    magnifier: Magnifier,
    chunks: Iterable[np.ndarray],
    fps: float,
    block_frames: int | None = None,
    progress=None,
    again=None,
) -> Iterator[np.ndarray]:
    """Run ``magnifier`` over a stream of ``uint8 (t, H, W, 3)`` chunks; yield magnified uint8 chunks.

    Parameters
    ----------
    magnifier : Magnifier
    chunks : iterable of ndarray
        Consecutive frame chunks (e.g. ``VideoReader.chunks()``); any chunk sizes.
    fps : float
        Frame rate (temporal filters depend on it).
    block_frames : int, optional
        Core frames per processed block (default: ``max(4 × margin, 128)``).  Each call of
        :meth:`Magnifier.process` sees at most ``block_frames + 2 × margin`` frames.
    progress : callable, optional
        Called with the number of frames emitted after each block (e.g. ``tqdm.update``).
    again : callable, optional
        Returns a fresh iterator over the same chunks (the video read again); a windowed magnifier
        (:mod:`physio.magnify.window`) then re-reads the frames instead of keeping them.

    Yields
    ------
    ndarray
        ``uint8 (t, H, W, 3)`` chunks, in order, totalling the input's frame count.

    Notes
    -----
    A magnifier that defines ``stream(chunks, fps, progress=None)`` (stateful pipelines whose
    integration over time cannot restart at block edges, like DeepMag) is delegated to it.
    """
    custom = getattr(magnifier, "stream", None)
    if callable(custom):  # a magnifier with its own streaming (DeepMag; the windowed ones)
        kw = {"again": again} if again is not None and getattr(magnifier, "rereads", False) else {}
        yield from custom(chunks, fps, progress=progress, block_frames=block_frames, **kw)
        return
    yield from blocked_stream(magnifier, chunks, fps, block_frames, progress)


def blocked_stream(magnifier: Magnifier, chunks: Iterable[np.ndarray], fps: float, block_frames: int | None = None,
                   progress=None) -> Iterator[np.ndarray]:
    """The generic driver of :func:`magnify_stream`: :meth:`Magnifier.process` on overlapping blocks."""
    margin = int(magnifier.margin_frames(fps))
    block = int(block_frames) if block_frames else max(4 * margin, 128)
    if block < 1:
        raise InputError(f"block_frames must be ≥ 1, got {block_frames}")
    device = getattr(magnifier, "device", torch.device("cpu"))
    need = int(magnifier.min_block_frames(fps))
    grad = bool(getattr(magnifier, "needs_grad", False))

    stack: np.ndarray | None = None  # frames from (first not-yet-emitted − left) onward
    emitted = 0
    left = 0  # leading frames of `stack` that are context only (already emitted)

    def run_block(core: int) -> np.ndarray:
        window = stack[: left + core + margin]
        if len(window) < need:
            raise InputError(f"video too short for {magnifier.name}: {len(window)} frames, need ≥ {need}")
        x = to_tensor(window, device)
        with torch.inference_mode(mode=not grad):
            y = magnifier.process(x, fps)
        return to_uint8(y[left : left + core])

    def advance(core: int) -> None:
        nonlocal stack, left
        consumed = left + core
        keep_from = max(0, consumed - margin)
        stack = stack[keep_from:]
        left = consumed - keep_from

    for c in frame_chunks(chunks):
        stack = c if stack is None else np.concatenate([stack, c], axis=0)
        while len(stack) - left >= block + margin:
            out = run_block(block)
            advance(block)
            emitted += len(out)
            if progress is not None:
                progress(len(out))
            yield out
    if stack is None:
        raise InputError("no frames to magnify")
    if emitted == 0 and len(stack) < 2:
        raise InputError(f"video too short for {magnifier.name}: 1 frame; a temporal magnifier needs at least 2")
    while len(stack) - left > 0:
        core = min(block, len(stack) - left)
        out = run_block(core)
        advance(core)
        if progress is not None:
            progress(len(out))
        yield out
