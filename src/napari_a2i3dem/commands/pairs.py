"""``a2i3dem pairs``: write synthetic training pairs of a stack to look at (or train elsewhere).

The output is an ``(N, 2, M, M)`` float32 ImageJ TIFF (axes ZCYX): for each pair the degraded input,
then the clean target, both in network units (the stack's 0.1-99.9 percentile range mapped to
[0, 1]).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tifffile
from tqdm import tqdm

from ..core.errors import InputError
from ..core.io.atomic import atomic_file, refuse_existing
from ..core.io.tiff import read_stack
from ..core.io.tiff_spacing import resolve_spacing
from ..core.validation import ratio_from_spacing, validate_ratio
from ._common import (
    add_degradation_arguments,
    add_overwrite_flag,
    degradation_from_args,
    positive_int,
)

if TYPE_CHECKING:
    from ..core.physics.degradations import DegradationConfig

DEFAULT_PATCH = 128


def _number(text: str) -> float:
    """argparse type that only parses; range errors are reported by :func:`run` in one line."""
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "pairs", help="write synthetic (degraded, clean) training pairs from the stack's xy planes",
        description="Synthesise training pairs from the stack's own lateral planes and write them "
                    "as an (N, 2, M, M) float32 TIFF [degraded input, clean target].")
    p.add_argument("stack", type=Path, help="anisotropic (z, y, x) stack, e.g. an ImageJ TIFF")
    p.add_argument("--out", type=Path, required=True, help="TIFF to write, e.g. pairs.tif")
    p.add_argument("--ratio", type=_number,
                   help="up-sampling ratio z-spacing / xy-spacing (default: from the file)")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("Z", "Y", "X"),
                   help="voxel spacing in nm, overriding the file's (gives the ratio)")
    p.add_argument("--count", type=positive_int, default=16, help="number of pairs (default 16)")
    p.add_argument("--patch", type=positive_int, default=DEFAULT_PATCH,
                   help=f"patch size M in pixels (default {DEFAULT_PATCH})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--clean", action="store_true",
                   help="acquisition only (slice profile, sampling, cubic interpolation): "
                        "no noise and no EM artefacts")
    p.add_argument("--config", type=Path, metavar="JSON",
                   help="degradation settings as JSON (DegradationConfig.to_dict())")
    add_degradation_arguments(p)
    p.add_argument("--spectra", type=Path, metavar="PNG",
                   help="also draw the evidence of the estimate: the stack's measured z-line "
                        "spectrum against the calibrated and the generic synthetic ones")
    add_overwrite_flag(p)
    p.set_defaults(func=run)


def load_config(args) -> DegradationConfig | None:
    """The degradation of the run: ``--config`` JSON, ``--clean``, or ``None`` for the
    calibrated estimate (with ``--profile`` / ``--artefacts``)."""
    from ..core.physics.degradations import DegradationConfig

    if args.config is not None and args.clean:
        raise InputError("give either --clean or --config, not both")
    told = args.profile != "auto" or args.profile_width is not None or args.artefacts
    if told and (args.clean or args.config is not None):
        raise InputError("--profile / --artefacts set the calibrated degradation; they do not "
                         "combine with --clean or --config")
    if args.clean:
        return DegradationConfig.clean()
    if args.config is None:
        return None
    try:
        text = Path(args.config).read_text()
    except OSError as exc:
        raise InputError(f"cannot read degradation settings {args.config}: {exc}") from exc
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{args.config} is not valid JSON: {exc}") from exc
    return DegradationConfig.from_dict(settings)


def check_output(path: Path, protect: Path) -> Path:
    """Refuse an output that is not a TIFF name, is a folder or is the input stack."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise InputError(f"output {path} must end in .tif or .tiff")
    if path.is_dir():
        raise InputError(f"output {path} is a folder")
    if path.exists() and protect.exists() and path.samefile(protect):
        raise InputError(f"refusing to write {path}: it is the input stack; choose another name")
    return path


def write_pairs(path: Path, pairs: np.ndarray, *, protect: Path) -> Path:
    """Write ``(N, 2, M, M)`` float32 pairs atomically as an ImageJ hyperstack (axes ZCYX: one
    z-slice per pair, channel 0 degraded input, channel 1 clean target).

    ``write_stack`` of :mod:`~..core.io.tiff` writes 2-D/3-D grey images only, hence this
    small writer for the 4-D layout; it follows the same rules (never over the input, temporary
    file in the same folder, then :func:`os.replace`)."""
    path = check_output(path, protect)
    with atomic_file(path, suffix=".part") as handle:  # usual file mode, removed on any error
        tifffile.imwrite(handle, pairs.astype(np.float32, copy=False), imagej=True,
                         metadata={"axes": "ZCYX"})
    return path


def run(args) -> int:
    from ..core.analysis.figures import write_figure
    from ..core.physics.calibration import estimate_figure
    from ..core.physics.degradations import config_summary
    from ..core.training.pairs import PatchPairDataset

    if args.ratio is not None:
        validate_ratio(args.ratio)
    check_output(args.out, args.stack)
    refuse_existing(args.out, args.spectra, overwrite=args.overwrite)
    config = load_config(args)
    loaded = read_stack(args.stack).require_volume()
    ratio = (validate_ratio(args.ratio) if args.ratio is not None
             else ratio_from_spacing(resolve_spacing(loaded, spacing=args.spacing)))
    if config is None:
        config, estimate = degradation_from_args(args, loaded.data, ratio)
        print(estimate.summary())
        for suggestion in estimate.suggestions:
            print(f"  {suggestion.name}: {suggestion.reason} (add --artefacts "
                  f"{suggestion.name} to simulate it)")
        if args.spectra is not None:
            print(f"evidence: {write_figure(estimate_figure(estimate), args.spectra)}")
    elif args.spectra is not None:
        raise InputError("--spectra draws the calibration's evidence; leave out --clean / "
                         "--config")
    dataset = PatchPairDataset(loaded.data, ratio, config, patch_size=args.patch,
                               seed=args.seed, length=args.count)
    out = np.empty((args.count, 2, args.patch, args.patch), dtype=np.float32)
    for i in tqdm(range(args.count), desc="pairs", unit="pair", file=sys.stderr,
                  disable=not sys.stderr.isatty()):
        degraded, clean, _ = dataset.pair(i)
        out[i, 0], out[i, 1] = degraded, clean
    written = write_pairs(args.out, out, protect=args.stack)
    print(f"wrote {args.count} pairs of {args.patch} x {args.patch} (ratio {ratio:.4g}; "
          f"{config_summary(config)}) to {written}")
    return 0
