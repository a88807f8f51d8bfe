"""How much work the tile size wastes, and the larger tile that wastes less."""

from __future__ import annotations

import itertools

import pytest

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.inference.tiling import (
    DEFAULT_SIZE_MULTIPLE,
    axis_tiles,
    balanced_tile,
    computed_fraction,
    leaner_tile,
    tile_pixels,
)
from napari_a2i3dem.core.model import preset


def test_an_axis_gets_the_smallest_tiles_that_cover_it_with_as_many_tiles():
    # ISBI's 512-pixel rows: three tiles either way; 192 pixels each cover them (not 256)
    assert [(t.start, t.stop) for t in axis_tiles(512, 256, 32, 32)] == [
        (0, 192), (160, 352), (320, 512)]
    assert balanced_tile(375, 256, 32, 32) == 224        # 2 tiles: 204 rounded up to 32
    assert balanced_tile(375, 256, 32, 1) == 204
    assert balanced_tile(375, 256, 32, 128) == 256       # nothing smaller is a multiple of 128
    assert balanced_tile(200, 256, 32, 32) == 200        # one tile: the axis itself
    assert preset("tiny").size_multiple == DEFAULT_SIZE_MULTIPLE


@pytest.mark.parametrize("multiple", [1, 8, 32, 128])
@pytest.mark.parametrize("tile, overlap", [(256, 32), (64, 20), (24, 10), (97, 0)])
def test_balanced_tiles_cover_the_axis_as_fixed_ones_did(tile, overlap, multiple):
    for length in range(1, 700, 7):
        tiles = axis_tiles(length, tile, overlap, multiple)
        sizes = {t.stop - t.start for t in tiles}
        assert len(sizes) == 1 and sizes.pop() <= min(tile, length)
        fixed = len(axis_tiles(length, tile, overlap)) if multiple == 1 else None
        old_count = 1 if length <= tile else -(-(length - overlap) // (tile - overlap))
        assert len(tiles) == old_count and fixed in (None, old_count)
        assert tiles[0].start == 0 and tiles[-1].stop == length
        for a, b in itertools.pairwise(tiles):
            assert a.stop - b.start >= overlap             # every seam keeps its blend
        assert all(len(t.weight) == t.stop - t.start for t in tiles)


def test_fraction_counts_the_tiles_of_both_passes():
    # ISBI at rho 12.5 (375 x 512 x 512 out): z in 2 tiles of 224, y and x in 3 of 192
    # (2.05x with tiles all 256 pixels)
    assert computed_fraction((375, 512, 512), 256, 32, 32) == pytest.approx(
        448 * 576 / (375 * 512))
    assert computed_fraction((252, 250, 250), 256, 32) == pytest.approx(1.0)  # one tile each
    z, y, x = 250, 625, 300
    covered = {n: len(t) * (t[0].stop - t[0].start)
               for n in (z, y, x) for t in [axis_tiles(n, 256, 32)]}
    expected = covered[z] * (y * covered[x] + x * covered[y]) / (2 * z * y * x)
    assert computed_fraction((z, y, x), 256, 32) == pytest.approx(expected)


def test_leaner_tile_is_named_only_when_it_saves_a_tenth():
    assert leaner_tile((375, 512, 512), 256, 32, multiple=32) == (512, pytest.approx(1.0))
    tile, fraction = leaner_tile((217, 1024, 1024), 256, 32, multiple=32)
    assert tile % 32 == 0 and 256 < tile <= 512
    assert fraction <= 0.9 * computed_fraction((217, 1024, 1024), 256, 32, 32)
    # CREMI, 1.23x: no larger tile saves 10 %
    assert leaner_tile((250, 625, 625), 256, 32, multiple=32) is None
    assert leaner_tile((96, 256, 256), 256, 32) is None    # nothing wasted


def test_tile_pixels_are_those_of_the_largest_balanced_tile():
    assert tile_pixels((375, 512, 512), 256, 32, 32) == 224 * 192
    assert tile_pixels((375, 512, 512), 512, 32, 32) == 375 * 512
    assert tile_pixels((100, 40, 700), 256, 32, 32) == 100 * 256


def test_bad_tiling_is_refused():
    with pytest.raises(InputError, match="overlap"):
        computed_fraction((10, 10, 10), 64, 40)
