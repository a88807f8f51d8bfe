"""Overlapping tiles over one axis and their smooth blending weights.

A plane too large for one network pass is cut into ``tile``-sized pieces that overlap by ``overlap``
pixels. Each piece is weighted by a separable window that is 1 inside, and on each side that touches
a neighbouring tile drops the outermost ``overlap // 4`` pixels (weight 0: the network's padding
artefacts live there) and rises with a raised cosine over the rest of the overlap. Image borders
keep weight 1. Ramps of neighbouring tiles are complementary (sin² + cos² = 1) and every zero-weight
pixel is covered by a neighbour at weight 1, so the normalised blend is seamless and a
constant prediction stays exactly constant.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class AxisTile:
    """One tile along an axis: pixels ``start:stop`` and their blending weights."""

    start: int
    stop: int
    weight: np.ndarray

    @property
    def slice(self) -> slice:
        return slice(self.start, self.stop)


def validate_tiling(tile: int, overlap: int) -> tuple[int, int]:
    """``(tile, overlap)`` as ints; raise unless ``tile >= 8`` and ``0 <= overlap < tile / 2``."""
    tile, overlap = int(tile), int(overlap)
    if tile < 8:
        raise InputError(f"tile size must be at least 8 pixels, got {tile}")
    if overlap < 0 or 2 * overlap >= tile:
        raise InputError(
            f"tile overlap must be between 0 and half the tile size ({tile}), got {overlap}"
        )
    return tile, overlap


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start positions of tiles of ``tile`` pixels covering ``length`` with at least ``overlap``.

    All tiles have the same size (the last one is moved back to end at ``length``), so the network
    sees equally sized inputs; a single tile covers an axis no longer than ``tile``.
    """
    if length <= tile:
        return [0]
    step = tile - overlap
    count = int(np.ceil((length - overlap) / step))
    return sorted({min(i * step, length - tile) for i in range(count)})


def edge_ramp(overlap: int) -> np.ndarray:
    """Weights of the ``overlap`` pixels at a tile's leading edge: zeros, then a raised cosine."""
    margin = overlap // 4
    rise = overlap - 2 * margin
    ramp = np.ones(overlap, dtype=np.float32)
    ramp[:margin] = 0.0
    ramp[margin:margin + rise] = np.sin(0.5 * np.pi * (np.arange(rise) + 0.5) / rise) ** 2
    return ramp


def axis_tiles(length: int, tile: int, overlap: int) -> list[AxisTile]:
    """The tiles covering an axis of ``length`` pixels, with their 1-D blending weights."""
    starts = tile_starts(length, tile, overlap)
    size = min(tile, length)
    tiles = []
    for i, start in enumerate(starts):
        weight = np.ones(size, dtype=np.float32)
        if overlap > 0 and i > 0:
            weight[:overlap] = edge_ramp(overlap)
        if overlap > 0 and i < len(starts) - 1:
            weight[size - overlap:] = edge_ramp(overlap)[::-1]
        tiles.append(AxisTile(start, start + size, weight))
    return tiles


def tile_window(rows: AxisTile, cols: AxisTile) -> np.ndarray:
    """The separable 2-D blending window of the tile ``rows x cols``."""
    return np.outer(rows.weight, cols.weight).astype(np.float32)


def computed_fraction(shape: tuple[int, int, int], tile: int, overlap: int) -> float:
    """Voxels the network computes per output voxel of a ``(z, y, x)`` volume, both passes.

    Tiles have one size and the last one ends at the plane's edge, so an axis a little longer
    than a tile is computed nearly twice (ISBI, 375 x 512 x 512 out, at tile 256: 2.05).
    """
    tile, overlap = validate_tiling(tile, overlap)
    z, y, x = (int(n) for n in shape)

    def covered(length: int) -> int:
        tiles = axis_tiles(length, tile, overlap)
        return len(tiles) * (tiles[0].stop - tiles[0].start)

    work = covered(z) * (y * covered(x) + x * covered(y))  # xz: y planes; yz: x planes
    return work / (2.0 * z * y * x)


def leaner_tile(shape: tuple[int, int, int], tile: int, overlap: int, *, step: int = 32,
                largest: int | None = None) -> tuple[int, float] | None:
    """A larger tile (a multiple of ``step``, at most twice ``tile``) that computes at least
    10 % fewer voxels than ``tile``, as ``(tile, fraction)``; ``None`` when there is none."""
    now = computed_fraction(shape, tile, overlap)
    largest = largest or 2 * tile
    best = None
    for candidate in range((tile // step + 1) * step, largest + 1, step):
        fraction = computed_fraction(shape, candidate, overlap)
        if fraction <= 0.9 * now and (best is None or fraction < best[1] - 1e-9):
            best = (candidate, fraction)
    return best
