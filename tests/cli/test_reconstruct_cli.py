"""``a2i3dem reconstruct`` end to end on small stacks with a tiny (random) network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.inference.reconstruction import cubic_upsample_stack
from napari_a2i3dem.core.io.outputs import read_zarr_stack
from napari_a2i3dem.core.io.tiff import read_stack
from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.model import A2I3DEMNet, preset, save_model


@pytest.fixture
def stack_file(tmp_path, rng):
    stack = rng.integers(0, 256, size=(4, 32, 24), dtype=np.uint8)
    path = write_stack(tmp_path / "stack.tif", stack, (30.0, 10.0, 10.0))
    return path, stack


def _model_file(path, ratio: float):
    torch.manual_seed(0)
    net = A2I3DEMNet(preset("tiny"))
    return save_model(path, net, degradation={}, spacing=(10.0 * ratio, 10.0, 10.0), ratio=ratio,
                      intensity={"low": 0.0, "high": 255.0})


def test_writes_an_isotropic_tiff_close_to_cubic(tmp_path, stack_file, capsys):
    path, stack = stack_file
    model = _model_file(tmp_path / "model.pt", 3.0)
    out = tmp_path / "iso.tif"
    assert main(["reconstruct", str(path), "--model", str(model), "--out", str(out),
                 "--tile", "16", "--overlap", "4"]) == 0
    result = read_stack(out)
    assert result.data.shape == (12, 32, 24) and result.data.dtype == np.uint8
    assert result.spacing == pytest.approx((10.0, 10.0, 10.0))
    # a freshly initialised network adds only a tiny correction to its cubic input
    diff = np.abs(result.data.astype(int) - cubic_upsample_stack(stack, 3.0).astype(int))
    assert diff.mean() < 3.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iso.tif", "model.pt", "stack.tif"]
    assert "wrote" in capsys.readouterr().err


def test_zarr_output_with_confidence_and_ratio_warning(tmp_path, stack_file, capsys):
    path, _ = stack_file
    model = _model_file(tmp_path / "model.pt", 2.0)  # disagrees with the stack's 3.0
    out, conf = tmp_path / "iso.zarr", tmp_path / "conf.tif"
    assert main(["reconstruct", str(path), "--model", str(model), "--out", str(out),
                 "--confidence", str(conf)]) == 0
    err = capsys.readouterr().err
    assert "trained for ratio 2" in err and "using the stack's" in err
    volume, spacing = read_zarr_stack(out)
    assert volume.shape == (12, 32, 24) and spacing == (10.0, 10.0, 10.0)
    confidence = read_stack(conf).data
    assert confidence.dtype == np.float32 and confidence.shape == (12, 32, 24)
    assert confidence.max() > 0
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_ratio_option_overrides_the_stack(tmp_path, stack_file):
    path, _ = stack_file
    model = _model_file(tmp_path / "model.pt", 3.0)
    out = tmp_path / "iso.tif"
    assert main(["reconstruct", str(path), "--model", str(model), "--out", str(out),
                 "--ratio", "2.5"]) == 0
    assert read_stack(out).data.shape == (10, 32, 24)


def test_never_writes_over_the_input(tmp_path, stack_file, capsys):
    path, _ = stack_file
    model = _model_file(tmp_path / "model.pt", 3.0)
    before = path.read_bytes()
    assert main(["reconstruct", str(path), "--model", str(model), "--out", str(path)]) == 2
    assert "is the input stack" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["reconstruct", str(path), "--model", str(path), "--out",
                 str(tmp_path / "o.tif")]) == 2
    assert "error" in capsys.readouterr().err


def test_local_scheduler_matches_in_process(tmp_path, stack_file):
    path, _ = stack_file
    model = _model_file(tmp_path / "model.pt", 3.0)
    common = ["reconstruct", str(path), "--model", str(model), "--tile", "16", "--overlap", "4"]
    assert main([*common, "--out", str(tmp_path / "a.tif")]) == 0
    assert main([*common, "--out", str(tmp_path / "b.zarr"), "--scheduler", "local",
                 "--workers", "1"]) == 0
    local = read_stack(tmp_path / "a.tif").data
    distributed = read_zarr_stack(tmp_path / "b.zarr")[0].compute()
    assert np.abs(local.astype(int) - distributed).max() <= 1


def test_a_model_from_before_the_section_map_still_runs_and_says_what_it_misses(
        tmp_path, stack_file, capsys):
    path, _ = stack_file
    torch.manual_seed(0)
    old = save_model(tmp_path / "old.pt", A2I3DEMNet(preset("tiny").with_changes(
        section_input=False)), degradation={}, spacing=(30.0, 10.0, 10.0), ratio=3.0,
        intensity={"low": 0.0, "high": 255.0})
    out = tmp_path / "iso.tif"
    assert main(["reconstruct", str(path), "--model", str(old), "--out", str(out),
                 "--tile", "16", "--overlap", "4"]) == 0
    assert "trained without the section map" in capsys.readouterr().err
    assert read_stack(out).data.shape == (12, 32, 24)
    fresh = _model_file(tmp_path / "new.pt", 3.0)
    assert main(["reconstruct", str(path), "--model", str(fresh), "--out",
                 str(tmp_path / "new.tif"), "--tile", "16", "--overlap", "4"]) == 0
    assert "section map" not in capsys.readouterr().err
