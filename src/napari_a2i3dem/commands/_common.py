"""Argument helpers shared by the sub-commands.

The parser of every command is built at each start of ``a2i3dem`` (``--help`` too), so this
module and the commands' top levels import only light modules; torch, SciPy and the engine are
imported inside the functions that run a command (``tests/cli/test_cli_startup.py``).
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

from ..core.choices import ARTEFACT_NAMES, PROFILE_KINDS
from ..core.errors import InputError
from ..core.validation import validate_ratio

if TYPE_CHECKING:
    from ..core.physics.acquisition import SliceProfile
    from ..core.physics.calibration import DegradationEstimate
    from ..core.physics.degradations import DegradationConfig


def add_overwrite_flag(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: every command refuses to replace an existing output without it."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace outputs that already exist (default: stop with an error "
                             "and change nothing)")


def ratio_arg(text: str) -> float:
    """argparse type for ``--ratio``: a float >= 1."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"ratio must be a number, got {text!r}") from exc
    try:
        return validate_ratio(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def positive_int(text: str) -> int:
    """argparse type for counts and sizes: an integer > 0."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type for rates and widths: a finite number > 0."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


PROFILE_CHOICES = ("auto", *(k for k in PROFILE_KINDS if k != "custom"))


def add_degradation_arguments(p: argparse.ArgumentParser) -> None:
    """``--profile``, ``--profile-width`` and ``--artefacts``: the synthetic degradation,
    calibrated to the stack unless told otherwise."""
    p.add_argument("--profile", choices=PROFILE_CHOICES, default="auto",
                   help="axial slice profile of the synthetic degradation: auto (default) "
                        "estimates it and the noise from the stack's own z lines; none = point "
                        "sampling; box / gaussian with --profile-width")
    p.add_argument("--profile-width", type=positive_float, metavar="W",
                   help="width of a box / gaussian (FWHM) profile in section spacings "
                        "(default 1)")
    p.add_argument("--artefacts", nargs="+", choices=ARTEFACT_NAMES, default=(),
                   metavar="NAME",
                   help="EM artefacts to simulate as well (off by default; the estimate says "
                        f"which the stack shows): {', '.join(ARTEFACT_NAMES)}")


def chosen_profile(args: argparse.Namespace) -> SliceProfile | None:
    """The profile given on the command line, or ``None`` for the stack's estimate."""
    from ..core.physics.acquisition import SliceProfile

    if args.profile == "auto":
        if args.profile_width is not None:
            raise InputError("--profile-width needs --profile box or gaussian")
        return None
    if args.profile == "none":
        if args.profile_width is not None:
            raise InputError("--profile-width does not apply to --profile none")
        return SliceProfile("none", 0.0)
    return SliceProfile(args.profile, 1.0 if args.profile_width is None else args.profile_width)


def degradation_from_args(args: argparse.Namespace, stack, ratio: float
                          ) -> tuple[DegradationConfig, DegradationEstimate]:
    """The calibrated degradation with the command line's overrides, and the estimate."""
    from ..core.physics.calibration import training_degradation

    return training_degradation(stack, ratio, profile=chosen_profile(args),
                                artefacts=tuple(args.artefacts), seed=getattr(args, "seed", 0))
