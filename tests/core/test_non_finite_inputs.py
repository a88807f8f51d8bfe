"""NaN / infinite values are found on every path — in memory, lazily read TIFFs and zarr — and
refused with one line naming where the first one is; nothing is written."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import torch
import zarr

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.inference.reconstruction import reconstruct_volume
from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.model import A2I3DEMNet, preset, save_model
from napari_a2i3dem.core.training.config import TrainConfig
from napari_a2i3dem.core.training.engine import Trainer
from napari_a2i3dem.core.validation import find_non_finite


@pytest.fixture
def nan_stack(rng):
    stack = rng.random((6, 40, 32)).astype(np.float32)
    stack[4, 17, 9] = np.nan
    stack[5, 0, 0] = np.inf
    return stack


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    return save_model(tmp_path / "m.pt", A2I3DEMNet(preset("tiny")), degradation={},
                      spacing=(30.0, 10.0, 10.0), ratio=3.0, intensity={"low": 0.0, "high": 1.0})


def test_the_first_bad_value_is_found_in_any_array(nan_stack, tmp_path):
    assert find_non_finite(nan_stack) == (4, 17, 9)
    assert find_non_finite(da.from_array(nan_stack, chunks=(2, 20, 16))) == (4, 17, 9)
    assert find_non_finite(nan_stack, block_bytes=1) == (4, 17, 9)  # one plane at a time
    store = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=nan_stack.shape,
                            dtype="f4", chunks=(1, 40, 32))
    store[:] = nan_stack
    assert find_non_finite(store) == (4, 17, 9)
    assert find_non_finite(np.nan_to_num(nan_stack)) is None
    assert find_non_finite(np.zeros((2, 8, 8), np.uint8)) is None  # integers cannot hold NaN


def test_lazy_and_zarr_stacks_are_refused_by_reconstruction(nan_stack, model_file, tmp_path):
    lazy = da.from_array(nan_stack, chunks=(6, 8, 32))
    with pytest.raises(InputError, match=r"NaN or infinite values \(the first at z=4, y=17"):
        reconstruct_volume(lazy, model_file, 3.0, tile=32, overlap=8)


def test_lazy_stacks_are_refused_by_training(nan_stack):
    lazy = da.from_array(nan_stack, chunks=(2, 40, 32))
    with pytest.raises(InputError, match=r"training stack contains NaN.*z=4, y=17, x=9"):
        Trainer(lazy, ratio=3.0, config=TrainConfig(preset="tiny", steps=1, patch_size=32))


def test_cli_on_a_lazily_read_tiff_exits_with_one_line_and_writes_nothing(
        nan_stack, model_file, tmp_path, monkeypatch, capsys):
    path = write_stack(tmp_path / "nan.tif", nan_stack, (30.0, 10.0, 10.0))
    monkeypatch.setenv("A2I3DEM_LAZY_FRACTION", "0")  # read lazily, as a large file would be
    out = tmp_path / "iso.tif"
    assert main(["reconstruct", str(path), "--model", str(model_file), "--out", str(out),
                 "--tile", "32", "--overlap", "8"]) == 2
    err = capsys.readouterr().err
    assert "NaN or infinite" in err and "Traceback" not in err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "m.pt", "nan.tif"]
    assert main(["train", str(path), "--out", str(tmp_path / "model.pt"), "--preset", "tiny",
                 "--steps", "1"]) == 2
    assert "NaN or infinite" in capsys.readouterr().err
    assert not (tmp_path / "model.pt").exists()
