"""Run CSBDeep's isotropic CARE (PyPI ``csbdeep``, TensorFlow) on one stack within a budget.

Runs inside the CSBDeep virtual environment made by ``benchmarks/peer_runners/setup_envs.sh``,
never in the project's own. Called by ``benchmarks/peers.py``::

    PEER_ENV/bin/python run_csbdeep.py --stack s.npy --ratio 3 --profile k.npy \
        --crop Y0 Y1 X0 X1 --seconds 1200 --out out.npy --report report.json

CSBDeep's documented isotropic recipe, trained on the stack alone:

1. ``RawData.from_arrays`` of the stack (axes ZYX) and ``anisotropic_distortions``: the lateral
   x axis of every xy patch is blurred with the slice profile (``psf``; none for point sampling),
   subsampled by ``ratio`` and linearly upsampled back; the clean patch is the target.
2. ``create_patches`` draws 128 x 128 patches (its default foreground filter), 10 % kept for
   validation; ``IsotropicCARE`` with its default 2-D U-Net.
3. The budget: training runs in epochs of 50 steps and stops at the first epoch end after which
   another epoch would not fit before ``seconds`` minus the time inference needs (measured on
   one batch first); the best-validation weights are kept (CSBDeep's own checkpointing).
4. ``predict`` on the scored crop with ``factor`` chosen so that CSBDeep's linear z-upsampling
   puts section k exactly on fine plane ``ratio * k`` (``ratio * (K - 1) + 1`` planes); the
   output, float32 (Z, Y, X) on that grid, is saved for ``peers.py`` to score.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from _protocol import runner_parser  # this folder is sys.path[0]

PATCH = 128
PATCHES = 2048
STEPS_PER_EPOCH = 50
BATCH = 16


def main() -> int:
    p = runner_parser(__doc__.split("\n")[0])
    p.add_argument("--patches", type=int, default=PATCHES)
    args = p.parse_args()
    started = time.perf_counter()

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(0)
    from csbdeep.data import RawData, anisotropic_distortions, create_patches
    from csbdeep.models import Config, IsotropicCARE

    stack = np.load(args.stack).astype(np.float32)
    kernel = np.load(args.profile).astype(np.float32).ravel()
    point_sampling = np.count_nonzero(kernel) == 1
    psf = None if point_sampling else kernel[None, :]
    raw = RawData.from_arrays([stack], [stack], axes="ZYX")
    distortion = anisotropic_distortions(subsample=float(args.ratio), psf=psf,
                                         psf_axes=None if psf is None else "YX",
                                         subsample_axis="X")
    patch = min(PATCH, stack.shape[1] // 4 * 4, stack.shape[2] // 4 * 4)
    X, Y, axes = create_patches(raw, patch_size=(1, patch, patch),
                                n_patches_per_image=args.patches, transforms=[distortion],
                                verbose=False)
    # (S, C, 1, Y, X) -> (S, Y, X, C): drop the singleton Z of 2-D patches, channel last
    X, Y = (np.moveaxis(a[:, :, 0], 1, -1) for a in (X, Y))
    axes = "YXC"
    n_val = max(1, len(X) // 10)
    X_val, Y_val, X, Y = X[-n_val:], Y[-n_val:], X[:-n_val], Y[:-n_val]
    config = Config(axes, n_channel_in=1, n_channel_out=1, train_batch_size=BATCH,
                    train_steps_per_epoch=STEPS_PER_EPOCH, train_tensorboard=False)
    workdir = tempfile.TemporaryDirectory(prefix="csbdeep-")
    model = IsotropicCARE(config, "iso", basedir=workdir.name)

    y0, y1, x0, x1 = args.crop
    crop = np.ascontiguousarray(stack[:, y0:y1, x0:x1])
    depth = crop.shape[0]
    factor = (args.ratio * (depth - 1) + 1) / depth
    probe_start = time.perf_counter()
    model.predict(crop[:, :8], axes="ZYX", factor=factor)   # one small batch: the warm-up
    planes = (y1 - y0) + (x1 - x0)
    infer_s = (time.perf_counter() - probe_start) * planes / 16 + 5.0
    deadline = started + args.seconds - infer_s

    class Deadline(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_s = time.perf_counter() - self.epoch_start
            self.epochs = epoch + 1
            if time.perf_counter() + epoch_s > deadline:
                self.model.stop_training = True

    stopper = Deadline()
    model.prepare_for_training()
    model.callbacks.append(stopper)
    train_start = time.perf_counter()
    model.train(X, Y, validation_data=(X_val, Y_val), epochs=10_000,
                steps_per_epoch=STEPS_PER_EPOCH)
    train_s = time.perf_counter() - train_start
    infer_start = time.perf_counter()
    restored = model.predict(crop, axes="ZYX", factor=factor).astype(np.float32)
    infer_s_real = time.perf_counter() - infer_start
    np.save(args.out, restored)
    epochs = getattr(stopper, "epochs", 0)
    report = {
        "method": "CSBDeep IsotropicCARE", "epochs": epochs,
        "steps": epochs * STEPS_PER_EPOCH, "batch": BATCH, "patch": patch,
        "training_patches": len(X), "validation_patches": int(n_val),
        "train_s": round(train_s, 1), "inference_s": round(infer_s_real, 1),
        "inference_estimate_s": round(infer_s, 1), "factor": factor,
        "output_shape": list(restored.shape),
        "slice_profile": "none (point sampling)" if psf is None else "given as psf along x",
        "tensorflow": tf.__version__,
    }
    args.report.write_text(json.dumps(report, indent=2))
    workdir.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
