"""``a2i3dem info``: what the plugin sees in a file, without reading its pixels."""

from __future__ import annotations

import numpy as np
import pytest

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.io.tiff_writer import write_stack


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["info", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_info_prints_shape_dtype_spacing_ratio_and_output_shape(tmp_path, capsys):
    path = write_stack(tmp_path / "s.tif", np.zeros((20, 64, 48), np.uint16), (50.0, 4.6, 4.6))
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "shape:    20 x 64 x 48" in out
    assert "dtype:    uint16" in out
    assert "loading:  in memory" in out
    assert "spacing:  50 x 4.6 x 4.6 nm" in out and "imagej" in out
    assert "rho:      10.8696" in out
    assert f"isotropic output shape: {round(20 * 50 / 4.6)} x 64 x 48" in out


def test_info_names_a_larger_tile_when_the_default_wastes_work(tmp_path, capsys):
    # ISBI's geometry: 30 sections of 512 x 512 at 50 x 4 x 4 nm -> 375 x 512 x 512 out:
    # two 224-pixel tiles along z, three of 192 along y and x
    path = write_stack(tmp_path / "isbi.tif", np.zeros((30, 512, 512), np.uint8),
                       (50.0, 4.0, 4.0))
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "--tile 256 makes the network compute 1.34x the output's voxels" in out
    assert "--tile 512: 1.00x, with 4.5x the memory per tile" in out  # 375 x 512 vs 224 x 192
    small = write_stack(tmp_path / "s.tif", np.zeros((20, 64, 48), np.uint8), (50.0, 4.6, 4.6))
    assert "tiles:" not in run(capsys, str(small))[1]  # one tile per axis: nothing wasted


def test_info_reports_lazy_loading(tmp_path, capsys, monkeypatch):
    path = write_stack(tmp_path / "s.tif", np.zeros((8, 32, 32), np.uint8), (30.0, 10.0, 10.0))
    monkeypatch.setenv("A2I3DEM_LAZY_FRACTION", "1e-12")
    _, out, _ = run(capsys, str(path))
    assert "loading:  lazy (dask" in out


def test_info_overrides_and_missing_spacing(tmp_path, capsys):
    path = write_stack(tmp_path / "bare.tif", np.zeros((10, 32, 32), np.uint8), None)
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "carries no voxel spacing" in out and "--spacing" in out
    assert "rho" not in out
    _, out, _ = run(capsys, str(path), "--spacing", "45", "15", "15")
    assert "rho:      3" in out and "isotropic output shape: 30 x 32 x 32" in out
    _, out, _ = run(capsys, str(path), "--ratio", "2.5")
    assert "rho:      2.5" in out and "isotropic output shape: 25 x 32 x 32" in out


def test_info_on_a_non_volume_exits_1(tmp_path, capsys):
    path = write_stack(tmp_path / "plane.tif", np.zeros((32, 32), np.uint8), (1.0, 5.0, 5.0))
    code, out, _ = run(capsys, str(path))
    assert code == 1
    assert "not reconstructable" in out and "2-D image" in out


@pytest.mark.parametrize("content", [None, b"not a tiff"])
def test_info_on_unreadable_files_is_one_line_exit_2(tmp_path, capsys, content):
    path = tmp_path / "x.tif"
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(capsys, str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "x.tif" in err
