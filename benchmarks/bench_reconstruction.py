"""Reconstruction throughput and peak memory for stacks of growing size (CPU).

Each case runs in a fresh process: the input is a zarr store on disk read lazily, the output an
OME-Zarr target, so the resident set holds only the engine's working memory. Reports output
voxels/s, planes/s, peak RSS growth during the run, and the time of the whole reconstruction
relative to plain cubic interpolation of the same stack. Network: the "tiny" preset with random
weights (speed does not depend on the weights).

    python benchmarks/bench_reconstruction.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

RATIO = 3.0
TILE, OVERLAP, BATCH = 64, 8, 8


def _status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` memory line (``VmHWM``, ``VmRSS``) in MiB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _rss_mib() -> float:
    """Peak resident set since the last :func:`_reset_peak` (Linux), else since start."""
    peak = _status_mib("VmHWM")
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return peak


def _reset_peak() -> float:
    """Hand freed heap pages back, restart the peak count (Linux ``clear_refs`` 5) and return
    the resident set now, so that set-up (input synthesis, warm-up) does not count as the run's
    peak."""
    from napari_a2i3dem.core.allocator import release_memory

    release_memory()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return _rss_mib()
    now = _status_mib("VmRSS")
    return _rss_mib() if now is None else now


def _case(shape: tuple[int, int, int], threads: int, network: str, tile: int, overlap: int,
          queue) -> None:
    import dask.array as da
    import numpy as np
    import torch
    import zarr

    from napari_a2i3dem.core.inference.reconstruction import (
        cubic_upsample_stack,
        output_shape,
        reconstruct,
    )
    from napari_a2i3dem.core.io.outputs import open_target
    from napari_a2i3dem.core.model import A2I3DEMNet, preset
    from napari_a2i3dem.core.normalization import IntensityScale

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = torch.nn.Identity() if network == "identity" else A2I3DEMNet(preset(network)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        source = zarr.open_array(f"{tmp}/in.zarr", mode="w", shape=shape, dtype="uint8",
                                 chunks=(shape[0], 64, 64))
        for y in range(0, shape[1], 64):
            source[:, y:y + 64] = rng.integers(0, 256, (shape[0], min(64, shape[1] - y),
                                                        shape[2]), dtype=np.uint8)
        lazy = da.from_zarr(source)
        scale = IntensityScale.from_stack(lazy)
        out_shape = output_shape(shape, RATIO)
        target = open_target(Path(tmp) / "out.zarr", out_shape, "uint8", (1.0, 1.0, 1.0))
        # warm-up outside the measurement (allocator, first-call overheads)
        list(reconstruct(lazy[:, :32], net, RATIO, tile=tile, overlap=overlap, batch=BATCH,
                         scale=scale))
        before = _reset_peak()
        started = time.perf_counter()
        last = None
        for piece in reconstruct(lazy, net, RATIO, tile=tile, overlap=overlap, batch=BATCH,
                                 scale=scale):
            target.write(piece.rows, piece.data, piece.planes)
            last = piece.progress
        target.commit()
        elapsed = time.perf_counter() - started
        peak = _rss_mib()
        stack = np.asarray(source[:])
        started = time.perf_counter()
        cubic_upsample_stack(stack, RATIO)
        cubic_s = time.perf_counter() - started
    voxels = int(np.prod(out_shape))
    queue.put({
        "network": network, "tile": tile, "shape": list(shape), "out_shape": list(out_shape),
        "seconds": round(elapsed, 2),
        "mvoxels_per_s": round(voxels / elapsed / 1e6, 4),
        "planes_per_s": round(last.planes_total / elapsed, 2),
        "rss_before_mib": round(before, 1), "rss_peak_mib": round(peak, 1),
        "rss_growth_mib": round(peak - before, 1),
        "out_mib": round(voxels / 2**20, 1), "cubic_s": round(cubic_s, 4),
        "time_vs_cubic": round(elapsed / cubic_s, 1),
    })


def run_case(shape, threads, network="tiny", tile=TILE, overlap=OVERLAP):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_case, args=(shape, threads, network, tile, overlap, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small cases per series")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--depth-sweep", action="store_true",
                        help="only the engine's peak memory against output depth (100, 400, "
                             "1000 planes of 512 x 512; tile 64; identity network and tiny)")
    args = parser.parse_args(argv)
    if args.depth_sweep:
        sweep = [run_case((depth_in, 512, 512), args.threads, network, TILE, OVERLAP)
                 for network in ("identity", "tiny") for depth_in in (34, 134, 334)]
        for case in sweep:
            print(json.dumps(case), flush=True)
        if args.json:
            args.json.write_text(json.dumps({"settings": {"ratio": RATIO, "tile": TILE,
                                                          "overlap": OVERLAP, "batch": BATCH},
                                             "depth_sweep": sweep}, indent=2))
        return 0
    rows = (96, 192, 384) if not args.quick else (96, 192)
    depths = (8, 16, 32) if not args.quick else (8, 16)
    results = {"settings": {"ratio": RATIO, "tile": TILE, "overlap": OVERLAP, "batch": BATCH,
                            "threads": args.threads, "model": "tiny (random weights)"},
               "growing_rows": [], "growing_depth": [], "engine_only_rows": []}
    for y in rows:
        results["growing_rows"].append(run_case((8, y, 64), args.threads))
        print(json.dumps(results["growing_rows"][-1]), flush=True)
    for z in depths:
        results["growing_depth"].append(run_case((z, 96, 64), args.threads))
        print(json.dumps(results["growing_depth"][-1]), flush=True)
    # Engine alone (identity network, tile 256): outputs far larger than the working set.
    for y in ((1024, 2048, 4096) if not args.quick else (1024, 2048)):
        results["engine_only_rows"].append(run_case((8, y, 256), args.threads, "identity",
                                                    256, 32))
        print(json.dumps(results["engine_only_rows"][-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
