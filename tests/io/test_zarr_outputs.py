"""A zarr output never deletes what it did not write, and never an input inside it."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.io.outputs import check_output_path, open_target


def _write(path, value: int):
    target = open_target(path, (2, 8, 8), np.uint8, (10.0, 10.0, 10.0))
    target.write(slice(0, 8), np.full((2, 8, 8), value, np.uint8))
    return target.commit()


def test_a_store_we_wrote_is_replaced(tmp_path):
    out = tmp_path / "iso.zarr"
    _write(out, 1)
    assert int(_write(out, 2)[0, 0, 0]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iso.zarr"]  # no leftovers


def test_a_store_with_the_users_data_beside_ours_is_refused_before_any_work(tmp_path):
    out = tmp_path / "iso.zarr"
    _write(out, 1)
    labels = zarr.open_group(str(out / "labels"), mode="w")
    labels.create_array("cells", shape=(2, 8, 8), dtype="u2")
    with pytest.raises(InputError, match=r"holds other data \(labels\)"):
        open_target(out, (2, 8, 8), np.uint8, (10.0, 10.0, 10.0))
    assert (out / "labels" / "cells").exists()  # the user's data are untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iso.zarr"]


def test_a_folder_that_is_not_our_store_is_refused(tmp_path):
    out = tmp_path / "notes.zarr"
    out.mkdir()
    (out / "readme.txt").write_text("mine")
    with pytest.raises(InputError, match="not a zarr store written by napari-a2i3dem"):
        open_target(out, (2, 8, 8), np.uint8, (10.0, 10.0, 10.0))
    assert (out / "readme.txt").read_text() == "mine"


def test_an_output_that_contains_the_input_is_refused(tmp_path):
    container = tmp_path / "c2.zarr"
    source = container / "raw.zarr"
    source.mkdir(parents=True)
    with pytest.raises(InputError, match="contains the input"):
        check_output_path(container, protect=(source,))
    assert source.exists()


def test_stream_into_commits_complete_outputs_and_discards_on_any_stop(tmp_path):
    """The one write -> commit / discard loop of the CLI and the widget (core.jobs)."""
    import shutil
    from types import SimpleNamespace as Piece

    from napari_a2i3dem.core.io.tiff import read_stack
    from napari_a2i3dem.core.jobs import stream_into

    shape, spacing = (6, 8, 10), (10.0, 10.0, 10.0)

    def pieces(stop_after=None):
        early = np.full((6, 4, 5), 7, np.uint8)
        yield Piece(rows=slice(0, 4), data=early, cols=slice(0, 5), final=False,
                    confidence=None, planes=slice(None))
        for k, rows in enumerate((slice(0, 4), slice(4, 8))):
            if stop_after == k:
                raise KeyboardInterrupt
            for planes in (slice(0, 2), slice(2, 6)):  # z-bands of the engine
                depth = planes.stop - planes.start
                yield Piece(rows=rows, data=np.full((depth, 4, 10), k + 1, np.uint8),
                            final=True, cols=slice(None), planes=planes,
                            confidence=np.full((depth, 4, 10), 0.5, np.float32))

    target = open_target(tmp_path / "iso.tif", shape, np.uint8, spacing)
    conf = open_target(tmp_path / "conf.zarr", shape, np.float32, spacing)
    seen = list(stream_into(target, pieces(), confidence=conf))
    assert [p.final for p in seen] == [False, True, True, True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf.zarr", "iso.tif"]
    written = read_stack(tmp_path / "iso.tif").data
    assert (np.asarray(written)[:, :4] == 1).all() and (np.asarray(written)[:, 4:] == 2).all()

    for name in ("iso.tif", "conf.zarr"):
        shutil.rmtree(tmp_path / name) if name.endswith(".zarr") else (tmp_path / name).unlink()
    target = open_target(tmp_path / "iso.tif", shape, np.uint8, spacing)
    conf = open_target(tmp_path / "conf.zarr", shape, np.float32, spacing)
    with pytest.raises(KeyboardInterrupt):
        list(stream_into(target, pieces(stop_after=1), confidence=conf))
    assert not list(tmp_path.iterdir())

    target = open_target(tmp_path / "iso.tif", shape, np.uint8, spacing)
    written = stream_into(target, pieces())
    next(written)
    written.close()                      # the consumer stopped (a closed napari worker)
    assert not list(tmp_path.iterdir())
