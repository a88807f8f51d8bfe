"""The cubic reference as an array that computes only what is read from it.

A viewer slicing a cubic-upsampled volume asks for one plane (or one row) at a time. A dask graph
chunked over y/x with z whole computes every z of each touched chunk for that — the whole volume
for one xy plane (2.8 s on the GUI thread for CREMI's 250 x 625 x 625, each time the slider
moved). :class:`UpsampledView` evaluates the same cubic operator (:func:`interpolation_matrix`)
for the requested output planes only, from the few input planes whose spline weights are not
nil (about 40 at most), and reads from the stack only the requested rows and columns. An xy plane
costs a few milliseconds, an xz row less.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..io.lazy import is_dask
from ..normalization import cast_like
from ..physics.acquisition import interpolation_matrix, isotropic_length
from ..validation import validate_ratio, validate_volume
from .along_z import apply_along_z


class UpsampledView:
    """``stack`` cubic-upsampled along z by ``ratio``, computed on indexing (ints and slices).

    Values equal :func:`~.reconstruction.cubic_upsample_stack` (float rounding aside); ``dtype``
    defaults to the stack's, integers rounded and clipped. ``np.asarray(view)`` computes all of it.
    """

    def __init__(self, stack: Any, ratio: float, *, dtype: Any = None) -> None:
        validate_volume(stack, check_values=False)
        self.ratio = validate_ratio(ratio)
        self.stack = stack
        n_in = int(stack.shape[0])
        depth = isotropic_length(n_in, self.ratio)
        self.matrix = np.asarray(interpolation_matrix(n_in, self.ratio, depth), dtype=np.float32)
        used = self.matrix != 0
        self._first = used.argmax(axis=1)
        self._stop = n_in - used[:, ::-1].argmax(axis=1)
        self.shape: tuple[int, int, int] = (depth, int(stack.shape[1]), int(stack.shape[2]))
        self.dtype = np.dtype(stack.dtype if dtype is None else dtype)

    ndim = 3

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"UpsampledView(shape={self.shape}, dtype={self.dtype}, ratio={self.ratio:g})"

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        values = self[:, :, :]
        return values if dtype is None else values.astype(dtype, copy=False)

    def __getitem__(self, key: Any) -> np.ndarray:
        z_key, y_key, x_key = _three_keys(key)
        planes = np.arange(self.shape[0])[z_key]
        one_plane = planes.ndim == 0
        planes = np.atleast_1d(planes)
        if planes.size == 0:
            empty = np.empty((0, self.shape[1], self.shape[2]), self.dtype)[:, y_key, x_key]
            return empty
        start = int(self._first[planes].min())
        stop = int(self._stop[planes].max())
        source = self.stack[start:stop, y_key, x_key]
        if is_dask(source):
            source = source.compute(scheduler="synchronous")  # no thread pool on the GUI thread
        values = apply_along_z(self.matrix[planes, start:stop], np.asarray(source))
        values = cast_like(values, self.dtype)
        return values[0] if one_plane else values


def _three_keys(key: Any) -> tuple[Any, Any, Any]:
    """A (z, y, x) key of ints and slices from ``key`` (Ellipsis and missing axes expanded)."""
    keys = key if isinstance(key, tuple) else (key,)
    ellipses = [i for i, k in enumerate(keys) if k is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis")
    if ellipses:
        at = ellipses[0]
        keys = keys[:at] + (slice(None),) * (3 - len(keys) + 1) + keys[at + 1:]
    if len(keys) > 3:
        raise IndexError(f"too many indices for a 3-D volume: {len(keys)}")
    keys = keys + (slice(None),) * (3 - len(keys))
    return tuple(_basic(k) for k in keys)  # type: ignore[return-value]


def _basic(key: Any) -> int | slice:
    if isinstance(key, slice):
        return key
    try:
        return operator.index(key)
    except TypeError:
        raise IndexError("the cubic reference takes integer and slice indices only, got "
                         f"{type(key).__name__}") from None
