"""Short ablation runs on the quality benchmark's FIB-SEM protocol: what raises the CPU gain?

Each run trains one network on one anisotropic acquisition of the FIB-SEM truth (decimation or
thick sections, rho = 3, exactly as ``benchmarks/quality.py`` makes them) for a fixed time
budget, reconstructs the central 128 x 128 lateral crop and scores it against the truth. One
JSON line per run is appended to ``--jsonl``; ``--table`` prints the recorded runs as the
markdown table of docs/benchmarks.md.

Usage (repository root, project venv)::

    python benchmarks/quality_ablation.py --seconds 180 --label baseline
    python benchmarks/quality_ablation.py --seconds 180 --lr 8e-3 --seed 1 --label lr8e-3
    python benchmarks/quality_ablation.py --seconds 180 --channels 24 --label wider
    python benchmarks/quality_ablation.py --seconds 180 --flip-ensemble --label tta
    python benchmarks/quality_ablation.py --table

Compare runs only at the same ``--seconds`` on the same, otherwise idle machine: the budget is
wall time, so a busy machine trains fewer steps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("quality_benchmark", ROOT / "benchmarks" /
                                               "quality.py")
quality = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = quality
_spec.loader.exec_module(quality)

from napari_a2i3dem.core.analysis.metrics import psnr, ssim  # noqa: E402
from napari_a2i3dem.core.devices import autocast_dtype, precision_name  # noqa: E402
from napari_a2i3dem.core.io.tiff import read_stack  # noqa: E402
from napari_a2i3dem.core.model import load_model  # noqa: E402
from napari_a2i3dem.core.physics.calibration import estimate_degradation  # noqa: E402
from napari_a2i3dem.core.physics.degradations import DegradationConfig  # noqa: E402
from napari_a2i3dem.core.training.timebox import (  # noqa: E402
    TrainingPlan,
    interpolate_z,
    reconstruct_isotropic,
    train_model,
)

RATIO = quality.RATIO
SPACING_NM = 10.0


class FlipEnsemble(torch.nn.Module):
    """Mean of the network over the plane flipped along x, along z and both (4 passes)."""

    FLIPS = ((), (3,), (2,), (2, 3))

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        # a section map, where the network takes one, is flipped with the plane
        self.config = getattr(module, "config", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = 0
        for dims in self.FLIPS:
            y = self.module(torch.flip(x, dims) if dims else x)
            total = total + (torch.flip(y, dims) if dims else y)
        return total / len(self.FLIPS)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--acquisition", choices=("decimation", "thick"), default="decimation")
    p.add_argument("--ratio", type=int, default=RATIO, help="z reduction rho (default 3)")
    p.add_argument("--degradation", default="told",
                   choices=("told", "calibrated", "calibrated-fixed", "calibrated-fixed-quiet",
                            "default"),
                   help="told: the true profile, no noise (the benchmark's old protocol); "
                        "calibrated: estimated from the stack, widths up to one section (what a "
                        "user gets); calibrated-fixed(-quiet): the estimate alone (without its "
                        "noise); default: the "
                        "generic DegradationConfig()")
    p.add_argument("--seconds", type=float, default=180.0, help="training budget (wall time)")
    p.add_argument("--steps", type=int, help="fixed training steps instead of --seconds")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the preset's)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--channels", type=int, help="override the preset's channels C")
    p.add_argument("--depths", type=int, nargs="+", help="override the preset's stage depths")
    p.add_argument("--pixel-loss", choices=("rmse", "l1"), default="rmse",
                   help="the loss's pixel term (default: rmse, the trainer's default)")
    p.add_argument("--alpha", type=float, help="PDL weight (default: the trainer's, 0.01)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fp32", action="store_true",
                   help="train in float32 (default: bf16 mixed precision where the CPU has it)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--flip-ensemble", action="store_true",
                   help="also score the mean over x/z flips at inference (4x the passes)")
    p.add_argument("--crop", type=int, help="use a central crop of the truth (smoke tests)")
    p.add_argument("--eval-size", type=int, default=128)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--label", default="run")
    p.add_argument("--jsonl", type=Path,
                   default=ROOT / "benchmarks" / "results" / "quality_ablation.jsonl")
    p.add_argument("--table", action="store_true", help="print the recorded runs and exit")
    args = p.parse_args(argv)
    if args.seconds <= 0 or (args.steps is not None and args.steps < 1):
        p.error("the training budget must be positive")
    return args


def run(args: argparse.Namespace) -> dict:
    """Train, reconstruct and score one variant; returns its record."""
    torch.set_num_threads(args.threads)
    truth = np.asarray(read_stack(args.data / quality.FIBSEM).data)
    if args.crop:
        truth = truth[tuple(quality.central(n, args.crop) for n in truth.shape)]
    make = quality.decimate if args.acquisition == "decimation" else quality.thick_sections
    ratio = int(args.ratio)
    acquisition = make(truth, ratio)
    if args.degradation == "told":
        degradation = DegradationConfig.clean(acquisition.profile)
    elif args.degradation.startswith("calibrated"):
        estimate = estimate_degradation(acquisition.stack, float(ratio), seed=args.seed)
        print(estimate.summary(), flush=True)
        degradation = estimate.config()  # the default: widths from the estimate to 1 section
        if args.degradation != "calibrated":  # the estimate alone, at its fixed width
            width = estimate.profile.width
            degradation = replace(degradation, profile=estimate.profile, fixed_profile=True,
                                  profile_width=(width, width))
        if args.degradation == "calibrated-fixed-quiet":
            degradation = replace(degradation, noise=DegradationConfig.clean().noise)
    else:
        degradation = DegradationConfig()
    network = {}
    if args.channels:
        network["channels"] = args.channels
    if args.depths:
        network["depths"] = list(args.depths)
        network["heads"] = [2 ** i for i in range(len(args.depths))]
    patch = min(args.patch, *acquisition.stack.shape[1:])
    plan = TrainingPlan(preset=args.preset, steps=args.steps,
                        seconds=None if args.steps else args.seconds, batch_size=args.batch,
                        patch_size=patch, lr=args.lr, device="cpu", seed=args.seed,
                        degradation=degradation,
                        extra={"network": network, "mixed_precision": not args.fp32,
                               "pixel_loss": args.pixel_loss,
                               **({} if args.alpha is None else {"loss_alpha": args.alpha})})
    model_path = Path(tempfile.mkdtemp(prefix="a2i3dem-ablation-")) / "model.pt"
    started = time.perf_counter()
    finished = train_model(acquisition.stack, ratio=float(ratio),
                           spacing=(SPACING_NM * ratio, SPACING_NM, SPACING_NM), plan=plan,
                           model_path=model_path,
                           on_event=quality.progress_printer(args.label))
    train_s = time.perf_counter() - started

    rows = quality.central(truth.shape[1], args.eval_size)
    cols = quality.central(truth.shape[2], args.eval_size)
    crop = np.ascontiguousarray(acquisition.stack[:, rows, cols])
    rec, ref = quality.aligned_truth_planes(acquisition.stack.shape[0], ratio,
                                            acquisition.offset, truth.shape[0])
    aligned = truth[ref, rows, cols].astype(np.float32)

    def scores(volume: np.ndarray) -> dict:
        test = volume[rec].astype(np.float32)
        return {"psnr": round(psnr(aligned, test, data_range=255.0), 3),
                "ssim": round(ssim(aligned, test, data_range=255.0), 4)}

    cubic = scores(interpolate_z(crop, ratio, "cubic"))
    module = load_model(model_path).model
    variants = {"network": module}
    if args.flip_ensemble:
        variants["flip ensemble"] = FlipEnsemble(module)
    results = {}
    for name, net in variants.items():
        volume = reconstruct_isotropic(crop, net, float(ratio), device="cpu")
        s = scores(volume)
        results[name] = {**s, "psnr_gain": round(s["psnr"] - cubic["psnr"], 3),
                         "ssim_gain": round(s["ssim"] - cubic["ssim"], 4)}
    return {
        "label": args.label, "acquisition": args.acquisition, "ratio": ratio,
        "degradation": args.degradation, "preset": args.preset,
        "network": network, "lr": args.lr, "pixel_loss": args.pixel_loss,
        "alpha": args.alpha, "batch": args.batch, "patch": patch,
        "seed": args.seed, "threads": args.threads, "budget_s": args.seconds,
        "training_precision": precision_name(
            None if args.fp32 else autocast_dtype(torch.device("cpu"))),
        "steps": finished.step, "train_s": round(train_s, 1),
        "validation_gain": round(finished.best_psnr - finished.cubic_psnr, 3),
        "cubic": cubic, "results": results,
    }


def table(path: Path) -> str:
    """The recorded runs as a markdown table."""
    lines = ["| run | acquisition | seed | steps | validation gain (dB) | PSNR gain (dB) | "
             "SSIM gain |", "|---|---|---|---|---|---|---|"]
    for line in path.read_text().splitlines():
        r = json.loads(line)
        for name, res in r["results"].items():
            label = r["label"] if name == "network" else f"{r['label']} ({name})"
            lines.append(f"| {label} | {r['acquisition']} | {r['seed']} | {r['steps']} | "
                         f"{r['validation_gain']:+.2f} | {res['psnr_gain']:+.2f} | "
                         f"{res['ssim_gain']:+.4f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.table:
        if not args.jsonl.is_file():
            print(f"error: no recorded runs in {args.jsonl}", file=sys.stderr)
            return 2
        print(table(args.jsonl))
        return 0
    if not (args.data / quality.FIBSEM).is_file():
        print(f"error: {args.data / quality.FIBSEM} not found; give --data", file=sys.stderr)
        return 2
    record = run(args)
    print(json.dumps(record), flush=True)
    args.jsonl.parent.mkdir(parents=True, exist_ok=True)
    with args.jsonl.open("a") as f:
        f.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
