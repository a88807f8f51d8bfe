"""``a2i3dem demo``: the whole pipeline on the bundled sample, headless, with a report.

sample stack (32 x 256 x 256 at 45 x 15 x 15 nm) -> synthetic training pairs from its own xy
planes -> train (tiny preset by default) -> reconstruct on the isotropic 15 nm grid -> write
the volume, the cubic interpolation, an xz comparison figure and PSNR / SSIM against the known
isotropic truth the sample was generated from.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm

from ..core.choices import DEVICE_CHOICES, PRESET_NAMES
from ..core.errors import InputError
from ..core.io.atomic import refuse_existing
from ..core.training.checkpoint import checkpoint_path_for
from ..core.training.events import StepProgress, TrainingEvent, TrainingFinished, ValidationResult
from ._common import add_overwrite_flag, positive_int

#: what the demo writes into its folder (other files there are never touched)
DEMO_FILES = ("sample_stack.tif", "model.pt", checkpoint_path_for(Path("model.pt")).name,
              "isotropic_a2i3dem.tif", "isotropic_cubic.tif", "xz_comparison.png",
              "metrics.json")

DEFAULT_STEPS = 300


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="run the whole pipeline on the bundled sample stack",
        description="Train on the bundled anisotropic sample, reconstruct it isotropically and "
                    "score cubic interpolation and A2I-3DEM against the sample's known truth.")
    p.add_argument("--out", type=Path, default=Path("demo_output"),
                   help="output folder (default demo_output)")
    p.add_argument("--steps", type=positive_int, default=DEFAULT_STEPS,
                   help=f"training steps (default {DEFAULT_STEPS}: a few minutes on 2 CPU cores)")
    p.add_argument("--preset", choices=PRESET_NAMES, default="tiny",
                   help="network size (default tiny)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto",
                   help="compute device (default: CUDA, else MPS, else CPU)")
    p.add_argument("--seed", type=int, default=0, help="sample and training seed (default 0)")
    p.add_argument("--size", type=positive_int, default=256, metavar="N",
                   help="use the central N x N pixels of the 256 x 256 sample (default: all; "
                        "smaller is faster)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_overwrite_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.figures import save_comparison_figure
    from ..core.analysis.scoring import aligned_truth_planes, format_table, score_volume, write_json
    from ..core.inference.reconstruction import cubic_upsample_stack, isotropic_spacing
    from ..core.io.tiff_writer import write_stack
    from ..core.physics.sample import SAMPLE_RATIO, make_sample_stack, make_sample_truth
    from ..core.training.timebox import (
        TrainingPlan,
        interpolate_z,
        reconstruct_isotropic,
        train_model,
    )

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the demo's results")
    if not 64 <= args.size <= 256:
        raise InputError(f"--size must be between 64 and 256 pixels, got {args.size}")
    refuse_existing(*(out / name for name in DEMO_FILES), overwrite=args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    stack, spacing = make_sample_stack(args.seed)
    truth = make_sample_truth(args.seed)
    lateral = _central(stack.shape[1], args.size), _central(stack.shape[2], args.size)
    stack, truth = stack[:, lateral[0], lateral[1]], truth[:, lateral[0], lateral[1]]
    ratio = float(SAMPLE_RATIO)
    iso_spacing = isotropic_spacing(spacing)
    say = (lambda *a: None) if args.quiet else print
    say(f"sample stack {stack.shape} at {spacing} nm (rho = {ratio:g}); "
        f"truth {truth.shape} at {iso_spacing[0]:g} nm")
    write_stack(out / "sample_stack.tif", stack, spacing)

    timings: dict[str, float] = {}
    started = time.perf_counter()
    plan = TrainingPlan(preset=args.preset, steps=args.steps, device=args.device, seed=args.seed,
                        patch_size=min(64, args.size))
    with tqdm(total=args.steps, desc="train", unit="step", disable=args.quiet) as bar:
        finished = train_model(stack, ratio=ratio, spacing=spacing, plan=plan,
                               model_path=out / "model.pt", on_event=_bar_updater(bar))
    timings["train_s"] = time.perf_counter() - started

    started = time.perf_counter()
    with tqdm(total=100, desc="reconstruct", unit="%", disable=args.quiet) as bar:
        def on_progress(progress) -> None:
            bar.n = round(100 * progress.fraction)
            bar.refresh()

        result = reconstruct_isotropic(stack, finished.model_path, ratio, device=args.device,
                                       on_progress=on_progress)
    timings["reconstruct_s"] = time.perf_counter() - started
    cubic = cubic_upsample_stack(stack, ratio)           # uint8, like the reconstruction
    write_stack(out / "isotropic_a2i3dem.tif", result, iso_spacing)
    write_stack(out / "isotropic_cubic.tif", cubic, iso_spacing)

    rec_planes, truth_planes = aligned_truth_planes(stack.shape[0], int(ratio), 0,
                                                    truth.shape[0])
    aligned_truth = truth[truth_planes]
    methods = {"nearest": interpolate_z(stack, ratio, "nearest", result.shape[0]),
               "cubic": cubic, "A2I-3DEM": result}
    scores = {name: score_volume(aligned_truth, volume[rec_planes], iso_spacing[0])
              for name, volume in methods.items()}
    y = truth.shape[1] // 2
    figure = save_comparison_figure(
        out / "xz_comparison.png",
        {"cubic": cubic[rec_planes, y], "A2I-3DEM": result[rec_planes, y],
         "truth": aligned_truth[:, y]},
        title=f"xz plane y = {y} of the sample (z up-sampled {ratio:g}x)",
        pixel_nm=iso_spacing[0])
    report = {
        "input": {"shape": list(stack.shape), "spacing_nm": list(spacing), "ratio": ratio},
        "output": {"shape": list(result.shape), "spacing_nm": list(iso_spacing)},
        "training": {"preset": args.preset, "steps": finished.step, "device": args.device,
                     "best_step": finished.best_step,
                     "validation_psnr": finished.best_psnr,
                     "validation_cubic_psnr": finished.cubic_psnr},
        "scored_planes": [rec_planes.start, rec_planes.stop],
        "scores": scores, "timings_s": timings,
        "files": {"model": "model.pt", "a2i3dem": "isotropic_a2i3dem.tif",
                  "cubic": "isotropic_cubic.tif", "figure": figure.name,
                  "input": "sample_stack.tif"},
    }
    write_json(out / "metrics.json", report)
    print(f"\nScores against the sample's isotropic truth ({rec_planes.stop} planes, "
          f"{aligned_truth.shape[1]} x {aligned_truth.shape[2]}):")
    print(format_table(scores))
    gain = scores["A2I-3DEM"]["psnr"] - scores["cubic"]["psnr"]
    print(f"\nA2I-3DEM vs cubic: {gain:+.2f} dB PSNR, "
          f"{scores['A2I-3DEM']['ssim'] - scores['cubic']['ssim']:+.4f} SSIM "
          f"after {finished.step} steps ({timings['train_s']:.0f} s training, "
          f"{timings['reconstruct_s']:.0f} s reconstruction)")
    print(f"Results in {out}/: isotropic_a2i3dem.tif, isotropic_cubic.tif, {figure.name}, "
          "metrics.json, model.pt")
    return 0


def _central(n: int, size: int) -> slice:
    start = (n - size) // 2
    return slice(start, start + size)


def _bar_updater(bar: tqdm):
    """Feed training events into a tqdm bar (loss and the latest validation PSNR)."""
    state = {"val": ""}

    def update(event: TrainingEvent) -> None:
        if isinstance(event, StepProgress):
            bar.n = event.step
            bar.set_postfix_str(f"loss {event.loss:.4f}{state['val']}", refresh=False)
            bar.refresh()
        elif isinstance(event, ValidationResult):
            state["val"] = f" · {event.describe()}"
        elif isinstance(event, TrainingFinished):
            bar.n = event.step
            bar.refresh()

    return update

