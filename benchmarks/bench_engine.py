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


def memory_bandwidth(megabytes: int = 32, repeats: int = 5) -> float:
    """GB/s of a tensor copy (bytes read + written) at the size of the network's largest maps
    (8 x 256^2 x 32 channels of bf16 = 32 MiB), best of ``repeats``: the memory roof."""
    src = torch.rand(megabytes * 2**20 // 4)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - started)
    return 2 * src.nbytes / best / 1e9


def _touched_bytes(t: torch.Tensor) -> int:
    """Bytes an operation reads or writes of ``t``: its elements, at most its storage (an
    expanded bias is read once, not once per row)."""
    return min(t.numel() * t.element_size(), t.untyped_storage().nbytes())


PRODUCTS = ("mm", "bmm", "addmm", "convolution", "scaled_dot_product", "linear")


def network_traffic(model: torch.nn.Module, shape: tuple[int, ...], bf16: bool,
                    per_op: dict | None = None) -> dict:
    """Bytes every non-view ATen operation of one inference forward reads and writes (its
    tensor arguments and results), and the share of the matrix products and convolutions: the
    traffic a pass moves through memory when no two operations are fused. With ``per_op``
    (a dict), each operation's wall time and bytes are added to it by name (CPU operations run
    synchronously, so a call's wall time is its cost)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    totals = {"bytes": 0, "products_bytes": 0}

    class Traffic(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            started = time.perf_counter()
            out = func(*args, **(kwargs or {}))
            seconds = time.perf_counter() - started
            if func.is_view:
                return out
            inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
            outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
            in_place = func.overloadpacket.__name__.endswith("_")
            shared = {t.untyped_storage().data_ptr() for t in inputs}
            if not in_place and outputs and all(
                    t.untyped_storage().data_ptr() in shared for t in outputs):
                return out  # an alias (``_unsafe_view``, ...): nothing moved
            moved = sum(_touched_bytes(t) for t in inputs + outputs)
            totals["bytes"] += moved
            if any(name in str(func) for name in PRODUCTS):
                totals["products_bytes"] += moved
            if per_op is not None:
                entry = per_op.setdefault(func.name(), {"seconds": 0.0, "bytes": 0, "calls": 0})
                entry["seconds"] += seconds
                entry["bytes"] += moved
                entry["calls"] += 1
            return out

    x = torch.rand(shape[0], model.config.input_channels, *shape[2:])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), \
            Traffic():
        model(x)
    return totals


def operation_table(model: torch.nn.Module, bf16: bool, bandwidth: float,
                    shape: tuple[int, ...] = (8, 1, 256, 256), rows: int = 12) -> list[dict]:
    """Where one forward of a reconstruction batch spends its time, per ATen operation: wall
    time, bytes moved and the bandwidth reached as a fraction of the copy bandwidth."""
    network_traffic(model, shape, bf16)  # warm-up
    per_op: dict = {}
    network_traffic(model, shape, bf16, per_op)
    total = sum(entry["seconds"] for entry in per_op.values())
    table = []
    for name, entry in sorted(per_op.items(), key=lambda item: -item[1]["seconds"])[:rows]:
        rate = entry["bytes"] / entry["seconds"] / 1e9
        table.append({"op": name, "calls": entry["calls"],
                      "ms": round(1e3 * entry["seconds"], 1),
                      "share": round(entry["seconds"] / total, 3),
                      "gb_per_s": round(rate, 1),
                      "of_copy_bandwidth": round(rate / bandwidth, 3)})
    return table


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

    from napari_a2i3dem.core.model import glen
    from napari_a2i3dem.core.model.attention import set_attention_backend

    x = torch.rand(shape[0], model.config.input_channels, *shape[2:])
    counter = FlopCounterMode(display=False)
    # the counter sees neither the CPU SDPA kernel nor oneDNN's fused conv + GELU that
    # inference uses; the plain attention and conv2d do the same arithmetic in calls it counts
    set_attention_backend("manual")
    fused = glen._fused_conv_gelu_works
    glen._fused_conv_gelu_works = False
    try:
        with counter, torch.inference_mode():
            model(x)
    finally:
        set_attention_backend("auto")
        glen._fused_conv_gelu_works = fused
    forward = int(counter.get_total_flops())
    return 3 * forward if backward else forward


class CountingModule(torch.nn.Module):
    """Wraps the network and counts the input shapes it is called with (to count FLOPs)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config  # what the network takes (its section map)
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
    from napari_a2i3dem.core.devices import autocast_dtype

    bf16 = autocast_dtype(torch.device("cpu")) is not None
    traffic = {"bytes": 0, "products_bytes": 0}
    for shape, count in model.shapes.items():
        for key, value in network_traffic(model.inner, shape, bf16).items():
            traffic[key] += count * value
    bandwidth = memory_bandwidth()
    operations = operation_table(model.inner, bf16, bandwidth)
    result = {"voxels": int(volume.size), "wall_s": round(wall, 2),
              "copy_bandwidth_gbs": bandwidth, "operations_8x256": operations,
              "bf16": bf16, "traffic_gb": round(traffic["bytes"] / 1e9, 2),
              "products_traffic_share": round(traffic["products_bytes"] / traffic["bytes"], 3),
              "voxels_per_s": volume.size / wall, "network_flops": flops,
              "cost_model_flops": int(estimate), "gflops_per_s": flops / wall / 1e9,
              "batches": {"x".join(map(str, k)): v for k, v in model.shapes.items()}, **usage}
    if profile:
        table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18)
        result["profile"] = table
    return result


def measure_training(preset_name: str, steps: int) -> dict:
    """The trainer's step on random tensors: autocast as the trainer sets it (bf16 where the
    CPU has it natively), the loss in fp32, backward, fused Adam."""
    from napari_a2i3dem.core.devices import autocast, autocast_dtype, precision_name
    from napari_a2i3dem.core.model import A2I3DEMNet, A2ILoss, preset
    from napari_a2i3dem.core.training.engine import make_adam

    cpu = torch.device("cpu")
    torch.manual_seed(0)
    model = A2I3DEMNet(preset(preset_name)).train()
    loss_fn = A2ILoss()
    optimizer = make_adam(model.parameters(), 1e-4, cpu)  # the trainer's
    x, y = torch.rand(8, model.config.input_channels, 64, 64), torch.rand(8, 1, 64, 64)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(cpu):
            prediction = model(x)
        loss_fn(prediction.float(), y).backward()
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
            "precision": precision_name(autocast_dtype(cpu)),
            "gflops_per_s": flops * steps / wall / 1e9, **_delta(before, _usage())}


def roofline(rec: dict) -> dict:
    """The least time the reconstruction's network work could take on this machine: its FLOPs
    at the matmul peak of the precision it ran in, or its memory traffic at the copy
    bandwidth, whichever is longer; and the fraction of that bound the run reached."""
    peak = rec["bf16_peak_gflops"] if rec["bf16"] else rec["fp32_peak_gflops"]
    compute_s = rec["network_flops"] / (peak * 1e9)
    memory_s = rec["traffic_gb"] / rec["copy_bandwidth_gbs"]
    bound_s = max(compute_s, memory_s)
    return {"compute_floor_s": round(compute_s, 2), "memory_floor_s": round(memory_s, 2),
            "bound": "memory" if memory_s > compute_s else "compute",
            "flops_per_byte": round(rec["network_flops"] / (rec["traffic_gb"] * 1e9), 1),
            "fraction_of_roofline": round(bound_s / rec["wall_s"], 3)}


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
            roof = rec["roofline"] = roofline(rec)
            print(f"  roofline: {rec['traffic_gb']:.0f} GB moved by unfused operations "
                  f"({100 * rec['products_traffic_share']:.0f} % by matrix products / "
                  f"convolutions), {roof['flops_per_byte']} FLOP/byte; floors: compute "
                  f"{roof['compute_floor_s']:.1f} s, memory {roof['memory_floor_s']:.1f} s at "
                  f"{rec['copy_bandwidth_gbs']:.0f} GB/s -> {roof['bound']}-bound, the run "
                  f"reached {100 * roof['fraction_of_roofline']:.0f} % of the roofline")
            print("  one forward of 8 x 256^2, per operation (ms, share, GB/s, of copy "
                  "bandwidth):")
            for row in rec["operations_8x256"]:
                print(f"    {row['op']:<40} {row['calls']:3d} calls {row['ms']:7.1f} ms "
                      f"{100 * row['share']:4.1f} % {row['gb_per_s']:6.1f} GB/s "
                      f"{100 * row['of_copy_bandwidth']:4.0f} %")
            print(f"  training {train['steps_per_s']:.2f} steps/s (batch 8, 64^2, "
                  f"{train.get('precision', 'float32')}), "
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
