"""Does the tile size change the reconstruction's quality, and what does it cost?

Reconstructs the FIB-SEM truth decimated along z (every ``--ratio``-th plane, as
``benchmarks/quality.py`` makes it) with one trained model at several ``--tile`` sizes and scores
every volume against the truth (PSNR on the planes between the first and last section), with the
voxels the network computed per output voxel (:func:`computed_fraction`, where the installed code
has it), wall and user time. Run it against another checkout with ``PYTHONPATH=OTHER/src`` to
compare two tilings on the same model.

Usage (repository root, project venv)::

    python benchmarks/bench_tiles.py --model MODEL.pt --tiles 256 224 192 160 --json out.json
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_a2i3dem.core.analysis.metrics import psnr
from napari_a2i3dem.core.analysis.scoring import aligned_truth_planes
from napari_a2i3dem.core.inference import reconstruction, tiling
from napari_a2i3dem.core.io.tiff import read_stack
from napari_a2i3dem.core.model import load_model

ROOT = Path(__file__).resolve().parents[1]
FIBSEM = "fibsem_medulla_10nm_iso.tif"


def computed(shape: tuple[int, int, int], tile: int, overlap: int, module) -> float | None:
    """The network's voxels per output voxel, as the installed tiling computes them."""
    if not hasattr(tiling, "computed_fraction"):
        return None
    if "multiple" in inspect.signature(tiling.computed_fraction).parameters:
        multiple = int(getattr(getattr(module, "config", None), "size_multiple", 1) or 1)
        return tiling.computed_fraction(shape, tile, overlap, multiple)
    return tiling.computed_fraction(shape, tile, overlap)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--tiles", type=int, nargs="+", default=[256, 224, 192, 160])
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--ratio", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if not (args.data / FIBSEM).is_file():
        print(f"error: {args.data / FIBSEM} not found; give --data", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    truth = np.asarray(read_stack(args.data / FIBSEM).data)
    stack = truth[::args.ratio].astype(np.float32)
    module = load_model(args.model).model
    rec, ref = aligned_truth_planes(stack.shape[0], args.ratio, 0, truth.shape[0])
    aligned = truth[ref].astype(np.float32)
    out_shape = reconstruction.output_shape(stack.shape, args.ratio)
    runs = []
    for tile in args.tiles:
        started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        volume, _ = reconstruction.reconstruct_volume(stack, module, float(args.ratio),
                                                      tile=tile, overlap=args.overlap,
                                                      device="cpu", confidence=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_SELF)
        score = psnr(aligned, volume[rec].astype(np.float32), data_range=255.0)
        run = {"tile": tile, "computed_fraction": computed(out_shape, tile, args.overlap, module),
               "psnr": round(float(score), 4), "wall_s": round(wall, 2),
               "user_s": round(after.ru_utime - cpu.ru_utime, 2),
               "system_s": round(after.ru_stime - cpu.ru_stime, 2)}
        runs.append(run)
        print(json.dumps(run), flush=True)
    payload = {"code": os.environ.get("PYTHONPATH", "installed"), "model": str(args.model),
               "stack": list(stack.shape), "output": list(out_shape), "runs": runs,
               "load": os.getloadavg()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
