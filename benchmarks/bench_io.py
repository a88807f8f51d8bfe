"""Benchmark of stack I/O and of the sample generator.

Usage (from the repository root, with the project's venv)::

    python benchmarks/bench_io.py [--data ../shared/data] [--size-mib 512] [--tmp DIR]

Measures, on a synthetic uint8 ImageJ TIFF of ``--size-mib`` MiB (1024 x 1024 planes) and on the
real ``sstem_vnc_stack1.tif`` when the data folder is there:

* ``read_stack`` in memory (s, MiB/s) and lazily: open time (header only), first plane, the
  whole stack computed with dask; peak RSS increase for the lazy open (should be ~0);
* ``write_stack`` from NumPy and from a lazy dask array (plane by plane) in MiB/s;
* ``make_sample_stack`` + ``make_sample_truth`` cold (first call) and cached.

Results go to ``benchmarks/results/io_cpu.json``; the first lazy open in a process (imports of
dask and zarr, their thread pools) is reported apart. Times depend on the disk cache: the file
was just written, so reads are mostly from the page cache (an upper bound for a cold disk).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from napari_a2i3dem.core.io.tiff import read_stack
from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.physics import sample

REPO = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def timed(func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return result, time.perf_counter() - start


def bench_file(path: Path, size_mib: float) -> dict:
    out: dict = {"file": path.name, "size_mib": round(size_mib, 1)}
    loaded, seconds = timed(read_stack, path, lazy=False)
    out["read_in_memory_s"] = round(seconds, 3)
    out["read_in_memory_mib_s"] = round(size_mib / seconds, 1)
    del loaded
    before = rss_mib()
    lazy, seconds = timed(read_stack, path, lazy=True)
    out["lazy_open_s"] = round(seconds, 4)
    out["lazy_open_rss_increase_mib"] = round(rss_mib() - before, 1)
    middle = lazy.shape[0] // 2
    _, seconds = timed(lambda: lazy.data[middle].compute())
    out["lazy_one_plane_s"] = round(seconds, 4)
    data, seconds = timed(lambda: lazy.data.compute())
    out["lazy_compute_all_s"] = round(seconds, 3)
    out["lazy_compute_all_mib_s"] = round(size_mib / seconds, 1)
    chunks = lazy.data.chunks[0]
    out["lazy_chunks"] = f"{len(chunks)} chunks of <= {max(chunks)} planes"
    lazy.close()
    return out, data


def bench_write(folder: Path, data: np.ndarray, lazy_source: Path, size_mib: float) -> dict:
    out: dict = {}
    _, seconds = timed(write_stack, folder / "numpy_copy.tif", data, (50.0, 5.0, 5.0))
    out["write_numpy_s"] = round(seconds, 3)
    out["write_numpy_mib_s"] = round(size_mib / seconds, 1)
    lazy = read_stack(lazy_source, lazy=True)
    _, seconds = timed(write_stack, folder / "dask_copy.tif", lazy.data, (50.0, 5.0, 5.0))
    out["write_dask_s"] = round(seconds, 3)
    out["write_dask_mib_s"] = round(size_mib / seconds, 1)
    lazy.close()
    return out


def bench_sample() -> dict:
    sample._truth.cache_clear()
    sample._stack.cache_clear()
    _, cold = timed(lambda: (sample.make_sample_truth(3), sample.make_sample_stack(3)))
    _, warm = timed(lambda: (sample.make_sample_truth(3), sample.make_sample_stack(3)))
    return {"sample_cold_s": round(cold, 3), "sample_cached_s": round(warm, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "io_cpu.json")
    args = parser.parse_args()

    results: dict = {"machine": {"cpu": platform.processor() or platform.machine(),
                                 "python": platform.python_version()}}
    results.update(bench_sample())
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Path(tmp)
        # first lazy open in a process pays for importing dask/zarr and starting their threads
        tiny = write_stack(folder / "tiny.tif", np.zeros((2, 8, 8), np.uint8), None)
        first, seconds = timed(read_stack, tiny, lazy=True)
        _, compute = timed(lambda: first.data.compute())
        results["first_lazy_open_in_process_s"] = round(seconds, 3)
        results["first_lazy_compute_in_process_s"] = round(compute, 3)
        first.close()
        planes = max(1, args.size_mib)
        rng = np.random.default_rng(0)
        volume = rng.integers(0, 256, size=(planes, 1024, 1024), dtype=np.uint8)
        synthetic = write_stack(folder / "synthetic.tif", volume, (50.0, 5.0, 5.0))
        del volume
        size = synthetic.stat().st_size / 2**20
        stats, data = bench_file(synthetic, size)
        stats.update(bench_write(folder, data, synthetic, size))
        results["synthetic"] = stats
        del data
        real = args.data / "sstem_vnc_stack1.tif"
        if real.is_file():
            stats, _ = bench_file(real, real.stat().st_size / 2**20)
            results["sstem_vnc_stack1"] = stats
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
