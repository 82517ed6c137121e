"""Measurement building blocks: network over a streamed video, fixed crop boxes, JSON report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import pulsing_frames
from physio.errors import InputError
from physio.rates.measure import RatesReport, cnn_signal
from physio.roi.crop import crop_box_union
from physio.nets.pulse import PulseNet
from physio.represent.compute import RepresentationSpec


def test_cnn_signal_streams_and_is_chunk_invariant():
    frames, _ = pulsing_frames(72, 6.0, 10.0)
    torch.manual_seed(0)
    net = PulseNet(channels=(4, 8), hidden=8).eval()
    spec = RepresentationSpec("nfd", 36)
    a = cnn_signal(iter([frames]), net, spec)
    seen = []
    b = cnn_signal((frames[i : i + 9] for i in range(0, len(frames), 9)), net, spec, progress=seen.append)
    assert a.shape == (len(frames) - 1,) and sum(seen) == len(frames)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match="too short"):
        cnn_signal(iter([frames[:1]]), net, spec)


def test_crop_box_union():
    boxes = np.array([[10, 10, 20, 30], [12, 11, 22, 31], [np.nan] * 4] + [[11, 10, 21, 30]] * 10, float)
    x0, y0, x1, y1 = crop_box_union(boxes, (100, 100), margin=0.0)
    assert (x0, y0) == (10, 10) and 21 <= x1 <= 22 and 30 <= y1 <= 31
    assert crop_box_union(boxes, (25, 25), margin=0.5) == (5, 0, 25, 25)
    with pytest.raises(InputError):
        crop_box_union(np.full((3, 4), np.nan), (10, 10))


def test_report_json_keys():
    r = RatesReport(71.5, 14.2, [(5.0, 71.0)], [(15.0, 14.0)], "cnn", 30.0, {"extra_key": 1})
    j = r.to_json()
    assert {"hr_bpm", "br_bpm", "hr_series", "br_series", "method", "fps"} <= set(j)
    assert j["hr_series"] == [{"t": 5.0, "value": 71.0}]
