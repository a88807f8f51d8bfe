"""Benchmark of the training engine on this machine's CPU.

Usage (from the repository root, with the project's venv)::

    python benchmarks/bench_training.py speed            # steps/s per preset (short runs)
    python benchmarks/bench_training.py workers          # tiny steps/s with 0, 1, 2 loader workers
    python benchmarks/bench_training.py curve            # tiny: validation PSNR vs time (minutes)
    python benchmarks/bench_training.py lr               # tiny: peak learning rates compared
    python benchmarks/bench_training.py all --write-docs # speed + workers + curve, into the docs

Every run uses the engine exactly as the CLI and the widget do (``Trainer.run()``), on the
procedural sample stack (``core.sample.make_sample_stack``: 32 x 256 x 256, rho = 3). Results go
to ``benchmarks/results/training_<device>.json``; ``curve`` also draws
``docs/images/training_curve.png``; ``--write-docs`` renders the tables between
``<!-- bench:NAME -->`` markers in ``docs/training.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "training.md"
CURVE_PNG = ROOT / "docs" / "images" / "training_curve.png"

from napari_a2i3dem.core.physics.sample import make_sample_stack  # noqa: E402
from napari_a2i3dem.core.training.config import TrainConfig, recommended_patch_size  # noqa: E402
from napari_a2i3dem.core.training.engine import Trainer  # noqa: E402
from napari_a2i3dem.core.training.events import (  # noqa: E402
    StepProgress,
    TrainingFinished,
    TrainingStarted,
    ValidationResult,
)

SPEED_STEPS = {"tiny": 30, "small": 10, "base": 2}


def machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load_average_1min": os.getloadavg()[0]}


def timed_run(config: TrainConfig) -> dict:
    """Run the engine; steps/s over the training steps only (set-up timed separately)."""
    stack, spacing = make_sample_stack()
    t0 = time.perf_counter()
    first_step = last = None
    params = 0
    for event in Trainer(stack, spacing=spacing, config=config).run():
        now = time.perf_counter()
        if isinstance(event, TrainingStarted):
            params = event.parameters
            setup = now - t0
        elif isinstance(event, StepProgress):
            if event.step == 1:
                first_step = now
            last = (now, event.step)
    steps_timed = last[1] - 1
    rate = steps_timed / (last[0] - first_step) if steps_timed > 0 else float("nan")
    return {"steps_per_second": rate, "setup_seconds": setup, "parameters": params,
            "batch_size": config.batch_size, "patch_size": config.patch_size,
            "num_workers": config.resolved_workers(torch.device("cpu"))}


def bench_speed(batch: int, patch: int | None, presets: list[str]) -> dict:
    out = {}
    for preset in presets:
        steps = SPEED_STEPS[preset]
        size = patch or recommended_patch_size(preset)
        config = TrainConfig(preset=preset, steps=steps, batch_size=batch, patch_size=size,
                             device="cpu", validation_every=10_000, preview_every=10_000,
                             validation_count=8)
        out[preset] = timed_run(config)
        print(f"speed {preset}: {out[preset]['steps_per_second']:.2f} steps/s", flush=True)
    return out


def bench_workers(batch: int, patch: int) -> dict:
    out = {}
    for workers in (0, 1, 2):
        config = TrainConfig(preset="tiny", steps=30, batch_size=batch, patch_size=patch or 64,
                             device="cpu", num_workers=workers, validation_every=10_000,
                             preview_every=10_000, validation_count=8)
        out[str(workers)] = timed_run(config)
        print(f"workers {workers}: {out[str(workers)]['steps_per_second']:.2f} steps/s",
              flush=True)
    return out


def curve_run(config: TrainConfig) -> dict:
    stack, spacing = make_sample_stack()
    t0 = time.perf_counter()
    points, losses = [], []
    for event in Trainer(stack, spacing=spacing, config=config).run():
        if isinstance(event, StepProgress):
            losses.append((event.step, event.loss))
        elif isinstance(event, ValidationResult):
            points.append({"step": event.step, "seconds": time.perf_counter() - t0,
                           "network_psnr": event.network.psnr, "cubic_psnr": event.cubic.psnr,
                           "network_ssim": event.network.ssim, "cubic_ssim": event.cubic.ssim})
            print(f"  step {event.step:4d} {points[-1]['seconds']:6.1f}s  PSNR "
                  f"{event.network.psnr:.2f} (cubic {event.cubic.psnr:.2f})", flush=True)
        elif isinstance(event, TrainingFinished):
            total = event.elapsed_seconds
    return {"config": config.to_dict(), "lr": config.resolved_lr(), "validation": points,
            "loss": losses, "seconds": total}


def bench_curve(steps: int, threads: int) -> dict:
    config = TrainConfig(preset="tiny", steps=steps, batch_size=8, patch_size=64, device="cpu",
                         validation_every=max(1, steps // 15), validation_count=32)
    result = curve_run(config)
    plot_curve(result, threads)
    return result


def bench_lr(steps: int, rates: list[float]) -> dict:
    out = {}
    for lr in rates:
        print(f"lr {lr:g}", flush=True)
        config = TrainConfig(preset="tiny", steps=steps, batch_size=8, patch_size=64,
                             device="cpu", lr=lr, validation_every=max(1, steps // 4),
                             validation_count=32)
        out[f"{lr:g}"] = curve_run(config)
    return out


def running_mean(values: list[float], window: int = 20) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_curve(result: dict, threads: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    val = result["validation"]
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(9, 3.4), tight_layout=True)
    steps, losses = [s for s, _ in result["loss"]], [v for _, v in result["loss"]]
    ax_loss.plot(steps, losses, lw=0.6, color="0.7", label="per step")
    ax_loss.plot(steps, running_mean(losses), lw=1.5, color="tab:blue", label="mean of 20")
    ax_loss.legend(loc="upper right", fontsize="small")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("training loss (L1 + 0.01 PDL)")
    seconds = [p["seconds"] for p in val]
    ax_psnr.plot(seconds, [p["network_psnr"] for p in val], "o-", ms=3, label="network")
    ax_psnr.plot(seconds, [p["cubic_psnr"] for p in val], "--", color="0.4", label="cubic")
    ax_psnr.set_xlabel(f"seconds (CPU, {threads} torch thread(s))")
    ax_psnr.set_ylabel("validation PSNR (dB)")
    ax_psnr.legend(loc="lower right")
    fig.suptitle(f"tiny preset, batch 8, 64x64 patches, lr {result['lr']:g}, sample stack")
    CURVE_PNG.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(CURVE_PNG, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------ docs
def render(results: dict) -> dict[str, str]:
    blocks = {}
    if "speed" in results:
        rows = ["| preset | parameters | patch | steps/s | s/step | set-up (s) |",
                "|---|---|---|---|---|---|"]
        for preset, r in results["speed"].items():
            rows.append(f"| {preset} | {r['parameters'] / 1e6:.2f} M | {r['patch_size']} | "
                        f"{r['steps_per_second']:.2f} | {1 / r['steps_per_second']:.2f} | "
                        f"{r['setup_seconds']:.1f} |")
        blocks["speed"] = "\n".join(rows)
    if "workers" in results:
        rows = ["| loader workers | steps/s (tiny) |", "|---|---|"]
        rows += [f"| {w} | {r['steps_per_second']:.2f} |" for w, r in results["workers"].items()]
        blocks["workers"] = "\n".join(rows)
    if "curve" in results:
        rows = ["| step | seconds | network PSNR (dB) | cubic PSNR (dB) | network SSIM | "
                "cubic SSIM |", "|---|---|---|---|---|---|"]
        for p in results["curve"]["validation"]:
            rows.append(f"| {p['step']} | {p['seconds']:.0f} | {p['network_psnr']:.2f} | "
                        f"{p['cubic_psnr']:.2f} | {p['network_ssim']:.3f} | "
                        f"{p['cubic_ssim']:.3f} |")
        blocks["curve"] = "\n".join(rows)
    if "lr" in results:
        rows = ["| peak lr | final validation PSNR (dB) | cubic (dB) | gain (dB) |",
                "|---|---|---|---|"]
        for lr, r in results["lr"].items():
            last = r["validation"][-1]
            rows.append(f"| {lr} | {last['network_psnr']:.2f} | {last['cubic_psnr']:.2f} | "
                        f"{last['network_psnr'] - last['cubic_psnr']:+.2f} |")
        blocks["lr"] = "\n".join(rows)
    if "machine" in results:
        m = results["machine"]
        blocks["machine"] = (f"Measured with torch {m['torch']} on {m['cores']} CPU cores, "
                             f"{m['threads']} torch thread(s); 1-minute load average "
                             f"{m['load_average_1min']:.1f} at the start, "
                             f"{m.get('load_average_1min_end', float('nan')):.1f} at the end "
                             f"(the benchmark's own work included; above the core count, other "
                             f"jobs shared the machine).")
    return blocks


def write_docs(results: dict) -> None:
    text = DOCS.read_text()
    for name, block in render(results).items():
        start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
        if start in text and end in text:
            head, rest = text.split(start, 1)
            _, tail = rest.split(end, 1)
            text = f"{head}{start}\n{block}\n{end}{tail}"
    DOCS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("speed", "workers", "curve", "lr", "all", "docs"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, help="default: 64 (128 for base)")
    parser.add_argument("--curve-steps", type=int, default=240)
    parser.add_argument("--lr-steps", type=int, default=120)
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-4, 5e-4, 1e-3, 2e-3, 4e-3])
    parser.add_argument("--presets", nargs="+", default=list(SPEED_STEPS),
                        choices=list(SPEED_STEPS), help="presets for 'speed'")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "training_cpu.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if args.what != "docs":
        results["machine"] = machine()
    stages = {
        "speed": lambda: {**results.get("speed", {}),
                          **bench_speed(args.batch, args.patch, args.presets)},
        "workers": lambda: bench_workers(args.batch, args.patch),
        "curve": lambda: bench_curve(args.curve_steps, args.threads),
        "lr": lambda: bench_lr(args.lr_steps, args.rates),
    }
    chosen = ["speed", "workers", "curve"] if args.what == "all" else [args.what]
    for name in chosen:
        if name in stages:
            results[name] = stages[name]()
            results["machine"]["load_average_1min_end"] = os.getloadavg()[0]
            path.write_text(json.dumps(results, indent=1))  # after each stage
    if args.what == "docs" and "curve" in results:
        plot_curve(results["curve"], results["machine"]["threads"])
    if args.write_docs or args.what == "docs":
        write_docs(results)


if __name__ == "__main__":
    main()
