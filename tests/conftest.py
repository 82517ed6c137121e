"""Shared fixtures: seeded generators, the real clips in ../shared/data, small synthetic videos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from helpers import moving_gradient_clip

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PHYSIO_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real clips in ``../shared/data``; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test clips not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def small_clip() -> np.ndarray:
    return moving_gradient_clip()


@pytest.fixture
def seeded_one_thread():
    """Seeded, single-threaded torch (the learned-magnifier tests: tiny convolutions run faster on one
    thread, above all on a busy machine); the thread count is restored afterwards."""
    import torch  # noqa: PLC0415 - most test modules do not need torch

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
