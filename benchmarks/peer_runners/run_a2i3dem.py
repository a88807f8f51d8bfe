"""Run A2I-3DEM on one anisotropic stack within a wall-clock budget (the project's own venv).

The same protocol as the peers' runners, so that ``benchmarks/peers.py`` times and measures
every method the same way (a child process each: its own wall time and peak memory)::

    .venv/bin/python run_a2i3dem.py --stack s.npy --ratio 3 --profile k.npy \
        --crop Y0 Y1 X0 X1 --seconds 1200 --out out.npy --report report.json

Training sees the whole stack and is told the slice profile (as the peers are); the time left
after the measured cost of reconstructing the scored crop goes to training
(``benchmarks/quality.py``'s CPU or GPU preset). The output is on the scoring grid already.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

import quality  # noqa: E402
from _protocol import runner_parser  # noqa: E402

from napari_a2i3dem.core.physics.acquisition import SliceProfile  # noqa: E402
from napari_a2i3dem.core.physics.degradations import DegradationConfig  # noqa: E402
from napari_a2i3dem.core.training.timebox import TrainingPlan  # noqa: E402

STARTUP_S = 15.0     # model building, pair synthesis warm-up and the speed probe


def main() -> int:
    p = runner_parser(__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=None, help="fixed steps instead (smoke runs)")
    p.add_argument("--preset", choices=sorted(quality.PRESETS), default="cpu")
    args = p.parse_args()
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    stack = np.load(args.stack).astype(np.float32)
    kernel = np.load(args.profile).astype(np.float64).ravel()
    profile = SliceProfile("none") if np.count_nonzero(kernel) == 1 else SliceProfile("box", 1.0)
    settings = quality.PRESETS[args.preset]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    y0, y1, x0, x1 = args.crop
    per_pixel = quality.inference_seconds_per_pixel(settings["network"], device)
    depth = round(args.ratio * (stack.shape[0] - 1)) + 1
    reconstruct_s = 1.3 * quality.reconstruction_pixels(depth, y1 - y0, x1 - x0) * per_pixel
    seconds = None
    if args.steps is None:
        seconds = max(10.0, args.seconds - (time.perf_counter() - started) - reconstruct_s
                      - STARTUP_S)
    plan = TrainingPlan(preset=settings["network"], steps=args.steps, seconds=seconds,
                        batch_size=settings["batch"],
                        patch_size=min(settings["patch"], *stack.shape[1:]),
                        lr=settings["lr"], device=device, seed=0,
                        degradation=DegradationConfig.clean(profile))
    spacing = (args.spacing * args.ratio, args.spacing, args.spacing)
    with tempfile.TemporaryDirectory(prefix="a2i3dem-peers-") as workdir:
        volume, info = quality.train_and_reconstruct(
            "A2I-3DEM", stack, spacing, plan, Path(workdir) / "model.pt",
            slice(y0, y1), slice(x0, x1), device)
    np.save(args.out, volume.astype(np.float32))
    report = {"method": "A2I-3DEM", "preset": args.preset, "network": settings["network"],
              "batch": settings["batch"], "patch": plan.patch_size,
              "training_budget_s": None if seconds is None else round(seconds, 1),
              "reconstruction_estimate_s": round(reconstruct_s, 1),
              "slice_profile": profile.to_dict(), "device": device,
              "output_shape": list(volume.shape), **info}
    args.report.write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
