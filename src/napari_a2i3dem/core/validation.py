"""Checks on user input shared by the CLI, the widgets and the engines."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .errors import InputError

Spacing = tuple[float, float, float]


def validate_spacing(spacing: Sequence[float]) -> Spacing:
    """Return ``(z, y, x)`` spacing as floats; raise if not three finite positive numbers."""
    values = tuple(float(s) for s in spacing)
    if len(values) != 3:
        raise InputError(f"voxel spacing needs three values (z, y, x), got {len(values)}: {values}")
    for name, value in zip("zyx", values, strict=True):
        if not math.isfinite(value) or value <= 0:
            raise InputError(f"voxel spacing must be positive, got {name} = {value}")
    return values  # type: ignore[return-value]


def ratio_from_spacing(spacing: Sequence[float]) -> float:
    """Up-sampling ratio rho = axial / lateral spacing (lateral = mean of y and x)."""
    z, y, x = validate_spacing(spacing)
    return validate_ratio(z / ((y + x) / 2.0))


def validate_ratio(ratio: float) -> float:
    """Return the ratio as a float; raise if it is not finite or below 1."""
    value = float(ratio)
    if not math.isfinite(value):
        raise InputError(f"up-sampling ratio must be a finite number, got {ratio}")
    if value < 1.0:
        raise InputError(
            f"up-sampling ratio must be at least 1 (axial spacing >= lateral), got {value:.4g}"
        )
    return value


def validate_volume(data, *, name: str = "stack", check_values: bool = True) -> None:
    """Raise :class:`InputError` unless ``data`` is a single-channel 3-D (z, y, x) stack.

    ``check_values`` scans a NumPy array for NaN/inf; dask arrays are checked lazily by callers.
    """
    shape = tuple(getattr(data, "shape", ()))
    if len(shape) == 0 or 0 in shape:
        raise InputError(f"{name} is empty (shape {shape})")
    if len(shape) == 2:
        raise InputError(
            f"{name} is a 2-D image (shape {shape}); A2I-3DEM needs a 3-D (z, y, x) stack"
        )
    if len(shape) == 4 and shape[-1] in (3, 4):
        raise InputError(
            f"{name} looks like an RGB(A) stack (shape {shape}); "
            "convert it to a single grey channel"
        )
    if len(shape) != 3:
        raise InputError(
            f"{name} must be 3-D (z, y, x), got {len(shape)}-D with shape {shape}"
        )
    dtype = np.dtype(getattr(data, "dtype", np.float32))
    if dtype.kind not in "uif":
        raise InputError(f"{name} has unsupported dtype {dtype}; expected integer or float")
    if shape[1] < 8 or shape[2] < 8:
        raise InputError(
            f"{name} planes are too small ({shape[1]} x {shape[2]}); need at least 8 x 8"
        )
    if (check_values and isinstance(data, np.ndarray) and dtype.kind == "f"
            and not np.isfinite(data).all()):
        raise InputError(f"{name} contains NaN or infinite values")
