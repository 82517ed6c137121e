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
