"""Run ECLARE (PyPI ``eclare``) on one anisotropic stack within a wall-clock budget.

Runs inside the ECLARE virtual environment made by ``benchmarks/peer_runners/setup_envs.sh``,
never in the project's own. Called by ``benchmarks/peers.py``::

    PEER_ENV/bin/python run_eclare.py --stack s.npy --ratio 3 --spacing 10 --profile k.npy \
        --crop Y0 Y1 X0 X1 --seconds 1200 --out out.npy --report report.json

What it does, using ECLARE's own functions and classes (none of its code is copied here):

1. The stack (float32 ``(K, Y, X)``) is written as NIfTI with voxel sizes (x, y, z) and read back
   with ECLARE's ``parse_image`` (its normalisation and axis handling).
2. The slice profile is given, not estimated (ESPRESO is skipped): a 1-D kernel on the fine
   grid, passed the way ECLARE's ``--relative-slice-profile-fpath`` passes it.
3. The budget: ECLARE trains for ``n_patches / batch`` steps, then super-resolves at 0 and 90
   degrees. Both costs are measured on this machine first (a few training steps, one xz plane
   of inference), and ``n_patches`` is set so that training plus inference fit in ``seconds``.
   The training patches come from the whole stack; only the scored crop is super-resolved.
4. The output, on ECLARE's own grid (``K * ratio`` planes, sections cell-centred), is saved as
   float32 ``(Z, Y, X)``; ``peers.py`` aligns it to the scoring grid.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from _protocol import runner_parser  # the runners' folder is sys.path[0]
from eclare.eclare import run_eclare
from eclare.models.wdsr import WDSR
from eclare.utils.blur_kernel_ops import parse_kernel
from eclare.utils.parse_image_file import parse_image
from eclare.utils.train_set import TrainSet

BATCH = 128          # ECLARE's default batch size
MIN_STEPS = 4        # fewest training steps run even when inference alone exceeds the budget


def write_nifti(stack: np.ndarray, spacing_xy: float, ratio: float, path: Path) -> None:
    """(K, Y, X) -> NIfTI (X, Y, K) with voxel sizes (xy, xy, ratio * xy)."""
    affine = np.diag([spacing_xy, spacing_xy, spacing_xy * ratio, 1.0])
    volume = np.ascontiguousarray(stack.transpose(2, 1, 0))
    nib.save(nib.Nifti1Image(volume.astype(np.float32), affine), str(path))


def seconds_per_step(image, lr_axis, ratio, kernel, device, probe: np.ndarray) -> float:
    """Wall seconds of one ECLARE training step: two short runs, the difference divided."""
    dataset = TrainSet(image=image, lr_axis=lr_axis, verbose=False)
    times = []
    for steps in (1, 3):
        start = time.perf_counter()
        run_eclare(probe, ratio, [1, 1, 1], lr_axis, None, None, 0.0, 1.0, kernel, dataset,
                   device, batch_size=BATCH, n_patches=steps * BATCH)
        times.append(time.perf_counter() - start)
    return max(1e-3, (times[1] - times[0]) / 2)


def inference_seconds(ratio: float, crop_shape, device) -> float:
    """Wall seconds to super-resolve the crop: one xz plane timed, times planes and angles."""
    model = WDSR(n_resblocks=16, num_channels=256, scale=ratio).to(device).eval()
    rows, cols, depth = crop_shape
    plane = torch.rand(1, 1, depth, cols, device=device)
    with torch.inference_mode():
        model(plane)
        start = time.perf_counter()
        model(plane)
        one = time.perf_counter() - start
    return one * (rows + cols)


def main() -> int:
    args = runner_parser(__doc__.split("\n")[0]).parse_args()
    started = time.perf_counter()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    stack = np.load(args.stack).astype(np.float32)
    nifti = args.out.with_suffix(".nii.gz")
    write_nifti(stack, args.spacing, args.ratio, nifti)
    image, ratio, scales, lr_axis, header, affine, lo, hi = parse_image(nifti, normalize_image=True)
    nifti.unlink()
    kernel = parse_kernel(args.profile, None, None)
    y0, y1, x0, x1 = args.crop
    crop = np.ascontiguousarray(image[x0:x1, y0:y1, :])      # NIfTI order (x, y, z)

    probe = np.ascontiguousarray(image[:8, :8, :])
    step_s = seconds_per_step(image, lr_axis, ratio, kernel, device, probe)
    infer_s = inference_seconds(ratio, crop.shape, device)
    spent = time.perf_counter() - started
    left = args.seconds - spent - infer_s - 10.0
    steps = max(MIN_STEPS, int(left // step_s))
    print(f"calibration: {step_s:.2f} s per step of {BATCH} patches, inference of the crop "
          f"about {infer_s:.0f} s; {steps} steps fit", flush=True)

    dataset = TrainSet(image=image, lr_axis=lr_axis, verbose=False)
    train_started = time.perf_counter()
    volume, _state, _elapsed = run_eclare(crop, ratio, scales, lr_axis, header, affine, lo, hi,
                                          kernel, dataset, device, batch_size=BATCH,
                                          n_patches=steps * BATCH)
    volume = np.ascontiguousarray(np.asarray(volume, dtype=np.float32).transpose(2, 1, 0))
    np.save(args.out, volume)
    report = {
        "method": "ECLARE", "steps": steps, "batch": BATCH, "patches": steps * BATCH,
        "seconds_per_step": round(step_s, 3), "inference_estimate_s": round(infer_s, 1),
        "calibration_s": round(spent, 1),
        "run_s": round(time.perf_counter() - train_started, 1),
        "fits_budget": left >= MIN_STEPS * step_s,
        "output_shape": list(volume.shape), "device": str(device),
        "slice_profile": "given (ESPRESO skipped)",
    }
    args.report.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
