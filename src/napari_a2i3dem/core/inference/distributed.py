"""Running :func:`~.reconstruction.reconstruct` on a dask.distributed cluster.

The output rows are split into bands aligned with the slab grid
(:func:`~.reconstruction.row_bands`); each worker runs the very same
:func:`~.reconstruction.reconstruct` on its band, reading only the input rows the band's tiles need,
so the result equals an in-process run. The model is shipped once per worker (``client.scatter(...,
broadcast=True)``) as its state dict + network config (any other
``torch.nn.Module`` is pickled as is) and rebuilt once per worker process.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import Cancelled, InputError
from ..model.inputs import size_multiple
from ..normalization import IntensityScale
from ..validation import validate_ratio, validate_volume
from .reconstruction import (
    Piece,
    Progress,
    _cancel_check,
    as_module,
    output_shape,
    reconstruct,
    row_bands,
)
from .tiling import axis_tiles, validate_tiling

_WORKER_MODELS: dict[str, torch.nn.Module] = {}
_WORKER_LOCK = threading.Lock()


def model_payload(model) -> dict:
    """A picklable description of ``model``: state dict + config for A2I-3DEM networks."""
    module = as_module(model)
    token = uuid.uuid4().hex
    from ..model import A2I3DEMNet

    module = getattr(module, "_orig_mod", module)  # unwrap torch.compile
    if isinstance(module, A2I3DEMNet):
        state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        return {"token": token, "config": module.config.to_dict(), "state": state}
    return {"token": token, "module": copy.deepcopy(module).cpu()}


def model_from_payload(payload: dict) -> torch.nn.Module:
    """Rebuild (once per process) the module described by :func:`model_payload`."""
    with _WORKER_LOCK:
        module = _WORKER_MODELS.get(payload["token"])
        if module is None:
            if "module" in payload:
                module = payload["module"]
            else:
                from ..model import A2I3DEMNet, NetworkConfig

                module = A2I3DEMNet(NetworkConfig.from_dict(payload["config"]))
                module.load_state_dict(payload["state"])
            module.eval()
            _WORKER_MODELS[payload["token"]] = module
        return module


@dataclass(frozen=True)
class _StackShape:
    """Shape and dtype of the full stack, for a worker that holds only a band of its rows."""

    shape: tuple[int, int, int]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return 3


def _input_rows(height: int, grid: tuple[int, int, int], band: tuple[int, int]
                ) -> tuple[int, int]:
    """The input rows the tiles (``grid``: tile, overlap, size multiple) of output band
    ``band`` read."""
    touching = [t for t in axis_tiles(height, *grid)
                if t.start < band[1] and t.stop > band[0]]
    return touching[0].start, touching[-1].stop


def reconstruct_band(payload: dict, part, offset: int, shape: tuple[int, int, int], dtype: str,
                     ratio: float, scale: dict, band: tuple[int, int], options: dict
                     ) -> list[tuple[slice, slice, np.ndarray, np.ndarray | None]]:
    """Worker task: the output rows ``band`` from input rows ``offset : offset + part rows``."""
    threads = options.pop("threads", None)
    if threads:
        torch.set_num_threads(int(threads))
    is_lazy = hasattr(part, "compute")

    def read_block(z0: int, z1: int, a: int, b: int) -> np.ndarray:
        block = part[z0:z1, a - offset:b - offset, :]
        return np.asarray(block.compute(scheduler="synchronous") if is_lazy else block)

    pieces = reconstruct(
        _StackShape(tuple(shape), np.dtype(dtype)), model_from_payload(payload), ratio,
        scale=IntensityScale.from_dict(scale), rows=band, read_block=read_block, **options,
    )
    return [(p.planes, p.rows, p.data, p.confidence) for p in pieces]


@contextmanager
def dask_client(scheduler: str | None = "local", *, workers: int | None = None,
                threads_per_worker: int = 1, processes: bool = True,
                timeout: float = 20.0) -> Iterator:
    """A ``distributed.Client`` for the block: a new ``LocalCluster`` for ``"local"``/``None``
    (closed afterwards), else the scheduler at the given address (left running)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is a declared extra
        raise InputError("dask.distributed is not installed: pip install distributed") from exc
    if scheduler in (None, "", "local"):
        with LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                          processes=processes, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(str(scheduler), timeout=f"{timeout}s")
    except OSError as exc:
        raise InputError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from exc
    try:
        yield client
    finally:
        client.close()


def reconstruct_distributed(stack, model, ratio: float, client, *, tile: int = 256,
                            overlap: int = 32, batch: int = 8, fusion: str = "mean",
                            confidence: bool = True, device: str = "cpu",
                            scale: IntensityScale | None = None, bands: int | None = None,
                            threads: int | None = None, cancel=None,
                            on_progress: Callable[[Progress], None] | None = None
                            ) -> Iterator[Piece]:
    """Like :func:`~.reconstruction.reconstruct`, with bands of rows computed on ``client``.

    Pieces arrive in completion order (each names its ``rows``). ``bands`` defaults to four per
    worker; ``device`` is what each worker uses (``"cpu"``, ``"cuda"``, ...).
    """
    ratio = validate_ratio(ratio)
    validate_volume(stack, check_values=False)
    tile, overlap = validate_tiling(tile, overlap)
    is_cancelled = _cancel_check(cancel)
    depth, height, width = (int(s) for s in stack.shape)
    scale = scale or IntensityScale.from_stack(stack)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    module = as_module(model)
    multiple = size_multiple(module)
    grid = (tile, overlap, multiple)
    band_list = row_bands(height, tile, overlap, bands or 4 * n_workers, multiple)
    options = {"tile": tile, "overlap": overlap, "batch": batch, "fusion": fusion,
               "confidence": confidence, "device": device, "threads": threads}

    from distributed import as_completed

    payload = client.scatter(model_payload(module), broadcast=True)
    futures = []
    for band in band_list:
        a, b = _input_rows(height, grid, band)
        futures.append(client.submit(
            reconstruct_band, payload, stack[:, a:b, :], a, (depth, height, width),
            np.dtype(stack.dtype).str, ratio, scale.to_dict(), band, dict(options), pure=False,
        ))
    started = time.perf_counter()
    voxels_done, voxels = 0, int(np.prod(output_shape(stack.shape, ratio)))
    try:
        for future in as_completed(futures):
            if is_cancelled():
                raise Cancelled("reconstruction stopped")
            for planes_here, rows, data, conf in future.result():
                voxels_done += data.size
                fraction = voxels_done / voxels
                planes = (height + width) if fusion == "mean" else (
                    height if fusion == "xz" else width)
                progress = Progress(fraction, fraction * planes, planes,
                                    time.perf_counter() - started)
                if on_progress is not None:
                    on_progress(progress)
                yield Piece(rows, data, conf, progress, planes=planes_here)
    finally:
        for future in futures:
            future.cancel()
