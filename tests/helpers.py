"""Small builders shared by tests (import as ``from helpers import ...``)."""

from __future__ import annotations

import numpy as np


def moving_gradient_clip(t: int = 20, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, slowly moving colour pattern (compresses well; easy to compare after H.264)."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    phase = r.uniform(0, 2 * np.pi, 3)
    frames = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        for c in range(3):
            v = 128 + 80 * np.sin(2 * np.pi * (xx + 0.7 * i) / 40.0 + phase[c]) * np.cos(2 * np.pi * yy / 55.0)
            frames[i, :, :, c] = np.clip(v, 0, 255).astype(np.uint8)
    return frames


def pulsing_frames(hr_bpm: float, seconds: float, fps: float, h: int = 24, w: int = 32, amp: float = 3.0, seed: int = 0):
    """A skin-coloured patch whose green channel pulses at ``hr_bpm`` on a noisy grey background.

    Returns ``(frames uint8 (T, H, W, 3), pulse signal at frame times)``.
    """
    r = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fps))) / fps
    pulse = np.sin(2 * np.pi * hr_bpm / 60.0 * t)
    base = np.full((h, w, 3), 90.0)
    y0, y1, x0, x1 = h // 4, 3 * h // 4, w // 4, 3 * w // 4
    base[y0:y1, x0:x1] = (180.0, 130.0, 110.0)
    strength = np.array([0.33, 0.77, 0.53])
    frames = np.repeat(base[None], len(t), axis=0)
    frames[:, y0:y1, x0:x1, :] += amp * pulse[:, None, None, None] * strength
    frames += r.normal(0, 0.8, frames.shape)
    return np.clip(np.round(frames), 0, 255).astype(np.uint8), pulse


def pulsing_cohort(path, n_participants: int = 5, seconds: float = 20.0, fps: float = 12.0, seed: int = 0):
    """A tiny cohort of :func:`pulsing_frames` sessions, one per participant, HR 60–100 bpm."""
    from physio.cohort import CohortWriter

    r = np.random.default_rng(seed)
    with CohortWriter(path) as w:
        for i in range(n_participants):
            hr = float(r.uniform(60, 100))
            frames, pulse = pulsing_frames(hr, seconds, fps, seed=seed + i)
            w.add_session(f"p{i:02d}", "A", fps=fps, task="A", frames=frames, pulse=pulse, pulse_fs=fps,
                          participant_attrs={"hr_bpm": hr})
    return path


def side_by_side_clips(paths, out_dir, height: int = 360, frames: int = 298, fps: float = 30.0):
    """Real clips resized to one ``height``, re-timed to ``fps`` (every k-th frame of a faster clip) and
    written alone and side by side, losslessly (the same pixels in both: a separate lossy encoding of each
    would move a weak pulse's peak by itself); returns ``(alone paths, side-by-side path)``."""
    import cv2

    from physio.io import VideoReader, video_write

    def clip(path):
        r = VideoReader(path, chunk_size=32)
        step = max(1, int(round(r.fps / fps)))
        out = []
        for i, f in enumerate(fr for c in r.chunks() for fr in c):
            if i % step == 0 and len(out) < frames:
                w = int(round(f.shape[1] * height / f.shape[0] / 2)) * 2
                out.append(cv2.resize(f, (w, height), interpolation=cv2.INTER_AREA))
        if len(out) < frames:
            raise ValueError(f"{path}: only {len(out)} frames at {fps} fps")
        return np.stack(out)

    clips = [clip(p) for p in paths]
    alone = [video_write(f"{out_dir}/alone{i}.mkv", c, fps=fps, lossless=True) for i, c in enumerate(clips)]
    both = video_write(f"{out_dir}/side_by_side.mkv", np.concatenate(clips, axis=2), fps=fps, lossless=True)
    return alone, both


def breathing_frames(br_per_min: float, seconds: float, fps: float, h: int = 48, w: int = 64, amp: float = 0.3,
                     seed: int = 0):
    """Horizontal shoulder-like edges (a smooth textured band) moving up and down by ``amp`` pixels at
    ``br_per_min``, rendered analytically (sub-pixel exact) with mild sensor noise.

    Returns ``(frames uint8 (T, H, W, 3), vertical displacement in pixels at frame times)``.
    """
    r = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fps))) / fps
    d = amp * np.sin(2 * np.pi * br_per_min / 60.0 * t)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    wobble = 3.0 * np.sin(2 * np.pi * xx / 29.0)
    frames = np.empty((len(t), h, w, 3))
    for i, di in enumerate(d):
        y = yy - di + wobble
        v = 110 + 70 * np.tanh((y - h / 2) / 2.5) + 20 * np.sin(2 * np.pi * y / 9.0)
        frames[i] = v[..., None] * np.array([1.0, 0.9, 0.8])
    frames += r.normal(0, 0.6, frames.shape)
    return np.clip(np.round(frames), 0, 255).astype(np.uint8), d
