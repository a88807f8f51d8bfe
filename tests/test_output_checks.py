"""Absurd geometry and outputs that cannot fit are refused before anything is allocated."""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

from napari_a2i3dem.cli import main
from napari_a2i3dem.core import io, stores
from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.io import write_stack
from napari_a2i3dem.core.stores import open_target
from napari_a2i3dem.core.validation import MAX_RATIO, ratio_from_spacing, validate_ratio

Usage = namedtuple("Usage", "total used free")


@pytest.mark.parametrize("ratio", [1e9, 1e5, MAX_RATIO * 1.01])
def test_absurd_ratios_name_the_spacing(ratio):
    with pytest.raises(InputError, match="check the voxel spacing"):
        validate_ratio(ratio)
    assert validate_ratio(MAX_RATIO) == MAX_RATIO


def test_an_absurd_axial_spacing_is_one_line(tmp_path, capsys):
    path = write_stack(tmp_path / "far.tif", np.zeros((4, 16, 16), np.uint8), (1e30, 10, 10))
    with pytest.raises(InputError, match="above 1000"):
        ratio_from_spacing((1e30, 10.0, 10.0))
    assert main(["reconstruct", str(path), "--model", str(tmp_path / "m.pt"),
                 "--out", str(tmp_path / "o.tif")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["far.tif"]


def test_a_volume_larger_than_memory_is_refused_in_memory(monkeypatch):
    monkeypatch.setattr(io, "total_memory_bytes", lambda: 2**30)
    with pytest.raises(InputError, match=r"needs 1\.17 GiB in memory.*\.zarr"):
        open_target(None, (1200, 1024, 1024), np.uint8, (10.0, 10.0, 10.0))


def test_a_file_that_cannot_fit_on_the_disk_is_refused_before_any_file(tmp_path, monkeypatch):
    monkeypatch.setattr(stores.shutil, "disk_usage", lambda _p: Usage(10 * 2**30, 0, 2**30))
    with pytest.raises(InputError, match=r"needs 1\.56 GiB on disk, only 1 GiB"):
        open_target(tmp_path / "iso.tif", (800, 1024, 1024), np.uint8, (10.0, 10.0, 10.0))
    open_target(tmp_path / "iso.zarr", (800, 1024, 1024), np.uint8,
                (10.0, 10.0, 10.0)).discard()  # zarr needs once the size: fits
    assert not list(tmp_path.iterdir())
