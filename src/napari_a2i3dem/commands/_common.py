"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import argparse

from ..core.errors import InputError
from ..core.validation import validate_ratio


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
