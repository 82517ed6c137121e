"""Representations streamed from frames and cached in a cohort: keys, invariance, reuse."""

from __future__ import annotations

import os

import json

import h5py
import numpy as np
import pytest
import torch

from helpers import pulsing_cohort, pulsing_frames
from physio.cohort import Cohort
from physio.errors import CohortSchemaError, InputError
from physio.cohort import file_sha256
from physio.errors import PhysioWarning
from physio.represent.cache import CacheReader, cache_path, ensure_cache, read_cache
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
    before = file_sha256(path)
    spec = {"kind": "nfd", "size": 36}
    key = ensure_cache(path, spec, progress=False)
    assert file_sha256(path) == before  # the cache lives beside the cohort, which is only read
    assert cache_path(path) == tmp_path / "c.cache.h5" and cache_path(path).exists()
    with Cohort(path) as c, CacheReader(path) as cache:
        s = c["p01/A"]
        grp = cache.group(s.key, key)
        assert grp["x"].shape == (s.n_frames - 1, 3, 36, 36) and grp.attrs["complete"]
        raw = read_cache(grp, standardize=False)
        np.testing.assert_allclose(np.sqrt(np.mean(raw.astype(np.float64) ** 2)), grp.attrs["scale"], rtol=1e-5)
        assert abs(np.sqrt(np.mean(read_cache(grp) ** 2)) - 1) < 1e-4
        mtime = grp["x"].id.get_offset()
    assert ensure_cache(path, spec, progress=False) == key  # second call: nothing recomputed
    with CacheReader(path) as cache:
        assert cache.group("p01/A", key)["x"].id.get_offset() == mtime
    with pytest.raises(CohortSchemaError, match="no mask"):
        ensure_cache(path, {"kind": "nfd", "size": 36, "roi": "mask:skin"}, progress=False)


def test_interrupted_cache_is_redone(tmp_path):
    path = pulsing_cohort(tmp_path / "c.h5", n_participants=1, seconds=4.0)
    key = RepresentationSpec("nfd", 36).key
    ensure_cache(path, {"kind": "nfd", "size": 36}, progress=False)
    with h5py.File(cache_path(path), "a") as h:  # a half-written group: the 'complete' flag never set
        g = h[f"p00/A/{key}"]
        del g["x"]
        g.create_dataset("x", data=np.zeros((3, 3, 36, 36), np.float32))
        g.attrs["complete"] = False
    ensure_cache(path, {"kind": "nfd", "size": 36}, progress=False)
    with Cohort(path) as c, CacheReader(path) as cache:
        grp = cache.group("p00/A", key)
        assert grp.attrs["complete"] and grp["x"].shape[0] == c["p00/A"].n_frames - 1


def test_cache_of_a_changed_or_corrupt_cohort_cache_is_rebuilt(tmp_path):
    """The cache file names the cohort it was made from (path, size, mtime): when the cohort changes, or
    the cache file is unreadable (a killed writer), it is discarded and rebuilt, with a warning."""
    path = pulsing_cohort(tmp_path / "c.h5", n_participants=1, seconds=4.0)
    key = ensure_cache(path, {"kind": "nfd", "size": 36}, progress=False)
    cache_path(path).write_bytes(b"not hdf5 at all")
    with CacheReader(path) as cache:
        assert cache.group("p00/A", key) is None  # unreadable: nothing cached
    with pytest.warns(PhysioWarning, match="rebuilding"):
        ensure_cache(path, {"kind": "nfd", "size": 36}, progress=False)
    os.utime(path, ns=(1, 1))  # the cohort "changed"
    with CacheReader(path) as cache:
        assert cache.group("p00/A", key) is None
    with pytest.warns(PhysioWarning, match="cohort has changed"):
        ensure_cache(path, {"kind": "nfd", "size": 36}, progress=False)
    with CacheReader(path) as cache:
        assert cache.group("p00/A", key)["x"].shape[0] > 0


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
        with CacheReader(path) as cache:
            got = tuple(json.loads(cache.group(s.key, key).attrs["box"]))
        assert got == want
        mask_box = session_box(s, RepresentationSpec(kind="nfd", roi="mask:face", margin=0.1))
        assert max(abs(a - b) for a, b in zip(got, mask_box)) < 20  # the same face, a different definition
    with pytest.raises(InputError, match="detect:face"):
        RepresentationSpec(roi="detect:hand")
