"""Isotropic reconstruction: cubic up-sampling in z, the network on every xz and yz plane, fusion.

Order of work (see ``docs/reconstruction.md``): the output is produced in *z-bands* of a few z
tiles (:func:`z_bands`, at most :data:`Z_PLANES_PER_BAND` planes), and within a band in *y-slabs*.
Tiles lie on one global grid per axis (:mod:`.tiling`); slab ``k`` is the y-range of tile-row
``k``. For each band and slab the engine

1. reads the input planes the band's cubic rows need, rows of tile-row ``k``, all x, and
   cubic-upsamples them along z with the training operator;
2. runs the network on the yz sub-planes of those rows (every x) and adds their blended tiles into
   a running yz accumulator (carried over in y);
3. rows ``s_k .. s_{k+1}`` are now final for the yz pass: the engine runs the xz planes of exactly
   those rows, adds the partial sums the previous band left for its overlapping planes, keeps the
   partial sums of the planes the next band also reaches, fuses both passes, denormalises, casts
   and yields the band's final planes of those rows.

Every tile is computed once and the blend weights are divided out once per voxel, so the result
equals tiling whole planes (to float rounding). Memory holds one band's slab
(``band x tile x X``), the yz carry of the y overlap and the z carry of the overlap between bands
(``overlap x Y x X`` per pass): it grows with the plane size and the tile, never with the number
of planes. :func:`reconstruct` takes a ``rows`` range so that :mod:`.distributed` workers can each
produce a band of rows with the same function.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..allocator import release_memory, tune_allocator
from ..devices import autocast, select_device
from ..errors import Cancelled, GeometryUnknown, InputError
from ..io.lazy import is_dask
from ..model.inputs import size_multiple, wants_section_map, with_section_map
from ..normalization import IntensityScale, cast_like
from ..physics.acquisition import interpolation_matrix, isotropic_length, upsample_axis
from ..validation import (
    find_non_finite,
    non_finite_message,
    ratio_from_spacing,
    validate_ratio,
    validate_volume,
)
from .along_z import apply_along_z
from .gpu_feed import (
    StagingBuffers,
    batch_that_fits,
    cudnn_autotune,
    free_memory,
    measure_tile_bytes,
)
from .tiling import AxisTile, axis_tiles, tile_window, validate_tiling

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
    """Output planes ``planes`` (z), rows ``rows`` (y) and columns ``cols`` (x) of the volume.

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
    #: output planes (z) of ``data``; all of them for a volume shallower than one z-band
    planes: slice = field(default_factory=lambda: slice(None))


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
        from ..model import load_model

        model = load_model(model)
    module = getattr(model, "model", model)
    if not isinstance(module, torch.nn.Module):
        raise InputError(
            f"expected a torch module, a loaded model or a model file, got {type(model).__name__}"
        )
    return module


class PlaneRunner:
    """Runs the network over batches of tiles of equally sized planes and blends them.

    Batches are pipelined: the next batch is cut out and copied to the device while the
    network works on the current one, and a finished batch is blended while the next one runs
    (on a CPU the steps simply follow one another). On CUDA the batch is lowered to what fits
    in free memory (measured on one tile of each shape), inputs go through page-locked buffers
    and cuDNN tunes its algorithms for the tile shapes (:mod:`.gpu_feed`).

    A network built with ``section_input`` gets each tile's section map (:mod:`..model.inputs`):
    the planes' rows are fine z, plane row 0 at fine coordinate ``z_start`` of :meth:`run`, with
    the sections every ``ratio`` rows.
    """

    def __init__(self, module: torch.nn.Module, *, device: str | torch.device = "auto",
                 batch: int = 8, amp: bool = True, cancel: CancelCheck | None = None,
                 on_tiles: Callable[[int], None] | None = None,
                 ratio: float | None = None) -> None:
        if int(batch) < 1:
            raise InputError(f"batch size must be at least 1, got {batch}")
        self.sections = wants_section_map(module)
        if self.sections and ratio is None:
            raise InputError("this network is given the section map: the runner needs the ratio")
        self.ratio = None if ratio is None else validate_ratio(ratio)
        self.device = select_device(device)
        self.module = module.to(self.device).eval()
        self.batch = int(batch)
        self.amp = amp
        self.cancel = cancel or (lambda: False)
        self.on_tiles = on_tiles or (lambda n: None)
        self._staging = StagingBuffers(self.device)
        self._fitted: dict[tuple[int, int], int] = {}

    def _forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), autocast(self.device, self.amp):
            out = self.module(inputs)
        expected = (inputs.shape[0], 1, *inputs.shape[2:])
        if tuple(out.shape) != expected:
            raise InputError(
                f"the model maps {tuple(inputs.shape)} to {tuple(out.shape)}; "
                f"it must give {expected}"
            )
        return out

    def _launch(self, tiles: np.ndarray) -> torch.Tensor:
        """Start the network on a batch (asynchronous on a GPU)."""
        if self.cancel():
            raise Cancelled("reconstruction stopped")
        return self._forward(self._staging.to_device(tiles))

    def _collect(self, out: torch.Tensor) -> np.ndarray:
        """The batch's result on the host (waits for the device)."""
        result = out[:, 0].float().cpu().numpy()
        self.on_tiles(len(result))
        return result

    def batch_for(self, tile_shape: tuple[int, int]) -> int:
        """Tiles per batch for tiles of ``tile_shape``: the requested batch, lowered on CUDA to
        what fits in the free memory."""
        if self.device.type != "cuda":
            return self.batch
        if tile_shape not in self._fitted:
            per_tile = measure_tile_bytes(self._forward, self.device, tile_shape,
                                          channels=2 if self.sections else 1)
            self._fitted[tile_shape] = batch_that_fits(self.batch, free_memory(self.device),
                                                       per_tile)
        return self._fitted[tile_shape]

    def run(self, planes: np.ndarray, rows: list[AxisTile], cols: list[AxisTile],
            z_start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Blend the network over ``planes`` (N, H, W), whose row 0 is fine z ``z_start``.

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

        def blend(chunk, predicted: np.ndarray) -> None:
            for (i, r, c), tile in zip(chunk, predicted, strict=True):
                total[i, r.slice, c.slice] += tile * windows[(r.start, c.start)]

        jobs = [(i, r, c) for i in range(n) for r in rows for c in cols]
        pending = None  # (chunk, output still on the device)
        with cudnn_autotune(self.device):
            for chunk in self._chunks(jobs):
                tiles = np.stack([planes[i, r.slice, c.slice] for i, r, c in chunk])
                if self.sections:
                    tiles = with_section_map(tiles, self.ratio,
                                             [z_start + r.start for _, r, _ in chunk])
                launched = self._launch(tiles)  # queued behind the pending batch on a GPU
                if pending is not None:
                    blend(pending[0], self._collect(pending[1]))
                pending = (chunk, launched)
            if pending is not None:
                blend(pending[0], self._collect(pending[1]))
        return total, weight

    def _chunks(self, jobs: list) -> Iterator[list]:
        """Consecutive runs of jobs with one tile shape, at most a batch each."""
        def shape(job) -> tuple[int, int]:
            _, r, c = job
            return r.stop - r.start, c.stop - c.start

        begin = 0
        while begin < len(jobs):
            first = shape(jobs[begin])
            size = self.batch_for(first)
            end = begin
            while end < len(jobs) and end - begin < size and shape(jobs[end]) == first:
                end += 1
            yield jobs[begin:end]
            begin = end


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


def tile_row_bounds(length: int, tile: int, overlap: int, multiple: int = 1
                    ) -> list[tuple[int, int, int]]:
    """For each y tile-row: ``(final_start, final_stop, tile_stop)``.

    Rows ``final_start:final_stop`` become final once tile-row ``k`` is processed; the tile-row
    itself spans ``final_start:tile_stop``.
    """
    tiles = axis_tiles(length, tile, overlap, multiple)
    bounds = []
    for k, t in enumerate(tiles):
        final_stop = tiles[k + 1].start if k + 1 < len(tiles) else length
        bounds.append((t.start, final_stop, t.stop))
    return bounds


def row_bands(length: int, tile: int, overlap: int, count: int, multiple: int = 1
              ) -> list[tuple[int, int]]:
    """Split ``0:length`` into at most ``count`` bands aligned with the slab boundaries."""
    finals = [(a, b) for a, b, _ in tile_row_bounds(length, tile, overlap, multiple)]
    count = max(1, min(int(count), len(finals)))
    groups = np.array_split(np.arange(len(finals)), count)
    return [(finals[g[0]][0], finals[g[-1]][1]) for g in groups if len(g)]


RowReader = Callable[[int, int, int, int], np.ndarray]
"""``read(z0, z1, y0, y1)``: input planes ``z0:z1``, rows ``y0:y1``, every column."""

#: yz planes run this many columns at a time: their copies are (columns, depth, tile rows), not
#: the whole slab (columns are independent, so the result is the same)
YZ_COLUMNS_PER_CHUNK = 64
#: final pieces hold at most this many rows unless ``piece_rows`` says otherwise
XZ_ROWS_PER_PIECE = 16
#: output planes per z-band (whole tiles, at least one): the slab, the yz carry and the pieces
#: are this deep at most, so memory does not grow with the number of planes
Z_PLANES_PER_BAND = 96


@dataclass(frozen=True)
class ZBand:
    """Consecutive z tiles processed together; ``final`` planes are done after this band.

    ``tiles`` are in band coordinates (plane ``start`` is 0). The planes ``handoff:stop`` are
    also reached by the next band's tiles: their partial sums are carried over to it.
    """

    start: int
    stop: int
    tiles: tuple[AxisTile, ...]
    final: slice
    handoff: int


def z_bands(depth: int, tile: int, overlap: int, planes: int = Z_PLANES_PER_BAND,
            multiple: int = 1) -> list[ZBand]:
    """Group the z tiles of a ``depth``-plane output into bands of at most ``planes`` planes
    (a band holds at least one tile); every tile belongs to exactly one band."""
    tiles = axis_tiles(depth, tile, overlap, multiple)
    groups: list[list[AxisTile]] = [[tiles[0]]]
    for t in tiles[1:]:
        if t.stop - groups[-1][0].start <= max(int(planes), tile):
            groups[-1].append(t)
        else:
            groups.append([t])
    bands = []
    for i, group in enumerate(groups):
        start, stop = group[0].start, group[-1].stop
        handoff = groups[i + 1][0].start if i + 1 < len(groups) else stop
        local = tuple(AxisTile(t.start - start, t.stop - start, t.weight) for t in group)
        bands.append(ZBand(start, stop, local, slice(0 if i == 0 else start, handoff), handoff))
    return bands


def weight_sum(tiles: list[AxisTile], length: int) -> np.ndarray:
    """The summed 1-D blending weights of ``tiles`` over an axis of ``length`` pixels."""
    total = np.zeros(length, dtype=np.float32)
    for t in tiles:
        total[t.slice] += t.weight
    return total


def _block_reader(stack) -> RowReader:
    if is_dask(stack):
        def read(z0: int, z1: int, a: int, b: int) -> np.ndarray:
            return np.asarray(stack[z0:z1, a:b, :].compute(scheduler="synchronous"))
        return read
    return lambda z0, z1, a, b: np.asarray(stack[z0:z1, a:b, :])


class _Passes:
    """The xz and yz results of one band, plane-normalised (x / y weights divided out) but
    not yet in z: z-weights are divided out once every band reaching a plane has added to it."""

    def __init__(self, band: ZBand, previous: dict[str, np.ndarray], keys: tuple[str, ...],
                 rows: int, width: int, z_weight: np.ndarray) -> None:
        self.band = band
        self.previous = previous  # carried sums for planes band.start : previous band's stop
        self.carry = {key: np.zeros((band.stop - band.handoff, rows, width), np.float32)
                      for key in keys} if band.handoff < band.stop else {}
        self.z_weight = z_weight[band.final, None, None]

    def finish(self, key: str, sums: np.ndarray, rows: slice, cols: slice = slice(None),
               *, keep: bool = True) -> np.ndarray:
        """The final planes of ``sums`` (band depth, rows, cols), with the carry in; the planes
        handed on to the next band are kept (unless ``keep`` is False: a provisional look)."""
        band = self.band
        carried = self.previous.get(key)
        if carried is not None:
            sums = sums.copy() if not keep else sums
            sums[:len(carried)] += carried[:, rows, cols]
        if keep and key in self.carry:
            self.carry[key][:, rows, cols] = sums[band.handoff - band.start:]
        final = slice(band.final.start - band.start, band.final.stop - band.start)
        return sums[final] / self.z_weight


def reconstruct(stack, model, ratio: float, *, tile: int = 256, overlap: int = 32,
                batch: int = 8, device: str | torch.device = "auto", fusion: str = "mean",
                confidence: bool = True, scale: IntensityScale | None = None,
                rows: tuple[int, int] | None = None, cancel=None,
                on_progress: Callable[[Progress], None] | None = None,
                amp: bool = True, read_block: RowReader | None = None,
                piece_rows: int | None = None, provisional: bool = False,
                band_planes: int = Z_PLANES_PER_BAND) -> Iterator[Piece]:
    """Reconstruct the isotropic volume of ``stack`` (z, y, x), yielding finished pieces.

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
    off). ``band_planes`` bounds the output planes worked on at once (:func:`z_bands`).
    """
    ratio = validate_ratio(ratio)
    if piece_rows is not None and int(piece_rows) < 1:
        raise InputError(f"piece_rows must be at least 1, got {piece_rows}")
    if int(band_planes) < 1:
        raise InputError(f"band_planes must be at least 1, got {band_planes}")
    validate_volume(stack, check_values=False)
    tile, overlap = validate_tiling(tile, overlap)
    fusion = _validate_fusion(fusion)
    tune_allocator()
    depth_in, height, width = (int(s) for s in stack.shape)
    depth = isotropic_length(depth_in, ratio)
    lo, hi = (0, height) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= lo < hi <= height:
        raise InputError(f"row range {lo}:{hi} is outside the stack's 0:{height} rows")
    scale = scale or IntensityScale.from_stack(stack)
    module = as_module(model)
    multiple = size_multiple(module)
    plan = _Plan(
        depth=depth, height=height, width=width, lo=lo, hi=hi, tile=tile, overlap=overlap,
        multiple=multiple, use_xz=fusion in ("mean", "xz"), use_yz=fusion in ("mean", "yz"),
        bands=z_bands(depth, tile, overlap, band_planes, multiple),
        matrix=interpolation_matrix(depth_in, ratio, depth).astype(np.float32),
    )
    meter = _TileMeter(plan.total_tiles(), plan.planes_total(), on_progress)
    runner = PlaneRunner(module, device=device, batch=batch, amp=amp,
                         cancel=_cancel_check(cancel), on_tiles=meter.count, ratio=ratio)
    work = _BandWork(plan, runner, scale, read_block or _block_reader(stack),
                     np.dtype(stack.dtype), meter, confidence=confidence,
                     piece_rows=XZ_ROWS_PER_PIECE if piece_rows is None else int(piece_rows),
                     provisional=provisional)
    carried: dict[str, np.ndarray] = {}
    for band in plan.bands:
        passes = _Passes(band, carried, plan.keys, hi - lo, width, plan.z_weight)
        yield from work.band(passes)
        carried = passes.carry
    del carried, work
    release_memory()


@dataclass
class _Plan:
    """The fixed geometry of one run: grid, tiles, bands, and the cubic operator."""

    depth: int
    height: int
    width: int
    lo: int
    hi: int
    tile: int
    overlap: int
    multiple: int
    use_xz: bool
    use_yz: bool
    bands: list[ZBand]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        grid = (self.tile, self.overlap, self.multiple)
        self.x_tiles = axis_tiles(self.width, *grid)
        self.y_tiles = axis_tiles(self.height, *grid)
        self.y_bounds = tile_row_bounds(self.height, *grid)
        self.z_weight = weight_sum(axis_tiles(self.depth, *grid), self.depth)
        self.x_weight = weight_sum(self.x_tiles, self.width)
        self.y_weight = weight_sum(self.y_tiles, self.height)
        self.keys = tuple(k for k, on in (("xz", self.use_xz), ("yz", self.use_yz)) if on)
        #: y tile-rows that touch the output rows lo:hi
        self.steps = [k for k, (start, _, stop) in enumerate(self.y_bounds)
                      if start < self.hi and stop > self.lo]

    def final_rows(self, k: int) -> tuple[int, int]:
        return max(self.y_bounds[k][0], self.lo), min(self.y_bounds[k][1], self.hi)

    def total_tiles(self) -> int:
        z_tiles = sum(len(b.tiles) for b in self.bands)
        total = 0
        for k in self.steps:
            a, b = self.final_rows(k)
            if self.use_xz:
                total += max(0, b - a) * z_tiles * len(self.x_tiles)
            if self.use_yz:
                total += self.width * z_tiles
        return total

    def planes_total(self) -> int:
        return (self.hi - self.lo if self.use_xz else 0) + (self.width if self.use_yz else 0)

    def input_planes(self, band: ZBand) -> tuple[int, int]:
        """The input planes the cubic operator reads for the band's output planes."""
        used = np.flatnonzero(np.any(self.matrix[band.start:band.stop] != 0, axis=0))
        return int(used[0]), int(used[-1]) + 1


class _TileMeter:
    """Counts network tiles into :class:`Progress` (rate measured after the first batch)."""

    def __init__(self, total: int, planes: int, on_progress) -> None:
        self.total, self.planes, self.on_progress = total, planes, on_progress
        self.done = 0
        self.warm: tuple[float, float] | None = None
        self.started = time.perf_counter()

    def progress(self) -> Progress:
        fraction = self.done / self.total if self.total else 1.0
        warm_s, warm_fraction = self.warm or (0.0, 0.0)
        return Progress(fraction, fraction * self.planes, self.planes,
                        time.perf_counter() - self.started, warm_s, warm_fraction)

    def count(self, n: int) -> None:
        self.done += n
        if self.warm is None:
            self.warm = (time.perf_counter() - self.started, self.done / max(self.total, 1))
        if self.on_progress is not None:
            self.on_progress(self.progress())


class _BandWork:
    """One z-band: y-slabs in order, the yz pass with its carry in y, the xz pass, fusion."""

    def __init__(self, plan: _Plan, runner: PlaneRunner, scale: IntensityScale,
                 read_block: RowReader, out_dtype: np.dtype, meter: _TileMeter, *,
                 confidence: bool, piece_rows: int, provisional: bool) -> None:
        self.plan, self.runner, self.scale, self.read_block = plan, runner, scale, read_block
        self.out_dtype, self.meter = out_dtype, meter
        self.with_confidence = confidence and plan.use_xz and plan.use_yz
        self.piece_rows, self.provisional = piece_rows, provisional

    def _slab(self, band: ZBand, inputs: tuple[int, int], start: int, stop: int
              ) -> np.ndarray:
        """Normalised, cubic-upsampled input rows ``start:stop`` for the band's planes, from
        the input planes ``inputs`` they need."""
        z0, z1 = inputs
        raw = self.read_block(z0, z1, start, stop)
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():  # lazy / zarr stacks land here
            where = find_non_finite(raw)
            raise InputError(non_finite_message(
                "the stack", (where[0] + z0, where[1] + start, where[2])))
        slab = self.scale.normalize(raw)
        del raw
        # (band depth, rows, width) float32, computed off the GIL (a GUI thread keeps running)
        return apply_along_z(self.plan.matrix[band.start:band.stop, z0:z1], slab)

    def _output(self, values: np.ndarray) -> np.ndarray:
        return cast_like(self.scale.denormalize(values), self.out_dtype)

    def band(self, passes: _Passes) -> Iterator[Piece]:
        plan, band = self.plan, passes.band
        y_sum = np.zeros((band.stop - band.start, 0, plan.width), np.float32)
        y_start = 0  # first row held in the yz accumulator
        inputs = plan.input_planes(band)  # the same for every slab of the band
        for k in plan.steps:
            slab_start, slab_stop = plan.y_tiles[k].start, plan.y_tiles[k].stop
            final_start, final_stop = plan.final_rows(k)
            slab = self._slab(band, inputs, slab_start, slab_stop)
            yz = None
            if plan.use_yz:
                keep_from = max(slab_start, plan.lo)
                if y_sum.shape[1] == 0:
                    y_start = keep_from
                grow = slab_stop - (y_start + y_sum.shape[1])
                if grow > 0:
                    y_sum = np.concatenate(
                        [y_sum, np.zeros((y_sum.shape[0], grow, plan.width), np.float32)], 1)
                yield from self._yz_pass(passes, slab, k, y_sum, y_start)
                if final_stop > final_start:
                    part = slice(final_start - y_start, final_stop - y_start)
                    sums = y_sum[:, part] / plan.y_weight[final_start:final_stop, None]
                    yz = passes.finish("yz", sums, slice(final_start - plan.lo,
                                                         final_stop - plan.lo))
                    y_sum = y_sum[:, part.stop:].copy()
                    y_start = final_stop
            if final_stop > final_start:
                yield from self._xz_pieces(passes, slab, slab_start, final_start, final_stop, yz)
            del slab

    def _yz_pass(self, passes: _Passes, slab: np.ndarray, k: int, y_sum: np.ndarray,
                 y_start: int) -> Iterator[Piece]:
        """Add the yz planes of tile-row ``k`` into ``y_sum``, a few columns at a time (each
        column is done after its chunk, and the copies stay a fraction of the slab)."""
        plan, band = self.plan, passes.band
        slab_start, slab_stop = plan.y_tiles[k].start, plan.y_tiles[k].stop
        final_start, final_stop = plan.final_rows(k)
        keep_from = max(slab_start, plan.lo)
        src = slice(keep_from - slab_start, slab_stop - slab_start)
        dst = slice(keep_from - y_start, slab_stop - y_start)
        y_piece = AxisTile(0, slab_stop - slab_start, plan.y_tiles[k].weight)
        chunk = (max(1, self.runner.batch // len(band.tiles)) if self.provisional
                 else min(plan.width, YZ_COLUMNS_PER_CHUNK))
        for c0 in range(0, plan.width, chunk):
            cols = slice(c0, min(plan.width, c0 + chunk))
            planes = np.ascontiguousarray(slab[:, :, cols].transpose(2, 0, 1))
            total, _ = self.runner.run(planes, list(band.tiles), [y_piece], band.start)
            y_sum[:, dst, cols] += total.transpose(1, 2, 0)[:, src]
            del planes, total
            if self.provisional and final_stop > final_start:
                part = slice(final_start - y_start, final_stop - y_start)
                sums = y_sum[:, part, cols] / plan.y_weight[final_start:final_stop, None]
                early = passes.finish("yz", sums, slice(final_start - plan.lo,
                                                        final_stop - plan.lo), cols, keep=False)
                yield Piece(slice(final_start, final_stop), self._output(early), None,
                            self.meter.progress(), cols=cols, final=False, planes=band.final)

    def _xz_pieces(self, passes: _Passes, slab: np.ndarray, slab_start: int,
                   final_start: int, final_stop: int, yz: np.ndarray | None) -> Iterator[Piece]:
        """The xz planes of a few rows at a time (their copies and blended sums stay a fraction
        of the slab), fused with the yz pass and yielded."""
        plan, band = self.plan, passes.band
        for r0 in range(final_start, final_stop, self.piece_rows):
            r1 = min(final_stop, r0 + self.piece_rows)
            xz = None
            if plan.use_xz:
                planes = np.ascontiguousarray(
                    slab[:, r0 - slab_start:r1 - slab_start].transpose(1, 0, 2))
                total, _ = self.runner.run(planes, list(band.tiles), plan.x_tiles, band.start)
                del planes
                sums = (total / plan.x_weight).transpose(1, 0, 2)
                xz = passes.finish("xz", sums, slice(r0 - plan.lo, r1 - plan.lo))
                del total, sums
            yz_here = None if yz is None else yz[:, r0 - final_start:r1 - final_start]
            fused = xz if yz_here is None else yz_here if xz is None else 0.5 * (xz + yz_here)
            conf = None
            if self.with_confidence:
                conf = np.abs(xz - yz_here) * np.float32(self.scale.high - self.scale.low)
            yield Piece(slice(r0, r1), self._output(fused), conf, self.meter.progress(),
                        planes=band.final)


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
    row = scale.normalize(_block_reader(stack)(0, depth_in, y, y + 1))[:, 0, :]  # (z, x)
    matrix = interpolation_matrix(depth_in, ratio, depth).astype(np.float32)
    cubic = np.ascontiguousarray(matrix @ row, dtype=np.float32)
    module = as_module(model)
    grid = (tile, overlap, size_multiple(module))
    runner = PlaneRunner(module, device=device, batch=batch, amp=amp,
                         cancel=_cancel_check(cancel), ratio=ratio)
    total, weight = runner.run(cubic[None], axis_tiles(depth, *grid), axis_tiles(width, *grid))
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
        volume[piece.planes, piece.rows] = piece.data
        if piece.confidence is not None:
            if conf is None:
                conf = np.zeros(shape, dtype=np.float32)
            conf[piece.planes, piece.rows] = piece.confidence
    return volume, conf
