"""Absurd geometry and outputs that cannot fit are refused before anything is allocated."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.io import outputs as stores
from napari_a2i3dem.core.io import tiff as io
from napari_a2i3dem.core.io.outputs import open_target
from napari_a2i3dem.core.io.tiff import read_stack
from napari_a2i3dem.core.io.tiff_writer import write_stack
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
    with pytest.raises(InputError, match=r"needs 1\.17 GiB on disk, only 1 GiB"):
        open_target(tmp_path / "iso.tif", (1200, 1024, 1024), np.uint8, (10.0, 10.0, 10.0))
    open_target(tmp_path / "iso.zarr", (800, 1024, 1024), np.uint8,
                (10.0, 10.0, 10.0)).discard()  # its own size (0.78 GiB): fits
    assert not list(tmp_path.iterdir())


def test_a_tiff_is_filled_in_place_and_needs_its_size_once(tmp_path):
    """The TIFF target maps the final file's pixels (no output-sized .npy beside it): while it
    is open, the only file is one hidden part of about the output's size, allocated up front."""
    target = open_target(tmp_path / "iso.tif", (12, 40, 50), np.uint8, (10.0, 10.0, 10.0))
    parts = list(tmp_path.iterdir())
    assert len(parts) == 1 and parts[0].name.startswith(".iso.tif.")
    assert 12 * 40 * 50 <= parts[0].stat().st_size < 12 * 40 * 50 + 65536
    assert parts[0].stat().st_blocks * 512 >= 12 * 40 * 50        # allocated, not sparse
    values = np.arange(12 * 40 * 50, dtype=np.uint32).reshape(12, 40, 50) % 251
    target.write(slice(0, 40), values.astype(np.uint8))
    result = target.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iso.tif"]
    np.testing.assert_array_equal(result, values)
    loaded = read_stack(tmp_path / "iso.tif")
    assert loaded.spacing == (10.0, 10.0, 10.0)
    np.testing.assert_array_equal(np.asarray(loaded.data), values)


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    """posix_fallocate failing with ENOSPC: an InputError now, not a SIGBUS later."""
    import errno

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stores.os, "posix_fallocate", full)
    with pytest.raises(InputError, match="not enough free disk space"):
        open_target(tmp_path / "iso.tif", (12, 40, 50), np.uint8, (10.0, 10.0, 10.0))
    assert not list(tmp_path.iterdir())


def _refuse_files(monkeypatch, folder):
    """Make ``folder`` behave read-only for temporary files and folders (root ignores modes)."""
    import tempfile

    real_mkstemp, real_mkdtemp = tempfile.mkstemp, tempfile.mkdtemp

    def mkstemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied")
        return real_mkstemp(*args, dir=dir, **kwargs)

    def mkdtemp(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise PermissionError(13, "Permission denied")
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(tempfile, "mkdtemp", mkdtemp)


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_an_unwritable_output_folder_is_one_line(tmp_path, monkeypatch, suffix):
    locked = tmp_path / "locked"
    locked.mkdir()
    _refuse_files(monkeypatch, locked)
    with pytest.raises(InputError, match=r"cannot write .*locked.*Permission denied"):
        open_target(locked / f"iso{suffix}", (4, 8, 8), np.uint8, (10.0, 10.0, 10.0))
    assert not list(locked.iterdir())


def test_assess_json_into_an_unwritable_folder_is_one_line(tmp_path, monkeypatch, capsys):
    stack = write_stack(tmp_path / "iso.tif", np.random.default_rng(0).integers(
        0, 255, (24, 48, 48), dtype=np.uint8), (10.0, 10.0, 10.0))
    locked = tmp_path / "locked"
    locked.mkdir()
    _refuse_files(monkeypatch, locked)
    code = main(["assess", str(stack), "--json", str(locked / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "cannot write" in err and "Permission denied" in err


def test_a_write_failing_during_the_run_is_one_line_and_leaves_nothing(tmp_path):
    """A full disk while a zarr output is written (an OSError from the store)."""
    from types import SimpleNamespace

    from napari_a2i3dem.core.jobs import stream_into

    target = open_target(tmp_path / "iso.zarr", (4, 8, 8), np.uint8, (10.0, 10.0, 10.0))

    def full(rows, data, planes):
        raise OSError(28, "No space left on device")

    target.write = full
    piece = SimpleNamespace(rows=slice(0, 8), data=np.zeros((4, 8, 8), np.uint8), final=True,
                            confidence=None, cols=slice(None), planes=slice(None))
    with pytest.raises(InputError, match=r"cannot write .*iso\.zarr: No space left"):
        list(stream_into(target, [piece]))
    assert not list(tmp_path.iterdir())
