"""``a2i3dem train``: train a network on a stack's own xy planes, with a progress bar.

Checkpoints go next to ``--out`` (``model.pt`` -> ``model.ckpt.pt``); ``--resume`` continues one
up to ``--steps`` total. Ctrl-C leaves a checkpoint and prints how to resume.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from ..core.errors import InputError, OutputExists
from ..core.io.atomic import refuse_existing, same_file
from ..core.io.tiff import read_stack
from ..core.io.tiff_spacing import resolve_spacing
from ..core.jobs import make_trainer
from ..core.settings import TrainingSettings
from ..core.training.checkpoint import checkpoint_path_for
from ..core.training.events import (
    ModelChecked,
    StepProgress,
    TrainingFinished,
    TrainingStarted,
    ValidationResult,
)
from ..core.validation import ratio_from_spacing
from ._common import (
    add_degradation_arguments,
    add_overwrite_flag,
    chosen_profile,
    degradation_from_args,
    ratio_arg,
)
from ._settings_args import add_settings_arguments, settings_from_args

#: the training settings as options (types, bounds and help from core.settings)
TRAINING_FLAGS = {"preset": "--preset", "steps": "--steps", "batch_size": "--batch",
                  "patch_size": "--patch", "lr": "--lr", "pixel_loss": "--pixel-loss",
                  "device": "--device", "seed": "--seed",
                  "checkpoint_every": "--checkpoint-every",
                  "validation_every": "--validate-every", "threads": "--threads",
                  "num_workers": "--workers"}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a network on the stack's own lateral planes",
        description="Self-supervised training: synthesise (degraded, clean) pairs from the stack's "
                    "xy planes and train the A2I-3DEM network to undo the axial degradation.")
    p.add_argument("stack", type=Path, help="anisotropic (z, y, x) stack, e.g. an ImageJ TIFF")
    p.add_argument("--out", type=Path, required=True, help="model file to write (e.g. model.pt)")
    p.add_argument("--ratio", type=ratio_arg,
                   help="up-sampling ratio z-spacing / xy-spacing (default: from the file)")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("Z", "Y", "X"),
                   help="voxel spacing in nm, overriding the file's")
    # a resumed run keeps its checkpoint's preset unless one is given: no default here
    add_settings_arguments(p, TrainingSettings, TRAINING_FLAGS, unset=("preset",))
    add_degradation_arguments(p)
    p.add_argument("--resume", type=Path, metavar="CKPT",
                   help="continue from a checkpoint up to --steps total (the checkpoint's "
                        "preset, batch, patch, lr, seed and degradation are kept)")
    p.add_argument("--no-check", action="store_true",
                   help="skip the no-truth check after training (does the model beat cubic "
                        "interpolation on this stack?)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_overwrite_flag(p)
    p.set_defaults(func=run)


def _check_paths(args: argparse.Namespace) -> None:
    if args.out.resolve() == args.stack.resolve():
        raise InputError(f"--out {args.out} is the input stack; choose another file name")
    if args.out.suffix.lower() in (".tif", ".tiff"):
        raise InputError(f"--out {args.out} looks like an image; a model file ends in .pt")
    if args.out.exists() and args.out.is_dir():
        raise InputError(f"--out {args.out} is a folder; give a file name such as model.pt")
    if args.resume is not None and args.out.resolve() == Path(args.resume).resolve():
        raise InputError(f"--out {args.out} is the checkpoint being resumed; the model would "
                         "replace it; give the model its own name")
    _check_writable(args.out.parent if str(args.out.parent) else Path("."))
    checkpoint = checkpoint_path_for(args.out)
    continuing = args.resume is not None and same_file(checkpoint.expanduser(),
                                                           Path(args.resume).expanduser())
    # continuing a run replaces that run's own model (x.ckpt.pt -> x.pt), nothing else
    refuse_existing(args.out, overwrite=args.overwrite or continuing)
    if args.resume is None and not args.overwrite and checkpoint.exists():
        raise OutputExists(f"{checkpoint} holds an earlier run's checkpoint and was left as it "
                           f"is; continue it with --resume {checkpoint}, or start over")


def _check_writable(folder: Path) -> None:
    """Find an unwritable or missing output folder now, not at the first save after hours."""
    if not folder.is_dir():
        raise InputError(f"the output folder {folder} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".a2i3dem-probe-"):
            pass
    except OSError as exc:
        raise InputError(f"cannot write in the output folder {folder}: "
                         f"{exc.strerror or exc}") from exc


def run(args: argparse.Namespace) -> int:
    _check_paths(args)
    loaded = read_stack(args.stack)
    loaded.require_volume()
    spacing = resolve_spacing(loaded, spacing=args.spacing, ratio=args.ratio)
    ratio = args.ratio if args.ratio is not None else ratio_from_spacing(spacing)
    config = settings_from_args(TrainingSettings, args, TRAINING_FLAGS).train_config(
        log_every=1, check_model=not args.no_check)
    degradation = None  # calibrated to the stack by the trainer
    if args.resume is None and (args.profile != "auto" or args.artefacts):
        degradation, _ = degradation_from_args(args, loaded.data, ratio)
    else:
        chosen_profile(args)  # a lone --profile-width is refused
    trainer = make_trainer(loaded.data, ratio=ratio, spacing=spacing, degradation=degradation,
                           config=config, model_path=args.out, resume_from=args.resume)
    if args.resume is not None and args.preset not in (None, trainer.config.preset):
        print(f"note: resuming with the checkpoint's preset '{trainer.config.preset}'",
              file=sys.stderr)

    bar = None
    validation = ""
    try:
        for event in trainer.run():
            if isinstance(event, TrainingStarted):
                print(f"training preset '{trainer.config.preset}' "
                      f"({event.parameters / 1e6:.2f} M parameters) on {event.where}, "
                      f"ratio {ratio:.3g}, steps {event.start_step}->{event.total_steps}",
                      file=sys.stderr)
                print(event.calibration or f"degradation: {event.degradation}",
                      file=sys.stderr)
                bar = tqdm(total=event.total_steps, initial=event.start_step, unit="step",
                           disable=args.quiet, dynamic_ncols=True, file=sys.stderr)
            elif isinstance(event, StepProgress) and bar is not None:
                bar.update(event.step - bar.n)
                bar.set_postfix_str(f"loss {event.loss:.4f}{validation}", refresh=False)
            elif isinstance(event, ValidationResult):
                validation = f", {event.describe()}"
            elif isinstance(event, ModelChecked):
                if bar is not None:
                    bar.close()
                print(event.summary, file=sys.stderr)
            elif isinstance(event, TrainingFinished):
                if bar is not None:
                    bar.close()
                print(f"{event.describe()}; checkpoint {event.checkpoint_path}",
                      file=sys.stderr)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        ckpt = trainer.checkpoint_path
        if trainer.checkpoint_step > 0 and ckpt is not None and ckpt.exists():
            print(f"a2i3dem train: interrupted at step {trainer.step}; the checkpoint holds "
                  f"step {trainer.checkpoint_step}; resume with --resume {ckpt}",
                  file=sys.stderr)
            return 130
        raise
    finally:
        if bar is not None:
            bar.close()
    return 0
