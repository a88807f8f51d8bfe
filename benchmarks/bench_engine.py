"""How well the engine uses the machine: throughput as a fraction of the measured matmul peak.

Usage (repository root, project venv)::

    python benchmarks/bench_engine.py                 # tiny: reconstruction + training step
    python benchmarks/bench_engine.py --presets tiny small --profile
    python benchmarks/bench_engine.py --child ...     # (internal: one measurement per process)

For every preset it measures, each in a fresh process (so the allocator setting, the page faults
and the peak RSS belong to that measurement alone):

* the machine's own fp32 and bf16 matmul peak (2048^2 ``torch.mm``, same threads);
* a reconstruction of a synthetic 84 x 250 x 250 stack at rho = 3 (the 250^3 FIB-SEM benchmark
  geometry) with a random network: output voxels/s, achieved GFLOP/s (FLOPs counted with
  ``torch.utils.flop_counter`` on the plane batches the run feeds the network, cross-checked with
  ``core.model.cost``), fraction of the fp32 peak, user vs system CPU time, minor page faults,
  peak RSS; with the allocator setting (default) and without it (``A2I3DEM_MALLOC_TUNING=0``);
* training steps/s at batch 8, 64^2 patches (forward + backward + Adam), GFLOP/s and the fraction;
* with ``--profile``: a torch.profiler table of where a reconstruction's time goes.

Results: ``benchmarks/results/engine_<device>.json``; docs/hardware.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
STACK_SHAPE = tuple(int(v) for v in os.environ.get("A2I3DEM_BENCH_STACK", "84,250,250").split(","))
RATIO = 3.0


def matmul_peak(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of ``torch.mm`` on ``size``^2 matrices (best of ``repeats``)."""
    a = torch.rand(size, size, dtype=dtype)
    b = torch.rand(size, size, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best / 1e9


def _usage() -> dict:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"user_s": r.ru_utime, "system_s": r.ru_stime, "minor_faults": r.ru_minflt,
            "peak_rss_mb": r.ru_maxrss / 1024.0}


def _delta(before: dict, after: dict) -> dict:
    return {"user_s": round(after["user_s"] - before["user_s"], 2),
            "system_s": round(after["system_s"] - before["system_s"], 2),
            "minor_faults": int(after["minor_faults"] - before["minor_faults"]),
            "peak_rss_mb": round(after["peak_rss_mb"], 1)}


def network_flops(model: torch.nn.Module, shape: tuple[int, ...], backward: bool = False) -> int:
    """FLOPs of one forward pass on an input of ``shape`` (flop_counter); with ``backward``, of
    forward + backward, counted as three forwards (the backward of a matrix product or a
    convolution is two products of the forward's size). The counter's own backward figure is not
    used: its formula for ``convolution_backward`` ignores ``groups``, so it gave the depth-wise
    convolutions 27x their forward cost (12.9 GFLOP for a 0.48 GFLOP forward, ``tiny``, 8 x 64^2).
    """
    from torch.utils.flop_counter import FlopCounterMode

    from napari_a2i3dem.core.model.attention import set_attention_backend

    x = torch.rand(*shape)
    counter = FlopCounterMode(display=False)
    # the counter does not see the CPU SDPA kernel that inference uses; the plain attention does
    # the same arithmetic in matmuls it counts
    set_attention_backend("manual")
    try:
        with counter, torch.inference_mode():
            model(x)
    finally:
        set_attention_backend("auto")
    forward = int(counter.get_total_flops())
    return 3 * forward if backward else forward


class CountingModule(torch.nn.Module):
    """Wraps the network and counts the input shapes it is called with (to count FLOPs)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.shapes: dict[tuple[int, ...], int] = {}

    def forward(self, x):
        key = tuple(x.shape)
        self.shapes[key] = self.shapes.get(key, 0) + 1
        return self.inner(x)


def measure_reconstruction(preset_name: str, profile: bool) -> dict:
    from napari_a2i3dem.core.inference.reconstruction import reconstruct_volume
    from napari_a2i3dem.core.model import A2I3DEMNet, estimate_flops, preset

    torch.manual_seed(0)
    config = preset(preset_name)
    model = CountingModule(A2I3DEMNet(config).eval())
    stack = np.random.default_rng(0).integers(0, 255, STACK_SHAPE, dtype=np.uint8)
    reconstruct_volume(stack[:6, :64, :64], model, RATIO, confidence=False)  # warm-up
    model.shapes.clear()
    before = _usage()
    started = time.perf_counter()
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            volume, _ = reconstruct_volume(stack, model, RATIO, confidence=False)
    else:
        volume, _ = reconstruct_volume(stack, model, RATIO, confidence=False)
    wall = time.perf_counter() - started
    usage = _delta(before, _usage())
    flops = sum(count * network_flops(model.inner, shape) for shape, count in
                model.shapes.items())
    estimate = sum(count * shape[0] * estimate_flops(config, tuple(shape[2:]))
                   for shape, count in model.shapes.items())
    result = {"voxels": int(volume.size), "wall_s": round(wall, 2),
              "voxels_per_s": volume.size / wall, "network_flops": flops,
              "cost_model_flops": int(estimate), "gflops_per_s": flops / wall / 1e9,
              "batches": {"x".join(map(str, k)): v for k, v in model.shapes.items()}, **usage}
    if profile:
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18)
        result["profile"] = table
    return result


def measure_training(preset_name: str, steps: int) -> dict:
    from napari_a2i3dem.core.model import A2I3DEMNet, A2ILoss, preset

    torch.manual_seed(0)
    model = A2I3DEMNet(preset(preset_name)).train()
    loss_fn = A2ILoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = torch.rand(8, 1, 64, 64), torch.rand(8, 1, 64, 64)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    for _ in range(3):
        step()
    before = _usage()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    wall = time.perf_counter() - started
    flops = network_flops(model, (8, 1, 64, 64), backward=True)
    return {"steps_per_s": steps / wall, "flops_per_step": flops,
            "gflops_per_s": flops * steps / wall / 1e9, **_delta(before, _usage())}


def child(args) -> int:
    torch.set_num_threads(args.threads)
    from napari_a2i3dem.core.allocator import tune_allocator
    from napari_a2i3dem.core.devices import cpu_bf16_is_fast

    tune_allocator()  # what reconstruct() and Trainer.run() do (a no-op when switched off)
    out = {"bf16_inference": cpu_bf16_is_fast(), "fp32_peak_gflops": matmul_peak(torch.float32),
           "bf16_peak_gflops": matmul_peak(torch.bfloat16, size=1024, repeats=2)}
    if args.child == "reconstruction":
        out.update(measure_reconstruction(args.preset, args.profile))
    else:
        out.update(measure_training(args.preset, args.train_steps))
    print(json.dumps(out))
    return 0


def run_child(kind: str, preset_name: str, threads: int, settings: dict, profile: bool,
              train_steps: int = 30) -> dict:
    env = {**os.environ, **settings}
    cmd = [sys.executable, __file__, "--child", kind, "--preset", preset_name,
           "--threads", str(threads), "--train-steps", str(train_steps)] + (
               ["--profile"] if profile else [])
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--presets", nargs="+", default=["tiny"])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--profile", action="store_true", help="also a torch.profiler table")
    p.add_argument("--train-steps", type=int, default=30, help="timed training steps")
    p.add_argument("--no-untuned", action="store_true",
                   help="skip the run without the allocator setting")
    p.add_argument("--child", choices=("reconstruction", "training"), help=argparse.SUPPRESS)
    p.add_argument("--preset", default="tiny", help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, default=RESULTS / "engine_cpu.json")
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    load = os.getloadavg()[0]
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {args.threads} "
                          f"torch threads, torch {torch.__version__}, Python "
                          f"{platform.python_version()}",
               "load_average_start": load, "stack": list(STACK_SHAPE), "ratio": RATIO,
               "presets": {}}
    for name in args.presets:
        entry = {}
        variants = {"tuned": {"A2I3DEM_MALLOC_TUNING": "1"}}
        if not args.no_untuned:
            variants["tuned, fp32 inference"] = {"A2I3DEM_MALLOC_TUNING": "1",
                                                 "A2I3DEM_CPU_BF16": "0"}
            variants["untuned, fp32 (before)"] = {"A2I3DEM_MALLOC_TUNING": "0",
                                                  "A2I3DEM_CPU_BF16": "0"}
        for label, settings in variants.items():
            rec = run_child("reconstruction", name, args.threads, settings,
                            args.profile and label == "tuned")
            train = run_child("training", name, args.threads, settings, False,
                              args.train_steps)
            entry[label] = {"reconstruction": rec, "training": train}
            peak = rec["fp32_peak_gflops"]
            print(f"{name} [{label}] fp32 peak {peak:.0f} GFLOP/s, bf16 peak "
                  f"{rec['bf16_peak_gflops']:.1f} GFLOP/s; bf16 inference "
                  f"{'on' if rec['bf16_inference'] else 'off'}")
            print(f"  reconstruction {rec['voxels'] / 1e6:.1f} Mvox in {rec['wall_s']:.1f} s: "
                  f"{rec['voxels_per_s'] / 1e6:.2f} Mvox/s, {rec['gflops_per_s']:.1f} GFLOP/s = "
                  f"{100 * rec['gflops_per_s'] / peak:.0f} % of fp32 peak; user "
                  f"{rec['user_s']:.1f} s, system {rec['system_s']:.1f} s, "
                  f"{rec['minor_faults']:,} minor faults, peak RSS {rec['peak_rss_mb']:.0f} MB "
                  f"(flop counter vs cost model: {rec['network_flops'] / 1e9:.0f} vs "
                  f"{rec['cost_model_flops'] / 1e9:.0f} GFLOP)")
            print(f"  training {train['steps_per_s']:.2f} steps/s (batch 8, 64^2), "
                  f"{train['gflops_per_s']:.1f} GFLOP/s = "
                  f"{100 * train['gflops_per_s'] / train['fp32_peak_gflops']:.0f} % of fp32 "
                  f"peak; user {train['user_s']:.1f} s, system {train['system_s']:.1f} s")
            if "profile" in rec:
                print(rec["profile"])
        results["presets"][name] = entry
    results["load_average_end"] = os.getloadavg()[0]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json} (load average {load:.1f} -> {results['load_average_end']:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
