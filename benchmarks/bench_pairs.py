"""Benchmark of training-pair synthesis and of the Training-pairs preview.

Usage (from the repository root, with the project's venv)::

    python benchmarks/bench_pairs.py [--data ../shared/data] [--threads 1]

Measures on ``cremi_sample.tif`` (or the procedural sample stack when the data are absent):

* ``make_pair``: ms per pair for M = 64, 128, 256 and rho = 3, 3.33, 10 with the default
  degradation;
* ``PatchPairDataset``: items per second in the main process and with a 2-worker DataLoader;
* the preview engine behind the Training-pairs widget: first call (intensity scale, real and
  acquisition-only spectra, all cached afterwards) and later calls after a settings change, M=256.

Results go to ``benchmarks/results/pairs_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from torch.utils.data import DataLoader

from napari_a2i3dem.core.normalization import IntensityScale
from napari_a2i3dem.core.physics.degradations import DegradationConfig, make_pair
from napari_a2i3dem.core.physics.sample import make_sample_stack
from napari_a2i3dem.core.training.pairs import PatchPairDataset
from napari_a2i3dem.core.training.pairs_preview import PairsPreviewEngine

REPO = Path(__file__).resolve().parents[1]


def load(data: Path) -> tuple[str, np.ndarray, float]:
    path = data / "cremi_sample.tif"
    if path.is_file():
        return "cremi_sample.tif", tifffile.imread(path), 10.0
    stack, spacing = make_sample_stack()
    return "procedural sample", stack, spacing[0] / spacing[1]


def time_per_call(fn, repeats: int) -> float:
    fn()  # warm caches (interpolation matrices)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def bench_make_pair(stack: np.ndarray) -> dict:
    scale = IntensityScale.from_stack(stack)
    rng = np.random.default_rng(0)
    config = DegradationConfig()
    results = {}
    for size in (64, 128, 256):
        patch = scale.normalize(stack[5, :size, :size])
        for ratio in (3.0, 10 / 3, 10.0):
            seconds = time_per_call(lambda p=patch, r=ratio: make_pair(p, r, config, rng), 30)
            results[f"M{size}_rho{ratio:.3g}"] = round(1000 * seconds, 2)
    return results


def bench_dataset(stack: np.ndarray, ratio: float) -> dict:
    dataset = PatchPairDataset(stack, ratio, patch_size=128, length=256, seed=0)
    start = time.perf_counter()
    for i in range(64):
        dataset[i]
    main_rate = 64 / (time.perf_counter() - start)
    loader = DataLoader(dataset, batch_size=16, num_workers=2)
    start = time.perf_counter()
    count = sum(len(batch[0]) for batch in loader)
    worker_rate = count / (time.perf_counter() - start)
    return {"items_per_s_main": round(main_rate, 1),
            "items_per_s_2_workers_incl_startup": round(worker_rate, 1)}


def bench_preview(stack: np.ndarray, ratio: float) -> dict:
    start = time.perf_counter()
    engine = PairsPreviewEngine(stack)
    config = DegradationConfig()
    engine.compute(ratio, config, patch_size=256, seed=0)
    first = time.perf_counter() - start
    later = []
    for seed, drift in enumerate((0.05, 0.1, 0.2, 0.15, 0.08), start=1):
        changed = config.with_artefact("drift", strength=(drift / 2, drift))
        later.append(engine.compute(ratio, changed, patch_size=256, seed=seed).seconds)
    return {"first_call_s": round(first, 3), "update_s_median": round(float(np.median(later)), 3),
            "update_s_max": round(float(np.max(later)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name, stack, ratio = load(args.data)
    results = {
        "data": name, "ratio": ratio, "machine": platform.processor() or platform.machine(),
        "torch_threads": args.threads,
        "make_pair_ms": bench_make_pair(stack),
        "dataset": bench_dataset(stack, ratio),
        "preview_M256": bench_preview(stack, ratio),
    }
    out = REPO / "benchmarks" / "results" / "pairs_cpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
