"""The streaming driver: blocks with margins reproduce whole-video processing exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physio.errors import InputError
from physio.magnify.base import Magnifier, magnify_stream, to_tensor, to_uint8


class MovingAverage(Magnifier):
    """A temporal filter with finite support (±k frames): chunked == whole away from nothing."""

    name = "avg"

    def __init__(self, k: int = 3):
        self.k = k

    def margin_frames(self, fps):
        return self.k

    def process(self, frames, fps):
        pad = torch.cat([frames[:1].expand(self.k, -1, -1, -1), frames, frames[-1:].expand(self.k, -1, -1, -1)])
        return torch.stack([pad[i : i + 2 * self.k + 1].mean(0) for i in range(len(frames))])


def test_round_trip_uint8(rng):
    f = rng.integers(0, 256, (5, 6, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(to_tensor(f)), f)


@pytest.mark.parametrize("chunk", [1, 7, 50])
@pytest.mark.parametrize("block", [5, 16, 100])
def test_chunked_equals_whole(rng, chunk, block):
    video = rng.integers(0, 256, (53, 4, 5, 3), dtype=np.uint8)
    mag = MovingAverage(3)
    whole = to_uint8(mag.process(to_tensor(video), 30.0))
    chunks = (video[i : i + chunk] for i in range(0, len(video), chunk))
    counted = []
    out = np.concatenate(list(magnify_stream(mag, chunks, 30.0, block_frames=block, progress=counted.append)))
    assert sum(counted) == len(video)
    np.testing.assert_array_equal(out, whole)


def test_empty_stream():
    with pytest.raises(InputError, match="no frames"):
        list(magnify_stream(MovingAverage(), iter([]), 30.0))
