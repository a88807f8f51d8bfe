"""Shared fixtures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def imagej_stack(tmp_path, rng) -> Path:
    """A small smooth 8 x 80 x 80 uint8 ImageJ TIFF at 20 x 5 x 5 nm."""
    import tifffile
    from scipy import ndimage

    volume = ndimage.gaussian_filter(rng.random((8, 80, 80)), (0.5, 1.5, 1.5))
    stack = (255 * (volume - volume.min()) / np.ptp(volume)).astype(np.uint8)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, imagej=True, resolution=(1 / 5.0, 1 / 5.0),
                     metadata={"axes": "ZYX", "spacing": 20.0, "unit": "nm"})
    return path


@pytest.fixture(scope="session")
def load_benchmark():
    """Import a script of benchmarks/ as a module: ``load_benchmark("quality.py", "name")``.

    The module is registered in ``sys.modules`` while the session lasts (dataclasses look their
    module up there) and removed afterwards.
    """
    loaded = []

    def load(filename: str, name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / filename)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        loaded.append(name)
        return module

    yield load
    for name in loaded:
        sys.modules.pop(name, None)


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
