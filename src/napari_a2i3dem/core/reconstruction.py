"""Isotropic reconstruction: cubic up-sampling in z, the network on every xz and yz plane, fusion.

Order of work (see ``docs/reconstruction.md``): the output is produced in *y-slabs*. The yz planes
are tiled along y on one global grid of overlapping tiles (:mod:`.tiling`); slab ``k`` is the
y-range of tile-row ``k``. For each slab the engine

1. reads the input rows of tile-row ``k`` (all z, all x) and cubic-upsamples them along z with
   :func:`~napari_a2i3dem.core.acquisition.upsample_axis` (the training operator);
2. runs the network on the yz sub-planes of those rows (every x) and adds their blended tiles into a
   running yz accumulator;
3. rows ``s_k .. s_{k+1}`` are now final for the yz pass (no later tile-row reaches them): the
   engine runs the xz planes of exactly those rows, fuses both passes, denormalises, casts and
   yields them.

So every output row is computed once, the result is identical to tiling whole planes, and memory
holds one slab (``Z_iso x tile x X``) plus the yz carry-over of the tile overlap — it grows with the
plane size and the tile, never with the number of planes. :func:`reconstruct` takes a ``rows`` range
so that :mod:`.distributed` workers can each produce a band of rows with the same function.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .acquisition import interpolation_matrix, isotropic_length, upsample_axis
from .allocator import release_memory, tune_allocator
from .devices import autocast, select_device
from .errors import Cancelled, GeometryUnknown, InputError
from .lazy import is_dask
from .normalization import IntensityScale, cast_like
from .tiling import AxisTile, axis_tiles, tile_window, validate_tiling
from .validation import (
    find_non_finite,
    non_finite_message,
    ratio_from_spacing,
    validate_ratio,
    validate_volume,
)

FUSIONS = ("mean", "xz", "yz")
"""``mean`` averages both passes (default); ``xz`` / ``yz`` run one orientation (half the time)."""

CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class Progress:
    """How far a reconstruction is: work fraction, plane throughput and the time left."""

    fraction: float
    planes_done: float
    planes_total: int
    elapsed_s: float
    #: time and fraction at the end of the first network batch: the rate is measured from there,
    #: so set-up and the first batch's warm-up do not inflate the ETA of the first seconds
    warm_s: float = 0.0
    warm_fraction: float = 0.0

    def _rate(self) -> float:
        """Work fraction per second, after the first batch when possible."""
        span, done = self.elapsed_s - self.warm_s, self.fraction - self.warm_fraction
        if self.warm_s > 0 and span > 0 and done > 0:
            return done / span
        return self.fraction / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def planes_per_s(self) -> float:
        return self._rate() * self.planes_total

    @property
    def eta_s(self) -> float:
        """Estimated seconds left (``inf`` before any work is done)."""
        rate = self._rate()
        if self.fraction <= 0 or rate <= 0:
            return float("inf")
        return (1.0 - self.fraction) / rate

    def describe(self) -> str:
        eta = "?" if not np.isfinite(self.eta_s) else f"{self.eta_s:.0f} s"
        return f"{100 * self.fraction:.0f}% · {self.planes_per_s:.1f} planes/s · ETA {eta}"


@dataclass
class Piece:
    """Output rows ``rows`` (y) of the isotropic volume, all z and the columns ``cols`` (x).

    ``final`` pieces hold the fused result (all x). With ``provisional=True`` the engine also
    yields early ``final=False`` pieces: the yz pass alone for a few columns of rows that are
    final for that pass, so a viewer can show the volume filling in long before the xz pass of
    those rows runs; a final piece for the same rows always follows.
    """

    rows: slice
    data: np.ndarray
    confidence: np.ndarray | None
    progress: Progress
    cols: slice = field(default_factory=lambda: slice(None))
    final: bool = True


def output_shape(shape: tuple[int, int, int], ratio: float) -> tuple[int, int, int]:
    """Shape of the isotropic volume for a ``(z, y, x)`` input: depth ``round(z * ratio)``."""
    z, y, x = (int(s) for s in shape)
    return isotropic_length(z, ratio), y, x


def isotropic_spacing(spacing: tuple[float, float, float]) -> tuple[float, float, float]:
    """Voxel spacing of the output: the lateral spacing on every axis."""
    lateral = (float(spacing[1]) + float(spacing[2])) / 2.0
    return lateral, lateral, lateral


def resolve_ratio(*, stack_spacing=None, model_ratio: float | None = None,
                  override: float | None = None, tolerance: float = 0.01
                  ) -> tuple[float, str | None]:
    """The ratio to reconstruct with, and a warning when the stack and the model disagree.

    ``override`` wins; else the stack's spacing (it describes the data at hand); else the ratio the
    model was trained for. Raises :class:`InputError` when none is known.
    """
    if override is not None:
        return validate_ratio(override), None
    stack_ratio = None if stack_spacing is None else ratio_from_spacing(stack_spacing)
    if stack_ratio is None:
        if model_ratio is None:
            raise GeometryUnknown("the up-sampling ratio is unknown: the stack has no voxel "
                                  "spacing and the model records none")
        return validate_ratio(model_ratio), None
    warning = None
    if model_ratio is not None and abs(stack_ratio - model_ratio) > tolerance * model_ratio:
        warning = (f"the model was trained for ratio {model_ratio:.3g} but the stack's spacing "
                   f"gives {stack_ratio:.3g}; using the stack's")
    return stack_ratio, warning


# --------------------------------------------------------------------------- cubic reference


def _upsample_block(block: np.ndarray, ratio: float, out_len: int, dtype: np.dtype) -> np.ndarray:
    values = upsample_axis(block, ratio, axis=0, out_len=out_len)
    return values if dtype.kind == "f" and dtype == values.dtype else cast_like(values, dtype)


def cubic_upsample_stack(stack, ratio: float, *, dtype=None):
    """The stack brought onto the isotropic grid along z with the training cubic operator.

    NumPy in -> NumPy out; dask in -> lazy dask out (z un-chunked, ``map_blocks`` over y/x chunks).
    ``dtype`` defaults to the input's (integers rounded and clipped); pass ``np.float32`` for the
    raw interpolation.
    """
    ratio = validate_ratio(ratio)
    validate_volume(stack, check_values=False)
    out_dtype = np.dtype(stack.dtype if dtype is None else dtype)
    depth = isotropic_length(stack.shape[0], ratio)
    if is_dask(stack):
        column = stack.rechunk({0: -1})
        return column.map_blocks(
            _upsample_block, ratio, depth, out_dtype, dtype=out_dtype,
            chunks=((depth,), *column.chunks[1:]),
        )
    return _upsample_block(np.asarray(stack), ratio, depth, out_dtype)


# --------------------------------------------------------------------------- model handling


def as_module(model) -> torch.nn.Module:
    """A ``torch.nn.Module`` from a module, a ``LoadedModel`` (``.model``) or a model file path."""
    if isinstance(model, (str, Path)):
        from .model import load_model

        model = load_model(model)
    module = getattr(model, "model", model)
    if not isinstance(module, torch.nn.Module):
        raise InputError(
            f"expected a torch module, a loaded model or a model file, got {type(model).__name__}"
        )
    return module


class PlaneRunner:
    """Runs the network over batches of tiles of equally sized planes and blends them."""

    def __init__(self, module: torch.nn.Module, *, device: str | torch.device = "auto",
                 batch: int = 8, amp: bool = True, cancel: CancelCheck | None = None,
                 on_tiles: Callable[[int], None] | None = None) -> None:
        if int(batch) < 1:
            raise InputError(f"batch size must be at least 1, got {batch}")
        self.device = select_device(device)
        self.module = module.to(self.device).eval()
        self.batch = int(batch)
        self.amp = amp
        self.cancel = cancel or (lambda: False)
        self.on_tiles = on_tiles or (lambda n: None)

    def _predict(self, tiles: np.ndarray) -> np.ndarray:
        if self.cancel():
            raise Cancelled("reconstruction stopped")
        inputs = torch.from_numpy(np.ascontiguousarray(tiles)[:, None]).to(self.device)
        with torch.inference_mode(), autocast(self.device, self.amp, inference=True):
            out = self.module(inputs)
        if tuple(out.shape) != tuple(inputs.shape):
            raise InputError(
                f"the model maps {tuple(inputs.shape)} to {tuple(out.shape)}; "
                "it must keep (B, 1, H, W)"
            )
        self.on_tiles(len(tiles))
        return out[:, 0].float().cpu().numpy()

    def run(self, planes: np.ndarray, rows: list[AxisTile], cols: list[AxisTile]
            ) -> tuple[np.ndarray, np.ndarray]:
        """Blend the network over ``planes`` (N, H, W).

        Returns the weighted sum (N, H, W) and the summed weights (H, W); divide to normalise.
        """
        n, h, w = planes.shape
        total = np.zeros((n, h, w), dtype=np.float32)
        weight = np.zeros((h, w), dtype=np.float32)
        windows = {}
        for r in rows:
            for c in cols:
                window = tile_window(r, c)
                weight[r.slice, c.slice] += window
                windows[(r.start, c.start)] = window
        jobs = [(i, r, c) for i in range(n) for r in rows for c in cols]
        for begin in range(0, len(jobs), self.batch):
            chunk = jobs[begin:begin + self.batch]
            tiles = np.stack([planes[i, r.slice, c.slice] for i, r, c in chunk])
            predicted = self._predict(tiles)
            for (i, r, c), tile in zip(chunk, predicted, strict=True):
                total[i, r.slice, c.slice] += tile * windows[(r.start, c.start)]
        return total, weight


# --------------------------------------------------------------------------- the engine


def _cancel_check(cancel) -> CancelCheck:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    if callable(cancel):
        return cancel
    raise InputError("cancel must be a threading.Event or a callable returning bool")


def _validate_fusion(fusion: str) -> str:
    if fusion not in FUSIONS:
        raise InputError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
    return fusion


def tile_row_bounds(length: int, tile: int, overlap: int) -> list[tuple[int, int, int]]:
    """For each y tile-row: ``(final_start, final_stop, tile_stop)``.

    Rows ``final_start:final_stop`` become final once tile-row ``k`` is processed; the tile-row
    itself spans ``final_start:tile_stop``.
    """
    tiles = axis_tiles(length, tile, overlap)
    bounds = []
    for k, t in enumerate(tiles):
        final_stop = tiles[k + 1].start if k + 1 < len(tiles) else length
        bounds.append((t.start, final_stop, t.stop))
    return bounds


def row_bands(length: int, tile: int, overlap: int, count: int) -> list[tuple[int, int]]:
    """Split ``0:length`` into at most ``count`` bands aligned with the slab boundaries."""
    finals = [(a, b) for a, b, _ in tile_row_bounds(length, tile, overlap)]
    count = max(1, min(int(count), len(finals)))
    groups = np.array_split(np.arange(len(finals)), count)
    return [(finals[g[0]][0], finals[g[-1]][1]) for g in groups if len(g)]


RowReader = Callable[[int, int], np.ndarray]

#: yz planes run this many columns at a time: their copies are (columns, depth, tile rows), not
#: the whole slab (columns are independent, so the result is the same)
YZ_COLUMNS_PER_CHUNK = 64
#: final pieces hold at most this many rows unless ``piece_rows`` says otherwise
XZ_ROWS_PER_PIECE = 16


def _row_reader(stack) -> RowReader:
    if is_dask(stack):
        def read(a: int, b: int) -> np.ndarray:
            return np.asarray(stack[:, a:b, :].compute(scheduler="synchronous"))
        return read
    return lambda a, b: np.asarray(stack[:, a:b, :])


def reconstruct(stack, model, ratio: float, *, tile: int = 256, overlap: int = 32,
                batch: int = 8, device: str | torch.device = "auto", fusion: str = "mean",
                confidence: bool = True, scale: IntensityScale | None = None,
                rows: tuple[int, int] | None = None, cancel=None,
                on_progress: Callable[[Progress], None] | None = None,
                amp: bool = True, read_rows: RowReader | None = None,
                piece_rows: int | None = None, provisional: bool = False) -> Iterator[Piece]:
    """Reconstruct the isotropic volume of ``stack`` (z, y, x), yielding finished y-slabs.

    ``model``: a ``torch.nn.Module`` (B,1,H,W) -> (B,1,H,W), a ``LoadedModel`` or a model path.
    ``ratio``: z-spacing / lateral spacing. Planes larger than ``tile`` are tiled with
    ``overlap`` and smooth blending. Intensities are normalised with ``scale`` (default: the
    stack's ``IntensityScale``); the output has the stack's dtype. ``confidence`` adds
    ``|xz - yz|`` (stack units, float32) to every piece. ``rows`` restricts the output to a band
    of y rows (bands from :func:`row_bands` give results identical to a full run). ``cancel``
    (an Event or callable) is checked before every network batch and raises
    :class:`~.errors.Cancelled` when set. ``piece_rows`` caps the rows of a final piece (default
    :data:`XZ_ROWS_PER_PIECE`, which bounds the xz pass's working copies); ``provisional`` adds
    the early yz-only pieces described in :class:`Piece` (for viewers; writers to files leave it
    off).
    """
    ratio = validate_ratio(ratio)
    if piece_rows is not None and int(piece_rows) < 1:
        raise InputError(f"piece_rows must be at least 1, got {piece_rows}")
    validate_volume(stack, check_values=False)
    tile, overlap = validate_tiling(tile, overlap)
    fusion = _validate_fusion(fusion)
    tune_allocator()
    depth_in, height, width = (int(s) for s in stack.shape)
    depth = isotropic_length(depth_in, ratio)
    lo, hi = (0, height) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= lo < hi <= height:
        raise InputError(f"row range {lo}:{hi} is outside the stack's 0:{height} rows")
    out_dtype = np.dtype(stack.dtype)
    scale = scale or IntensityScale.from_stack(stack)
    read_rows = read_rows or _row_reader(stack)
    matrix = interpolation_matrix(depth_in, ratio, depth).astype(np.float32)

    z_tiles = axis_tiles(depth, tile, overlap)
    x_tiles = axis_tiles(width, tile, overlap)
    y_tiles = axis_tiles(height, tile, overlap)
    bounds = tile_row_bounds(height, tile, overlap)
    use_xz, use_yz = fusion in ("mean", "xz"), fusion in ("mean", "yz")
    with_confidence = confidence and use_xz and use_yz

    # Work plan: which tile-rows touch the band, and how many network tiles in total.
    steps = [k for k, (start, _, stop) in enumerate(bounds) if start < hi and stop > lo]
    total_tiles = 0
    for k in steps:
        final = max(bounds[k][0], lo), min(bounds[k][1], hi)
        if use_xz:
            total_tiles += max(0, final[1] - final[0]) * len(z_tiles) * len(x_tiles)
        if use_yz:
            total_tiles += width * len(z_tiles)
    planes_total = (hi - lo if use_xz else 0) + (width if use_yz else 0)
    done = [0]
    warm: list[float] = []  # (seconds, fraction) when the first batch finished
    started = time.perf_counter()

    def progress() -> Progress:
        fraction = done[0] / total_tiles if total_tiles else 1.0
        warm_s, warm_fraction = warm if warm else (0.0, 0.0)
        return Progress(fraction, fraction * planes_total, planes_total,
                        time.perf_counter() - started, warm_s, warm_fraction)

    def count_tiles(n: int) -> None:
        done[0] += n
        if not warm:
            warm.extend((time.perf_counter() - started, done[0] / max(total_tiles, 1)))
        if on_progress is not None:
            on_progress(progress())

    runner = PlaneRunner(as_module(model), device=device, batch=batch, amp=amp,
                         cancel=_cancel_check(cancel), on_tiles=count_tiles)

    carry_start = 0  # first row held in the yz accumulator
    carry_sum = np.zeros((depth, 0, width), dtype=np.float32)
    carry_weight = np.zeros((depth, 0), dtype=np.float32)
    for k in steps:
        slab_start, slab_stop = y_tiles[k].start, y_tiles[k].stop
        final_start, final_stop = max(bounds[k][0], lo), min(bounds[k][1], hi)
        raw = read_rows(slab_start, slab_stop)
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():  # lazy / zarr stacks land here
            where = find_non_finite(raw)
            raise InputError(non_finite_message(
                "the stack", (where[0], where[1] + slab_start, where[2])))
        slab = scale.normalize(raw)
        del raw
        slab = np.tensordot(matrix, slab, axes=(1, 0))  # (depth, rows, width) float32

        yz = None
        if use_yz:
            keep_from = max(slab_start, lo)
            if carry_sum.shape[1] == 0:
                carry_start = keep_from
            grow = slab_stop - (carry_start + carry_sum.shape[1])
            if grow > 0:
                carry_sum = np.concatenate(
                    [carry_sum, np.zeros((depth, grow, width), np.float32)], axis=1)
                carry_weight = np.concatenate(
                    [carry_weight, np.zeros((depth, grow), np.float32)], axis=1)
            src = slice(keep_from - slab_start, slab_stop - slab_start)
            dst = slice(keep_from - carry_start, slab_stop - carry_start)
            part = slice(final_start - carry_start, final_stop - carry_start)
            y_piece = AxisTile(0, slab_stop - slab_start, y_tiles[k].weight)
            # the yz planes of a few columns at a time: each column is done after its chunk, and
            # the plane copies and their blended sums stay a fraction of the slab
            chunk = (max(1, runner.batch // len(z_tiles)) if provisional
                     else min(width, YZ_COLUMNS_PER_CHUNK))
            for c0 in range(0, width, chunk):
                cols = slice(c0, min(width, c0 + chunk))
                planes = np.ascontiguousarray(slab[:, :, cols].transpose(2, 0, 1))
                total, weight = runner.run(planes, z_tiles, [y_piece])
                carry_sum[:, dst, cols] += total.transpose(1, 2, 0)[:, src]
                if c0 == 0:
                    carry_weight[:, dst] += weight[:, src]
                del planes, total
                if provisional and final_stop > final_start:
                    early = carry_sum[:, part, cols] / carry_weight[:, part, None]
                    yield Piece(slice(final_start, final_stop),
                                cast_like(scale.denormalize(early), out_dtype), None,
                                progress(), cols=cols, final=False)
            if final_stop > final_start:
                yz = carry_sum[:, part] / carry_weight[:, part, None]
                carry_sum = carry_sum[:, part.stop:].copy()
                carry_weight = carry_weight[:, part.stop:].copy()
                carry_start = final_stop
        if final_stop <= final_start:
            continue

        # the xz planes of a few rows at a time: their copies and blended sums (rows, depth, x)
        # stay a fraction of the slab instead of several slab-sized arrays
        step_rows = XZ_ROWS_PER_PIECE if piece_rows is None else int(piece_rows)
        for r0 in range(final_start, final_stop, step_rows):
            r1 = min(final_stop, r0 + step_rows)
            xz = None
            if use_xz:
                rows_here = slice(r0 - slab_start, r1 - slab_start)
                planes = np.ascontiguousarray(slab[:, rows_here].transpose(1, 0, 2))
                total, weight = runner.run(planes, z_tiles, x_tiles)
                xz = (total / weight).transpose(1, 0, 2)
                del planes, total
            yz_here = None if yz is None else yz[:, r0 - final_start:r1 - final_start]
            fused = xz if yz_here is None else yz_here if xz is None else 0.5 * (xz + yz_here)
            conf = None
            if with_confidence:
                conf = np.abs(xz - yz_here) * np.float32(scale.high - scale.low)
            data = cast_like(scale.denormalize(fused), out_dtype)
            yield Piece(slice(r0, r1), data, conf, progress())
    carry_sum = carry_weight = slab = None  # free the work buffers before handing pages back
    release_memory()


def reconstruct_xz_plane(stack, model, ratio: float, y: int, *, tile: int = 256,
                         overlap: int = 32, batch: int = 8, device: str | torch.device = "auto",
                         amp: bool = True, scale: IntensityScale | None = None,
                         cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """A quick look before a whole run: ``(cubic, network)`` for the xz plane at row ``y``.

    Only that plane is computed (the network's xz pass; a full run also averages the yz pass),
    with the same intensity scale, tiling and cubic operator as :func:`reconstruct`, so it costs
    one plane's worth of network tiles. Both images are ``(Z_iso, X)`` in the stack's dtype.
    """
    ratio = validate_ratio(ratio)
    validate_volume(stack, check_values=False)
    tile, overlap = validate_tiling(tile, overlap)
    depth_in, height, width = (int(s) for s in stack.shape)
    y = int(y)
    if not 0 <= y < height:
        raise InputError(f"row {y} is outside the stack's 0:{height} rows")
    depth = isotropic_length(depth_in, ratio)
    scale = scale or IntensityScale.from_stack(stack)
    row = scale.normalize(_row_reader(stack)(y, y + 1))[:, 0, :]  # (z, x)
    matrix = interpolation_matrix(depth_in, ratio, depth).astype(np.float32)
    cubic = np.ascontiguousarray(matrix @ row, dtype=np.float32)
    runner = PlaneRunner(as_module(model), device=device, batch=batch, amp=amp,
                         cancel=_cancel_check(cancel))
    total, weight = runner.run(cubic[None], axis_tiles(depth, tile, overlap),
                               axis_tiles(width, tile, overlap))
    dtype = np.dtype(stack.dtype)
    return (cast_like(scale.denormalize(cubic), dtype),
            cast_like(scale.denormalize(total[0] / weight), dtype))


def reconstruct_volume(stack, model, ratio: float, **kwargs
                       ) -> tuple[np.ndarray, np.ndarray | None]:
    """Reconstruct a stack that fits in memory; returns ``(volume, confidence or None)``."""
    shape = output_shape(stack.shape, ratio)
    volume = np.empty(shape, dtype=np.dtype(stack.dtype))
    conf = None
    for piece in reconstruct(stack, model, ratio, **kwargs):
        volume[:, piece.rows] = piece.data
        if piece.confidence is not None:
            if conf is None:
                conf = np.zeros(shape, dtype=np.float32)
            conf[:, piece.rows] = piece.confidence
    return volume, conf
