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
