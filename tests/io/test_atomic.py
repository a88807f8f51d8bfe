"""Atomic writes: all or nothing, with the usual file mode."""

from __future__ import annotations

import os
import stat

import pytest

from napari_a2i3dem.core.io.atomic import atomic_file


def test_complete_write_replaces_the_file_with_umask_mode(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with atomic_file(target) as handle:
        handle.write(b"new contents")
    assert target.read_bytes() == b"new contents"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target) as handle:
        handle.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_creates_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.bin"
    with atomic_file(target) as handle:
        handle.write(b"x")
    assert target.read_bytes() == b"x"
