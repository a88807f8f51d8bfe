"""The CPU training step's fast paths, switched on one at a time in one process.

Usage (repository root, project venv)::

    python benchmarks/bench_training_step.py --json benchmarks/results/training_step_precision.json

Times the bare training step of ``tiny`` (batch 8, 64² patches: forward, the A2I loss, backward,
fused Adam; random tensors) in four configurations — fp32 or bf16 autocast, the PDL's
prediction sorted by ``np.argsort`` or by the packed-index sort of ``core.model.loss.row_order``
— alternating them ``--rounds`` times so that a change of machine load hits all alike. bf16 is
forced on even where the CPU emulates it (then it is much slower: the package itself uses it only
where ``core.devices.cpu_bf16_is_fast``), so compare the rows on a CPU with native bf16.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from napari_a2i3dem.core.allocator import tune_allocator
from napari_a2i3dem.core.devices import cpu_bf16_is_fast
from napari_a2i3dem.core.model import A2I3DEMNet, A2ILoss, preset
from napari_a2i3dem.core.model import loss as loss_module
from napari_a2i3dem.core.training.engine import make_adam

CONFIGURATIONS = {  # name: (bf16 autocast, packed-index sort)
    "fp32, argsort (before stop 26)": (False, False),
    "fp32, packed sort": (False, True),
    "bf16, argsort": (True, False),
    "bf16, packed sort (the trainer's default where bf16 is native)": (True, True),
}


def _argsort(values: np.ndarray) -> np.ndarray:
    return np.argsort(values, axis=-1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per configuration and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tune_allocator()  # what Trainer.run() does
    torch.manual_seed(0)
    model = A2I3DEMNet(preset("tiny")).train()
    loss_fn = A2ILoss()
    optimizer = make_adam(model.parameters(), 1e-4, torch.device("cpu"))
    x, y = torch.rand(8, model.config.input_channels, 64, 64), torch.rand(8, 1, 64, 64)
    packed = loss_module.row_order

    def step(bf16: bool) -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            prediction = model(x)
        loss_fn(prediction.float(), y).backward()
        optimizer.step()

    rates: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    load_start = os.getloadavg()[0]
    try:
        for _ in range(args.rounds):
            for name, (bf16, packed_sort) in CONFIGURATIONS.items():
                loss_module.row_order = packed if packed_sort else _argsort
                for _ in range(3):
                    step(bf16)
                started = time.perf_counter()
                for _ in range(args.steps):
                    step(bf16)
                rates[name].append(args.steps / (time.perf_counter() - started))
    finally:
        loss_module.row_order = packed
    result = {
        "command": "python benchmarks/bench_training_step.py", "threads": args.threads,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch": torch.__version__, "native_bf16": cpu_bf16_is_fast()},
        "load_average": [load_start, os.getloadavg()[0]],
        "steps_per_s": {name: {"runs": [round(r, 2) for r in runs],
                               "median": round(statistics.median(runs), 2)}
                        for name, runs in rates.items()},
    }
    base = result["steps_per_s"]["fp32, argsort (before stop 26)"]["median"]
    for name, entry in result["steps_per_s"].items():
        print(f"{name:<66} {entry['median']:6.2f} steps/s ({entry['median'] / base:.2f}x)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
