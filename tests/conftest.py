"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep torch to two threads so tests behave the same on CI's 2-core machine."""
    torch.set_num_threads(2)
    yield


@pytest.fixture
def shared_data() -> Path:
    """Folder of the real EM volumes (../shared/data); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
