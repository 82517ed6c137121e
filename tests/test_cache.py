"""Representations streamed from frames and cached in a cohort: keys, invariance, reuse."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from helpers import pulsing_cohort, pulsing_frames
from physio.cohort import Cohort
from physio.errors import CohortSchemaError, InputError
from physio.represent.cache import ensure_cache, read_cache
from physio.represent.compute import RepresentationSpec, box_from_mask, iter_representation
from physio.represent.nfd import downsample_frames, nfd
from physio.represent.pyramid import phase_differences


def test_key_changes_with_parameters():
    a = RepresentationSpec("nfd", 36)
    assert a.key == RepresentationSpec("nfd", 36, standardize=False).key  # scaling is applied at read time
    assert a.key != RepresentationSpec("nfd", 24).key
    assert a.key != RepresentationSpec("nfd", 36, roi="mask:skin").key
    assert RepresentationSpec("phase", 64, level=1).key != RepresentationSpec("phase", 64, level=2).key
    with pytest.raises(InputError, match="kind"):
        RepresentationSpec("flow", 36)
    with pytest.raises(InputError, match="unknown representation key"):
        RepresentationSpec.from_dict({"kind": "nfd", "sise": 36})


@pytest.mark.parametrize("kind", ["nfd", "phase"])
def test_streaming_equals_direct(kind):
    frames, _ = pulsing_frames(70, 4.0, 10.0, h=40, w=48)
    spec = RepresentationSpec(kind, 32, level=1)
    chunks = (frames[i : i + 6] for i in range(0, len(frames), 6))
    streamed = np.concatenate(list(iter_representation(chunks, spec)))
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    if kind == "nfd":
        direct = nfd(downsample_frames(x, 32)).numpy()
    else:
        direct = phase_differences(x[None], level=1, size=32).x[0].numpy()
    assert streamed.shape == (len(frames) - 1, spec.channels, 32, 32)
    np.testing.assert_allclose(streamed, direct, atol=1e-5)


def test_box_from_mask():
    m = np.zeros((3, 20, 30), bool)
    m[0, 5:10, 10:20] = True
    m[2, 8:12, 12:22] = True
    assert box_from_mask(m, margin=0.0) == (10, 5, 22, 12)
    assert box_from_mask(m, margin=0.5) == (4, 1, 28, 16)
    with pytest.raises(InputError, match="empty"):
        box_from_mask(np.zeros((4, 4)))


def test_ensure_cache_once_and_read(tmp_path):
    path = pulsing_cohort(tmp_path / "c.h5", n_participants=2, seconds=6.0)
    spec = {"kind": "nfd", "size": 36}
    key = ensure_cache(path, spec, progress=False)
    with Cohort(path) as c:
        s = c["p01/A"]
        grp = s.group[f"cache/{key}"]
        assert grp["x"].shape == (s.n_frames - 1, 3, 36, 36) and grp.attrs["complete"]
        raw = read_cache(grp, standardize=False)
        np.testing.assert_allclose(np.sqrt(np.mean(raw.astype(np.float64) ** 2)), grp.attrs["scale"], rtol=1e-5)
        assert abs(np.sqrt(np.mean(read_cache(grp) ** 2)) - 1) < 1e-4
        mtime = grp["x"].id.get_offset()
    assert ensure_cache(path, spec, progress=False) == key  # second call: nothing recomputed
    with Cohort(path) as c:
        assert c["p01/A"].group[f"cache/{key}/x"].id.get_offset() == mtime
    with pytest.raises(CohortSchemaError, match="no mask"):
        ensure_cache(path, {"kind": "nfd", "size": 36, "roi": "mask:skin"}, progress=False)


def test_interrupted_cache_is_redone(tmp_path):
    path = pulsing_cohort(tmp_path / "c.h5", n_participants=1, seconds=4.0)
    key = RepresentationSpec("nfd", 36).key
    import h5py

    with h5py.File(path, "a") as h:  # a half-written cache group without the 'complete' flag
        g = h["participants/p00/sessions/A"].create_group("cache").create_group(key)
        g.create_dataset("x", data=np.zeros((3, 3, 36, 36), np.float32))
    ensure_cache(path, {"kind": "nfd", "size": 36}, progress=False)
    with Cohort(path) as c:
        grp = c["p00/A"].group[f"cache/{key}"]
        assert grp.attrs["complete"] and grp["x"].shape[0] == c["p00/A"].n_frames - 1


def test_detect_roi_is_the_box_physio_rates_crops(tmp_path):
    """`roi: detect:face` caches the crop `physio rates` feeds a network: the tracker's boxes over the
    session combined by crop_box_union (so training and inference crops can agree)."""
    from physio.roi.crop import crop_box_union
    from physio.represent.cache import session_box
    from physio.roi import roi_detect
    from physio.synth import synth_cohort

    path = synth_cohort(tmp_path / "s.h5", participants=1, tasks="A", duration_s=2.0, size=(320, 240), seed=3,
                        workers=1, progress=False)
    spec = {"kind": "nfd", "size": 36, "roi": "detect:face", "margin": 0.1}
    key = ensure_cache(path, spec, progress=False)
    with Cohort(path) as c:
        s = c["p001/task_A"]
        frames = s.read_frames(0, s.n_frames)
        want = crop_box_union(roi_detect([frames], s.fps).boxes("face"), frames.shape[1:3], margin=0.1)
        got = tuple(json.loads(s.group[f"cache/{key}"].attrs["box"]))
        assert got == want
        mask_box = session_box(s, RepresentationSpec(kind="nfd", roi="mask:face", margin=0.1))
        assert max(abs(a - b) for a, b in zip(got, mask_box)) < 20  # the same face, a different definition
    with pytest.raises(InputError, match="detect:face"):
        RepresentationSpec(roi="detect:hand")
