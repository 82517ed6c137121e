"""Training augmentations: each one does to the NFD what its camera effect does to the frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import pulsing_cohort
from physio.cohort import Split
from physio.errors import InputError
from physio.nets.registry import load_checkpoint
from physio.represent.cache import ensure_cache
from physio.represent.nfd import nfd
from physio.train.augment import AUGMENT_DEFAULTS, Augmenter, compress, drop_frames, parse_augment
from physio.train.data import BlockDataset
from physio.train.loop import TrainConfig, _weights_sha256, train


def _frames(rng, t=48, s=12):
    """Positive frames (T, 3, S, S): a textured face-like patch with a small pulse and noise."""
    base = rng.uniform(80, 200, size=(1, 3, s, s))
    pulse = 0.004 * np.sin(2 * np.pi * 1.2 * np.arange(t) / 30)[:, None, None, None]
    return base * (1 + pulse + 0.002 * rng.normal(size=(t, 3, s, s)))


def _nfd(c):
    return nfd(torch.from_numpy(np.asarray(c, np.float64))).numpy()


def test_parse_defaults_overrides_and_errors():
    assert parse_augment(None) == {} and parse_augment({}) == {}
    full = parse_augment({k: True for k in AUGMENT_DEFAULTS})
    assert set(full) == set(AUGMENT_DEFAULTS)
    assert parse_augment({"noise": {"sigma": [0.1, 0.2]}})["noise"] == {"p": 0.5, "sigma": (0.1, 0.2)}
    assert parse_augment({"noise": False, "blur": None, "colour": {"p": 0}}) == {}
    for bad, msg in [({"jpeg": True}, "unknown augmentation"), ({"noise": {"sd": 1}}, "unknown key"),
                     ({"noise": {"sigma": [0.5, 0.1]}}, "low ≤ high"), ({"noise": {"p": 2}}, r"\[0, 1\]"),
                     ({"noise": 3}, "true, false or a mapping"), ({"compression": {"block": 0}}, "block"),
                     ({"label_lag": {"frames": -1}}, "frames"), ([1], "mapping")]:
        with pytest.raises(InputError, match=msg):
            parse_augment(bad)
    with pytest.raises(InputError, match="unknown augmentation"):
        TrainConfig(augment={"jpeg": True})


def test_colour_offset_matches_frames(rng):
    """A colour offset c → c + o scales each channel's NFD by c / (c + o); the augmenter's per-channel
    gain is exactly that kind of change (uniform per channel, inside the configured range)."""
    c = _frames(rng)
    c[:, :, :, :] = c[:, :, :1, :1]  # spatially flat, so c / (c + o) is one number per channel
    o = np.array([30.0, -20.0, 10.0])[None, :, None, None]
    x, xo = _nfd(c), _nfd(c + o)
    ratio = (xo / x)[:, :, 0, 0]
    np.testing.assert_allclose(ratio, (c / (c + o))[1:, :, 0, 0], rtol=5e-3)
    aug = Augmenter(parse_augment({"colour": {"p": 1, "scale": [0.8, 1.25]}}))
    y = aug(x.astype(np.float32), np.random.default_rng(0))
    g = y / x
    assert np.allclose(g, g[:1, :, :1, :1], rtol=1e-4)  # one gain per channel
    assert 0.8 <= g.min() and g.max() <= 1.25


def test_frame_drop_matches_repeated_frames(rng):
    c = _frames(rng)
    mask = np.zeros(len(c) - 1, bool)
    mask[[5, 20, 33]] = True
    dup = c.copy()
    for t in np.flatnonzero(mask):
        dup[t + 1] = dup[t]
    want = _nfd(dup)
    got = drop_frames(_nfd(c), mask)
    assert np.all(got[mask] == 0)
    np.testing.assert_allclose(got, want, atol=2e-4)  # first order in the per-frame change (~0.3 %)


def test_illumination_is_uniform_and_scaled(rng):
    x = np.zeros((64, 3, 8, 8), np.float32)
    aug = Augmenter(parse_augment({"illumination": {"p": 1, "amplitude": [0.2, 0.2], "hz": [0.1, 0.3]}}))
    y = aug(x, np.random.default_rng(1), fps=30)
    assert np.allclose(y, y[:, :, :1, :1])  # the same on every cell of a channel (a global gain change)
    rms = float(np.sqrt(np.mean(y[:, :, 0, 0] ** 2)))
    assert 0.12 < rms < 0.3  # amplitude 0.2 (the channels' common + own series)
    corr = np.corrcoef(y[:, 0, 0, 0], y[:, 1, 0, 0])[0, 1]
    assert 0.3 < corr < 1.0  # exposure (shared) plus white balance (per channel)


@pytest.mark.parametrize("t", [1, 2, 3])
def test_every_augmentation_takes_a_short_block(t, rng):
    """The last block of a session can be one sample long."""
    aug = Augmenter(parse_augment({k: {"p": 1} for k in AUGMENT_DEFAULTS if k != "label_lag"}))
    x = rng.normal(size=(t, 3, 36, 36)).astype(np.float32)
    y = aug(x, np.random.default_rng(t))
    assert y.shape == x.shape and np.isfinite(y).all()


def test_noise_and_blur(rng):
    x = rng.normal(size=(32, 3, 36, 36)).astype(np.float32)
    n = Augmenter(parse_augment({"noise": {"p": 1, "sigma": [0.3, 0.3]}}))(x, np.random.default_rng(2))
    assert abs(float((n - x).std()) - 0.3) < 0.01
    b = Augmenter(parse_augment({"blur": {"p": 1, "sigma": [1.0, 1.0]}}))(x, np.random.default_rng(2))
    assert abs(float(b.mean() - x.mean())) < 0.01  # a blur keeps the mean …
    assert float(b.std()) < 0.5 * float(x.std())  # … and removes cell-to-cell noise
    np.testing.assert_array_equal(Augmenter({})(x, np.random.default_rng(0)), x)


def test_compression_skips_small_changes_and_keeps_the_integral(rng):
    x = (0.02 * rng.normal(size=(40, 3, 12, 12)) + 0.05).astype(np.float32)
    np.testing.assert_allclose(compress(x, 6, 0.0, 0.0), x, atol=1e-5)  # no threshold, no step: lossless
    assert np.all(compress(x, 6, 1e3, 0.0) == 0)  # every block skipped: a frozen picture
    thr = 0.2
    y = compress(x, 6, thr, 0.0)
    assert (y == 0).mean() > 0.5  # most frames are skips …
    z, zy = np.cumsum(x, 0), np.cumsum(y, 0)
    blk = lambda a: a.reshape(40, 3, 2, 6, 2, 6).mean(axis=(3, 5))  # noqa: E731
    assert np.abs(blk(z) - blk(zy)).max() < thr + 1e-5  # … but the picture never drifts by a threshold
    q = compress(x, 6, 0.0, 0.05)
    assert np.allclose(np.cumsum(q, 0) / 0.05, np.round(np.cumsum(q, 0) / 0.05), atol=1e-3)  # quantised


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return pulsing_cohort(tmp_path_factory.mktemp("a") / "c.h5", n_participants=4)


def test_block_dataset_label_lag(cohort):
    key = ensure_cache(cohort, {"kind": "nfd", "size": 36}, progress=False)
    split = Split("train", ["p00", "p01"])
    plain = BlockDataset(cohort, split, key, "pulse", block=16)
    lagged = BlockDataset(cohort, split, key, "pulse", block=16,
                          augment=Augmenter(parse_augment({"label_lag": {"p": 1, "frames": 2}})))
    torch.manual_seed(0)
    seen = set()
    for i in range(len(plain)):
        k_, a, b = plain.items[i]
        x, y = lagged[i]
        x0, _ = plain[i]
        assert len(x) == len(y) > 0
        y_all = plain.labels[k_]
        # the returned x is a contiguous run of the plain block and y the labels k frames on
        for k in range(-2, 3):
            lo = max(a, -k)
            if lo + len(y) <= len(y_all) - max(k, 0) and np.array_equal(y.numpy(), y_all[lo + k: lo + k + len(y)]) \
                    and torch.equal(x, x0[lo - a: lo - a + len(x)]):
                seen.add(k)
                break
        else:
            raise AssertionError(f"block {i}: labels are not a lag of -2..2 frames")
    assert len(seen) >= 3


TINY = dict(net="pulse_cnn", net_args={"channels": [4, 8], "hidden": 16}, source="pulse",
            representation={"kind": "nfd", "size": 36}, epochs=2, block=16, batch_blocks=4, lr=3e-3,
            test_fraction=0.25, val_fraction=0.25, seed=3, threads=1)


def test_training_with_every_augmentation_resumes_exactly_and_fine_tunes(cohort, tmp_path):
    aug = {k: True for k in AUGMENT_DEFAULTS}
    cfg = TrainConfig(name="g", augment=aug, **TINY)
    straight = train(cfg, cohort, tmp_path / "s", progress=False)
    train(TrainConfig(name="g", augment=aug, **{**TINY, "epochs": 1}), cohort, tmp_path / "r", progress=False)
    resumed = train(cfg, cohort, tmp_path / "r", resume=True, progress=False)
    assert straight["weights_sha256"] == resumed["weights_sha256"]  # the augmentations' RNG is checkpointed
    plain = train(TrainConfig(name="g", **TINY), cohort, tmp_path / "p", progress=False)
    assert plain["weights_sha256"] != straight["weights_sha256"]

    # fine-tuning starts from the given weights and records where they came from
    src = tmp_path / "s" / "g.pt"
    ft = TrainConfig(name="f", init_from=str(src), **{**TINY, "epochs": 1, "lr": 1e-12})
    out = train(ft, cohort, tmp_path / "f", progress=False)
    ck = load_checkpoint(out["checkpoint"])
    assert ck["init_from"]["weights_sha256"] == _weights_sha256(load_checkpoint(src)["state_dict"])
    a = torch.cat([v.flatten() for v in load_checkpoint(src)["state_dict"].values()])
    b = torch.cat([v.flatten() for v in ck["state_dict"].values()])
    assert torch.allclose(a, b, atol=1e-6)  # lr ~0: still the source weights
    with pytest.raises(InputError, match="net_args"):
        train(TrainConfig(name="f", init_from=str(src), **{**TINY, "net_args": {"channels": [4, 8], "hidden": 8}}),
              cohort, tmp_path / "f2", progress=False)
    with pytest.raises(InputError, match="no checkpoint"):
        TrainConfig(init_from=str(tmp_path / "missing.pt"))

