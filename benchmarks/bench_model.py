"""Benchmark of the A2I-3DEM network: speed, memory, cost, and the shifted-window A/B test.

Usage (from the repository root, with the project's venv)::

    python benchmarks/bench_model.py presets            # params + GFLOPs per 256^2 plane
    python benchmarks/bench_model.py train-speed        # tiny training steps/s, 1 and 2 threads
    python benchmarks/bench_model.py planes             # time + peak memory per plane and preset
    python benchmarks/bench_model.py shift-ab           # short tiny training, shift on vs off
    python benchmarks/bench_model.py all --write-docs   # everything, tables into docs/model.md

Results go to ``benchmarks/results/model_<device>.json``; ``--write-docs`` renders them as
markdown tables between ``<!-- bench:NAME -->`` markers in ``docs/model.md``.

Memory: on CPU, tracemalloc does not see torch's allocations, so every (preset, size) runs in a
fresh subprocess that samples its resident set size (psutil) every 2 ms; the figure is the peak
RSS minus the RSS just before the pass (model and input already allocated). On CUDA it is
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "model.md"
FIBSEM = ROOT.parent / "shared" / "data" / "fibsem_medulla_10nm_iso.tif"

from napari_a2i3dem.core.devices import autocast, select_device  # noqa: E402
from napari_a2i3dem.core.model import (  # noqa: E402
    PRESETS,
    A2I3DEMNet,
    A2ILoss,
    estimate_gflops,
    parameter_count,
)

SIZES = (128, 256, 512)


# --------------------------------------------------------------------------- helpers

class PeakRSS:
    """Samples this process's RSS in a thread; ``peak - start`` after the block."""

    def __init__(self, interval: float = 0.002) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.start = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs (after one warm-up run)."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _machine(device: torch.device, threads: int | None = None) -> dict:
    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    if threads is not None:
        info["threads"] = threads
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _save(name: str, device: torch.device, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"model_{device.type}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results[name] = data
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- presets

def bench_presets(device: torch.device, args) -> dict:
    rows = []
    for name, config in PRESETS.items():
        rows.append({"preset": name, "params": parameter_count(config),
                     "gflops_256": round(estimate_gflops(config, 256), 2),
                     "channels": config.channels, "levels": config.levels,
                     "depths": list(config.depths), "bottleneck_depth": config.bottleneck_depth,
                     "heads": list(config.heads), "bottleneck_heads": config.bottleneck_heads,
                     "window": config.window, "mlp_ratio": config.mlp_ratio,
                     "shift_windows": config.shift_windows})
        print(rows[-1])
    return {"rows": rows}


# --------------------------------------------------------------------------- training speed

def bench_train_speed(device: torch.device, args) -> dict:
    rows = []
    thread_counts = (1, 2) if device.type == "cpu" else (torch.get_num_threads(),)
    for preset_name in args.presets:
        for patch in (64, 96):
            for threads in thread_counts:
                torch.set_num_threads(threads)
                torch.manual_seed(0)
                model = A2I3DEMNet(PRESETS[preset_name]).to(device)
                loss_fn = A2ILoss().to(device)
                optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
                x = torch.rand(8, model.config.input_channels, patch, patch, device=device)
                y = torch.rand(8, 1, patch, patch, device=device)

                def step(model=model, loss_fn=loss_fn, optimiser=optimiser, x=x, y=y):
                    optimiser.zero_grad(set_to_none=True)
                    with autocast(device):
                        out = model(x)
                    loss_fn(out, y).backward()
                    optimiser.step()

                seconds = _timed(step, device, args.repeats * 3)
                rows.append({"preset": preset_name, "batch": 8, "patch": patch,
                             "threads": threads, "step_s": round(seconds, 4),
                             "steps_per_s": round(1 / seconds, 2)})
                print(rows[-1])
    return {"machine": _machine(device), "rows": rows}


# --------------------------------------------------------------------------- per-plane cost

def _plane_worker(preset_name: str, size: int, device_name: str, repeats: int,
                  threads: int) -> dict:
    """One (preset, size) measurement; run in a fresh process on CPU for honest memory."""
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    torch.manual_seed(0)
    model = A2I3DEMNet(PRESETS[preset_name]).to(device)
    loss_fn = torch.nn.L1Loss()
    x = torch.rand(1, model.config.input_channels, size, size, device=device)

    def forward():
        with torch.no_grad(), autocast(device):
            model(x)

    def train_pass():
        model.zero_grad(set_to_none=True)
        with autocast(device):
            out = model(x)
        loss_fn(out.float(), x).backward()

    out = {"preset": preset_name, "size": size}
    for label, fn in (("forward", forward), ("train", train_pass)):
        model.train(label == "train")
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            fn()
            torch.cuda.synchronize()
            out[f"{label}_mib"] = round((torch.cuda.max_memory_allocated() - base) / 2**20, 1)
        else:
            with PeakRSS() as rss:
                fn()
            out[f"{label}_mib"] = round(rss.delta_mib, 1)
        out[f"{label}_s"] = round(_timed(fn, device, repeats), 4)
    return out


def bench_planes(device: torch.device, args) -> dict:
    rows = []
    threads = args.threads or torch.get_num_threads()
    for preset_name in args.presets:
        for size in args.sizes:
            flops = estimate_gflops(PRESETS[preset_name], size) * 1e9
            repeats = max(1, min(args.repeats, int(2e11 // max(flops, 1))))  # cap slow cases
            if device.type == "cpu":
                command = [sys.executable, __file__, "_plane", preset_name, str(size), "cpu",
                           str(repeats), str(threads)]
                done = subprocess.run(command, capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
            else:
                row = _plane_worker(preset_name, size, str(device), repeats, threads)
            row["repeats"] = repeats
            row["forward_gflop_s"] = round(flops / 1e9 / row["forward_s"], 1)
            rows.append(row)
            print(row)
    return {"machine": _machine(device, threads if device.type == "cpu" else None),
            "rows": rows}


# --------------------------------------------------------------------------- shift A/B

def _fibsem_volume(edge: int) -> np.ndarray:
    import tifffile

    if FIBSEM.exists():
        volume = tifffile.imread(FIBSEM)
    else:  # engineer 1's sample truth as fallback
        from napari_a2i3dem.core.physics.sample import make_sample_truth

        volume = make_sample_truth(0)
    return np.asarray(volume[:edge, :edge, :edge])


def _reconstruct_planes(model, cubic: np.ndarray, ys: list[int], ratio: float,
                        device) -> np.ndarray:
    from napari_a2i3dem.core.model.inputs import wants_section_map, with_section_map

    planes = np.stack([cubic[:, y, :] for y in ys])
    planes = torch.from_numpy(with_section_map(planes, ratio) if wants_section_map(model)
                              else planes[:, None]).to(device)
    model.eval()
    with torch.no_grad(), autocast(device):
        return model(planes).float()[:, 0].cpu().numpy()


def bench_shift_ab(device: torch.device, args) -> dict:
    """Tiny trained ``steps`` steps with and without shifted windows, scored on real xz planes.

    The isotropic FIB-SEM volume is cut to every ``ratio``-th z plane; the network trains on that
    stack's own xy planes (self-supervised, like a user's run) and is scored on xz planes of the
    cubic-upsampled stack against the isotropic truth.
    """
    from napari_a2i3dem.core.analysis.metrics import psnr
    from napari_a2i3dem.core.normalization import IntensityScale
    from napari_a2i3dem.core.physics.acquisition import SliceProfile, upsample_axis
    from napari_a2i3dem.core.physics.degradations import DegradationConfig
    from napari_a2i3dem.core.training.pairs import PatchPairDataset

    torch.set_num_threads(args.threads or 2)
    ratio = 3
    truth_u8 = _fibsem_volume(args.edge)
    sparse = truth_u8[::ratio]
    scale = IntensityScale.from_stack(sparse)
    truth = scale.normalize(truth_u8)
    cubic = upsample_axis(scale.normalize(sparse), ratio, axis=0, out_len=truth.shape[0])
    ys = list(np.linspace(8, truth.shape[1] - 9, args.eval_planes).astype(int))
    reference = np.stack([truth[:, y, :] for y in ys])
    cubic_planes = np.stack([cubic[:, y, :] for y in ys])
    cubic_psnr = psnr(reference, cubic_planes, data_range=1.0)
    # Point sampling (every ratio-th plane) is what the acquisition here did.
    degradation = DegradationConfig.clean(SliceProfile("none"))
    rows = []
    for seed in range(args.seeds):
        for shift in (False, True):
            torch.manual_seed(seed)
            config = PRESETS["tiny"].with_changes(shift_windows=shift)
            model = A2I3DEMNet(config).to(device)
            loss_fn = A2ILoss().to(device)
            optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
            schedule = torch.optim.lr_scheduler.OneCycleLR(
                optimiser, max_lr=args.lr, total_steps=args.steps, pct_start=0.05)
            data = PatchPairDataset(sparse, ratio, degradation, patch_size=args.patch,
                                    scale=scale, seed=seed, length=args.steps * args.batch,
                                    section_channel=config.section_input)
            t0 = time.perf_counter()
            for step in range(args.steps):
                items = [data[step * args.batch + i] for i in range(args.batch)]
                x = torch.stack([a for a, _ in items]).to(device)
                y = torch.stack([b for _, b in items]).to(device)
                model.train()
                optimiser.zero_grad(set_to_none=True)
                with autocast(device):
                    out = model(x)
                loss_fn(out, y).backward()
                optimiser.step()
                schedule.step()
            seconds = time.perf_counter() - t0
            prediction = _reconstruct_planes(model, cubic, ys, ratio, device)
            rows.append({"seed": seed, "shift": shift, "steps": args.steps,
                         "train_s": round(seconds, 1),
                         "psnr": round(psnr(reference, prediction, data_range=1.0), 3),
                         "cubic_psnr": round(cubic_psnr, 3)})
            rows[-1]["gain_db"] = round(rows[-1]["psnr"] - cubic_psnr, 3)
            print(rows[-1], flush=True)
    return {"machine": _machine(device, args.threads or 2), "ratio": ratio,
            "volume": FIBSEM.name if FIBSEM.exists() else "make_sample_truth(0)",
            "edge": args.edge, "batch": args.batch, "patch": args.patch, "lr": args.lr,
            "eval_planes": args.eval_planes, "rows": rows}


# --------------------------------------------------------------------------- docs

def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine_line(machine: dict) -> str:
    parts = [f"{k}: {v}" for k, v in machine.items()]
    return "_Measured on " + ", ".join(parts) + "._"


def render(results: dict) -> dict[str, str]:
    blocks = {}
    if "presets" in results:
        rows = [[r["preset"], f"{r['params']:,}", r["gflops_256"], r["channels"], r["levels"],
                 f"{tuple(r['depths'])} + {r['bottleneck_depth']}",
                 f"{tuple(r['heads'])} + {r['bottleneck_heads']}", r["window"], r["mlp_ratio"],
                 "yes" if r["shift_windows"] else "no"]
                for r in results["presets"]["rows"]]
        blocks["presets"] = _table(
            ["preset", "parameters", "GFLOPs / 256² plane", "C", "K", "blocks (enc + bottleneck)",
             "heads", "window", "GLEN ratio", "shifted windows"], rows)
    if "train-speed" in results:
        data = results["train-speed"]
        rows = [[r["preset"], f"8 × {r['patch']}²", r["threads"], f"{r['step_s'] * 1e3:.0f}",
                 r["steps_per_s"]] for r in data["rows"]]
        blocks["train-speed"] = _table(
            ["preset", "batch", "threads", "ms / step", "steps / s"], rows
        ) + "\n\n" + _machine_line(data["machine"])
    if "planes" in results:
        data = results["planes"]
        rows = [[r["preset"], f"{r['size']}²", f"{r['forward_s'] * 1e3:.0f}",
                 f"{r['train_s'] * 1e3:.0f}", r["forward_mib"], r["train_mib"],
                 r["forward_gflop_s"], r["repeats"]] for r in data["rows"]]
        blocks["planes"] = _table(
            ["preset", "plane", "forward ms", "forward + backward ms", "forward peak MiB",
             "forward + backward peak MiB", "forward GFLOP/s", "repeats"], rows
        ) + "\n\n" + _machine_line(data["machine"])
    if "shift-ab" in results:
        data = results["shift-ab"]
        rows = [[r["seed"], "on" if r["shift"] else "off", r["steps"], r["train_s"],
                 r["cubic_psnr"], r["psnr"], f"{r['gain_db']:+.2f}"] for r in data["rows"]]
        gains = {s: [r["gain_db"] for r in data["rows"] if r["shift"] == s] for s in (False, True)}
        summary = (f"Mean gain over cubic: shift off {np.mean(gains[False]):+.2f} dB, "
                   f"shift on {np.mean(gains[True]):+.2f} dB "
                   f"({len(gains[True])} seed(s)); ρ = {data['ratio']}, {data['volume']} "
                   f"cropped to {data['edge']}³, batch {data['batch']} × {data['patch']}², "
                   f"peak lr {data['lr']}, PSNR over {data['eval_planes']} xz planes.")
        blocks["shift-ab"] = _table(
            ["seed", "shifted windows", "steps", "train s", "cubic PSNR dB", "tiny PSNR dB",
             "gain dB"], rows) + "\n\n" + summary + "\n\n" + _machine_line(data["machine"])
    return blocks


def write_docs(results: dict) -> None:
    text = DOCS.read_text()
    for name, block in render(results).items():
        start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
        if start not in text:
            print(f"docs/model.md has no {start} marker; skipped")
            continue
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{block}\n{end}{tail}"
    tmp = DOCS.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, DOCS)
    print(f"updated {DOCS}")


BENCHES = {"presets": bench_presets, "train-speed": bench_train_speed, "planes": bench_planes,
           "shift-ab": bench_shift_ab}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_plane":
        preset_name, size, device_name, repeats, threads = argv[1:6]
        print(json.dumps(_plane_worker(preset_name, int(size), device_name, int(repeats),
                                       int(threads))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bench", choices=[*BENCHES, "all", "docs"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=400, help="shift-ab: steps per arm")
    parser.add_argument("--seeds", type=int, default=2, help="shift-ab: seeds per arm")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--edge", type=int, default=192, help="shift-ab: volume crop edge")
    parser.add_argument("--eval-planes", type=int, default=12)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    device = select_device(args.device)
    names = list(BENCHES) if args.bench == "all" else [] if args.bench == "docs" else [args.bench]
    for name in names:
        if name == "train-speed" and args.presets == list(PRESETS):
            run_args = argparse.Namespace(**{**vars(args), "presets": ["tiny"]})
        else:
            run_args = args
        _save(name, device, BENCHES[name](device, run_args))
    if args.write_docs or args.bench == "docs":
        path = RESULTS / f"model_{device.type}.json"
        write_docs(json.loads(path.read_text()))


if __name__ == "__main__":
    main()
