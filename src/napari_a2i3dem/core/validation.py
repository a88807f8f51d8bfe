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


#: No EM acquisition is this anisotropic (ssTEM: 10-50); above it the spacing is wrong.
MAX_RATIO = 1000.0


def validate_ratio(ratio: float) -> float:
    """Return the ratio as a float; raise if it is not finite, below 1 or above MAX_RATIO."""
    value = float(ratio)
    if not math.isfinite(value):
        raise InputError(f"up-sampling ratio must be a finite number, got {ratio}")
    if value < 1.0:
        raise InputError(
            f"up-sampling ratio must be at least 1 (axial spacing >= lateral), got {value:.4g}"
        )
    if value > MAX_RATIO:
        raise InputError(
            f"up-sampling ratio {value:.4g} is above {MAX_RATIO:g}: check the voxel spacing "
            "(z / lateral); no EM stack is that anisotropic"
        )
    return value


def find_non_finite(data, *, block_bytes: int = 64 * 2**20) -> tuple[int, ...] | None:
    """Index of the first NaN / infinite value of ``data`` (any array: NumPy, memmap, dask,
    zarr), read a few planes at a time so memory stays bounded; ``None`` when all are finite or
    the dtype cannot hold them."""
    if np.dtype(getattr(data, "dtype", np.float32)).kind not in "fc":
        return None
    shape = tuple(int(n) for n in data.shape)
    if isinstance(data, np.ndarray) and not isinstance(data, np.memmap):
        bad = np.argwhere(~np.isfinite(data))
        return tuple(int(i) for i in bad[0]) if bad.size else None
    plane = max(1, int(np.prod(shape[1:])) * np.dtype(data.dtype).itemsize)
    step = max(1, block_bytes // plane)
    for z0 in range(0, shape[0], step):
        block = data[z0:z0 + step]
        block = np.asarray(block.compute() if hasattr(block, "compute") else block)
        bad = np.argwhere(~np.isfinite(block))
        if bad.size:
            first = tuple(int(i) for i in bad[0])
            return (first[0] + z0, *first[1:])
    return None


def non_finite_message(name: str, where: tuple[int, ...]) -> str:
    at = ", ".join(f"{axis}={i}" for axis, i in zip("zyx", where, strict=False))
    return f"{name} contains NaN or infinite values (the first at {at}); replace them first"


def validate_volume(data, *, name: str = "stack", check_values: bool = True) -> None:
    """Raise :class:`InputError` unless ``data`` is a single-channel 3-D (z, y, x) stack.

    ``check_values`` scans a NumPy array for NaN/inf. Lazy arrays (dask, zarr) are not read here
    (the reader opens them without touching pixels): the trainer scans them with
    :func:`find_non_finite`, the reconstruction checks every slab it reads.
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
        raise InputError(non_finite_message(name, find_non_finite(data)))
