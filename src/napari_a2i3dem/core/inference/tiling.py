"""Overlapping tiles over one axis and their smooth blending weights.

A plane too large for one network pass is cut into pieces of at most ``tile`` pixels that overlap
by at least ``overlap`` pixels. The pieces of an axis share one size, the smallest (rounded up to
the network's size multiple) that covers the axis with as many tiles as ``tile`` itself needs
(:func:`balanced_tile`): a 512-pixel axis takes three 192-pixel tiles, not three of 256.

Each piece is weighted by a separable window that is 1 inside, and on each side that touches
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

#: the size multiple of the default network (``tiny``), for advice given before a model is known
DEFAULT_SIZE_MULTIPLE = 32


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


def balanced_tile(length: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """The size of the tiles along an axis of ``length`` pixels: no larger than ``tile``, a
    multiple of ``multiple`` where that fits, and just large enough that the tiles ``tile``
    would need still cover the axis with ``overlap`` (each tile keeps room for both ramps).

    Tiles of the full ``tile`` size compute whatever the last one, moved back to end at the
    edge, repeats: 1.5x the pixels of a 512-pixel axis at tile 256. A network pads a tile to its
    size multiple anyway, so rounding up to it costs nothing and gives it real pixels instead.
    """
    length, tile, overlap, multiple = int(length), int(tile), int(overlap), max(1, int(multiple))
    if length <= tile:
        return length
    count = -(-(length - overlap) // (tile - overlap))
    size = max(-(-(length + (count - 1) * overlap) // count), 2 * overlap + 1)
    return min(tile, -(-size // multiple) * multiple)


def edge_ramp(overlap: int) -> np.ndarray:
    """Weights of the ``overlap`` pixels at a tile's leading edge: zeros, then a raised cosine."""
    margin = overlap // 4
    rise = overlap - 2 * margin
    ramp = np.ones(overlap, dtype=np.float32)
    ramp[:margin] = 0.0
    ramp[margin:margin + rise] = np.sin(0.5 * np.pi * (np.arange(rise) + 0.5) / rise) ** 2
    return ramp


def axis_tiles(length: int, tile: int, overlap: int, multiple: int = 1) -> list[AxisTile]:
    """The tiles covering an axis of ``length`` pixels, with their 1-D blending weights; their
    size is :func:`balanced_tile` (``multiple``: the network's size multiple)."""
    size = balanced_tile(length, tile, overlap, multiple)
    starts = tile_starts(length, size, overlap)
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


def computed_fraction(shape: tuple[int, int, int], tile: int, overlap: int,
                      multiple: int = 1) -> float:
    """Voxels the network computes per output voxel of a ``(z, y, x)`` volume, both passes.

    The tiles of an axis overlap, and the last one ends at the plane's edge, so an axis a little
    longer than a tile is computed up to twice (CREMI, 250 x 625 x 625 out, at tile 256: 1.23).
    """
    tile, overlap = validate_tiling(tile, overlap)
    z, y, x = (int(n) for n in shape)

    def covered(length: int) -> int:
        tiles = axis_tiles(length, tile, overlap, multiple)
        return len(tiles) * (tiles[0].stop - tiles[0].start)

    work = covered(z) * (y * covered(x) + x * covered(y))  # xz: y planes; yz: x planes
    return work / (2.0 * z * y * x)


@dataclass(frozen=True)
class TileAdvice:
    """A larger tile that wastes less of the network's work than ``tile`` on one volume."""

    tile: int
    fraction_now: float     # voxels computed per output voxel at ``tile``
    larger: int
    fraction: float         # ... at ``larger``
    memory_growth: float    # pixels of the largest tile at ``larger`` over those at ``tile``


def tile_pixels(shape: tuple[int, int, int], tile: int, overlap: int, multiple: int = 1) -> int:
    """Pixels of the largest tile the network is given for a ``(z, y, x)`` output volume (what
    the memory of one tile grows with)."""
    z, y, x = (int(n) for n in shape)
    return balanced_tile(z, tile, overlap, multiple) * max(
        balanced_tile(y, tile, overlap, multiple), balanced_tile(x, tile, overlap, multiple))


def leaner_tile(shape: tuple[int, int, int], tile: int, overlap: int, *, step: int = 32,
                largest: int | None = None, multiple: int = 1) -> tuple[int, float] | None:
    """A larger tile (a multiple of ``step``, at most twice ``tile``) that computes at least
    10 % fewer voxels than ``tile``, as ``(tile, fraction)``; ``None`` when there is none."""
    now = computed_fraction(shape, tile, overlap, multiple)
    largest = largest or 2 * tile
    best = None
    for candidate in range((tile // step + 1) * step, largest + 1, step):
        fraction = computed_fraction(shape, candidate, overlap, multiple)
        if fraction <= 0.9 * now and (best is None or fraction < best[1] - 1e-9):
            best = (candidate, fraction)
    return best


def tile_advice(shape: tuple[int, int, int], tile: int, overlap: int,
                multiple: int = 1) -> TileAdvice | None:
    """:func:`leaner_tile` with what it saves and costs, for the hints of ``info`` and the
    Reconstruct widget; ``None`` when no larger tile saves a tenth."""
    better = leaner_tile(shape, tile, overlap, multiple=multiple)
    if better is None:
        return None
    larger, fraction = better
    growth = tile_pixels(shape, larger, overlap, multiple) / tile_pixels(shape, tile, overlap,
                                                                         multiple)
    return TileAdvice(tile, computed_fraction(shape, tile, overlap, multiple), larger, fraction,
                      growth)
