"""``a2i3dem assess``: no-reference lateral versus axial resolution of a stack (decorrelation).

Works on a raw anisotropic stack and on a reconstruction alike, so the two can be compared:
the axial estimate of a good isotropic reconstruction approaches its lateral one.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from ..core.choices import DEFAULT_CONE_DEG
from ..core.errors import InputError
from ..core.io.atomic import atomic_file, refuse_existing
from ._common import add_overwrite_flag, positive_int, ratio_arg

if TYPE_CHECKING:
    from ..core.analysis.resolution import StackResolution


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "assess", help="estimate lateral vs axial resolution (no reference needed)",
        description="Decorrelation analysis (Descloux et al. 2019) of xy, xz and yz planes: the "
                    "resolution along y/x in xy planes and along z in xz / yz planes, in nm.")
    p.add_argument("stack", type=Path, help="(z, y, x) stack, e.g. an ImageJ TIFF")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("Z", "Y", "X"),
                   help="voxel spacing in nm, overriding the file's")
    p.add_argument("--ratio", type=ratio_arg,
                   help="z-spacing / xy-spacing, if the file gives only the lateral pixel size")
    p.add_argument("--planes", type=positive_int, default=5,
                   help="planes measured per orientation (default 5)")
    p.add_argument("--cone", type=float, default=DEFAULT_CONE_DEG, metavar="DEG",
                   help="half-angle of the directional frequency cone "
                        f"(default {DEFAULT_CONE_DEG:g})")
    p.add_argument("--model", type=Path, metavar="MODEL",
                   help="also check, without any truth, whether this model beats cubic "
                        "interpolation on the stack (give the anisotropic stack it is for)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the numbers as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_overwrite_flag(p)
    p.set_defaults(func=run)


def format_report(result: StackResolution, unit: str = "nm") -> str:
    """The human-readable table printed by the command (also used by the demo)."""

    def show(value: float) -> str:
        return "not measurable" if not math.isfinite(value) else f"{value:8.1f} {unit}"

    return "\n".join([
        f"  lateral (xy planes, along y and x): {show(result.lateral)}",
        f"  axial   (xz planes, along z):       {show(result.xz)}",
        f"  axial   (yz planes, along z):       {show(result.yz)}",
        f"  axial / lateral:                    {result.anisotropy:8.2f}",
    ])


def run(args: argparse.Namespace) -> int:
    from ..core.analysis.resolution import iter_assess_stack
    from ..core.io.tiff_spacing import resolve_spacing
    from ..core.jobs import open_stack

    if not 0 < args.cone <= 90:
        raise InputError(f"--cone must be in (0, 90] degrees, got {args.cone}")
    if args.json is not None and args.json.resolve() == args.stack.resolve():
        raise InputError(f"--json {args.json} is the input stack; choose another file name")
    refuse_existing(args.json, overwrite=args.overwrite)
    loaded = open_stack(args.stack)  # TIFF or OME-Zarr (a reconstruction written as .zarr)
    spacing = resolve_spacing(loaded, spacing=args.spacing, ratio=args.ratio)
    steps = iter_assess_stack(loaded.data, spacing, planes=args.planes, cone_deg=args.cone)
    with tqdm(total=3 * args.planes, desc="assess", unit="plane", disable=args.quiet) as bar:
        while True:
            try:
                done, total = next(steps)
            except StopIteration as finished:
                result: StackResolution = finished.value
                break
            bar.total = total
            bar.n = done
            bar.refresh()
    print(f"{args.stack} (spacing z, y, x = {spacing[0]:g}, {spacing[1]:g}, {spacing[2]:g} nm)")
    print(format_report(result))
    payload = {"stack": str(args.stack), "spacing_nm": list(spacing), **result.to_dict()}
    if args.model is not None:
        check = model_check_report(loaded.data, args.model, spacing)
        print(check.summary())
        payload["model_check"] = check.to_dict()
    if args.json is not None:
        _write_json(args.json, payload)
    return 0


def model_check_report(stack, model_path: Path, spacing):
    """The no-truth check of ``model_path`` on ``stack`` (core.training.model_check), with the
    stack's
    own intensity scale and slice-profile estimate, as a reconstruction of it would use."""
    from ..core.model import load_model
    from ..core.training.model_check import check_model
    from ..core.validation import ratio_from_spacing

    loaded = load_model(model_path)
    ratio = ratio_from_spacing(spacing)
    return check_model(stack, loaded, ratio)


def _write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` atomically (a unique temporary file in the same folder, then a
    rename)."""
    with atomic_file(path, suffix=".json") as handle:
        handle.write((json.dumps(payload, indent=2, allow_nan=True) + "\n").encode())
