"""How much work the tile size wastes, and the larger tile that wastes less."""

from __future__ import annotations

import pytest

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.inference.tiling import axis_tiles, computed_fraction, leaner_tile


def test_fraction_counts_the_tiles_of_both_passes():
    # ISBI at rho 12.5 (375 x 512 x 512 out): z in 2 tiles of 256, y and x in 3 -> 512 x 768
    assert computed_fraction((375, 512, 512), 256, 32) == pytest.approx(512 * 768 / (375 * 512))
    assert computed_fraction((252, 250, 250), 256, 32) == pytest.approx(1.0)  # one tile each
    z, y, x = 250, 625, 300
    covered = {n: len(t) * (t[0].stop - t[0].start)
               for n in (z, y, x) for t in [axis_tiles(n, 256, 32)]}
    expected = covered[z] * (y * covered[x] + x * covered[y]) / (2 * z * y * x)
    assert computed_fraction((z, y, x), 256, 32) == pytest.approx(expected)


def test_leaner_tile_is_named_only_when_it_saves_a_tenth():
    assert leaner_tile((375, 512, 512), 256, 32) == (512, pytest.approx(1.0))
    tile, fraction = leaner_tile((217, 1024, 1024), 256, 32)
    assert tile % 32 == 0 and 256 < tile <= 512
    assert fraction <= 0.9 * computed_fraction((217, 1024, 1024), 256, 32)
    assert leaner_tile((250, 625, 625), 256, 32) is None   # 1.23x: no larger tile saves 10 %
    assert leaner_tile((96, 256, 256), 256, 32) is None    # nothing wasted


def test_bad_tiling_is_refused():
    with pytest.raises(InputError, match="overlap"):
        computed_fraction((10, 10, 10), 64, 40)
