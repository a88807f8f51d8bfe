"""Writing ImageJ-compatible TIFF stacks with their spacing: atomically (temporary file in the
same folder, then :func:`os.replace`), BigTIFF when large, and never over an input."""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import InputError
from ..validation import Spacing, validate_spacing
from .atomic import atomic_file, same_file
from .lazy import is_dask
from .tiff import _LAZY_SOURCES, TIFF_SUFFIXES
from .units import inverse_rational

#: Pixel data above this size are written as BigTIFF (classic TIFF offsets stop at 4 GiB).
BIGTIFF_THRESHOLD_BYTES = 2**32 - 2**25


def source_of(data: Any) -> Path | None:
    """The file a lazy array from :func:`read_stack` (or anything computed from it) reads."""
    if not is_dask(data):
        return None
    layers = getattr(data.__dask_graph__(), "layers", None)
    names = set(layers) if layers is not None else {k[0] if isinstance(k, tuple) else k
                                                     for k in data.__dask_graph__()}
    for name, path in _LAZY_SOURCES.items():
        if name in names:
            return path
    return None


def _writable_dtype(dtype: np.dtype) -> tuple[np.dtype, bool]:
    """(dtype to write, as ImageJ?) - ImageJ holds uint8/uint16/int16/float32, OME the rest."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.dtype(np.uint8), True
    if dtype.char in "BHhf":
        return dtype, True
    if dtype == np.float16:
        return np.dtype(np.float32), True
    if dtype.kind in "iu" and dtype.itemsize == 8:
        return np.dtype(np.float64), False
    if dtype.kind in "iuf" and dtype.itemsize <= 8:
        return dtype, False
    raise InputError(f"cannot write data of type {dtype} to TIFF; convert it to a number type")


def write_stack(path: str | os.PathLike, data: Any, spacing: Sequence[float] | None = None, *,
                protect: Iterable[str | os.PathLike] = (),
                progress: Callable[[int, int], None] | None = None) -> Path:
    """Write a 2-D or 3-D grey image as an ImageJ TIFF carrying its spacing (z, y, x) in nm.

    The file is first written to a temporary file in the same folder, then moved over ``path``
    with :func:`os.replace`, so ``path`` is never half-written. Refuses (``InputError``) to write
    over any path in ``protect`` or over the file a lazy ``data`` is read from. dask arrays are
    written chunk by chunk, never held in memory whole; ``progress(planes_done, planes)`` is called
    after each plane and may raise :class:`~napari_a2i3dem.core.errors.Cancelled`. Data types ImageJ
    cannot hold (int8, int32, uint32, float64, ...) are written as OME-TIFF with
    PhysicalSize{X,Y,Z} in nm instead. Returns the written path.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise InputError(f"output {path} must end in .tif or .tiff")
    if path.is_dir():
        raise InputError(f"output {path} is a folder")
    for other in protect:
        if other is not None and same_file(path, Path(other)):
            raise InputError(f"refusing to write {path}: it is an input file and would be "
                             "overwritten; choose another output name")
    source = source_of(data)
    if source is not None and same_file(path, source):
        raise InputError(f"refusing to write {path}: the data being written are read from it; "
                         "choose another output name")
    if not (is_dask(data) or isinstance(data, np.ndarray)):
        data = np.asarray(data)
    shape = tuple(int(n) for n in data.shape)
    if len(shape) not in (2, 3) or 0 in shape:
        raise InputError(f"can only write a non-empty 2-D or 3-D grey image, got shape {shape}")
    dtype, as_imagej = _writable_dtype(data.dtype)
    if spacing is not None:
        spacing = validate_spacing(spacing)
    nbytes = math.prod(shape) * dtype.itemsize
    options = _tiff_options(shape, spacing, as_imagej)

    try:
        bigtiff = nbytes > BIGTIFF_THRESHOLD_BYTES
        with (
            atomic_file(path, suffix=".part") as handle,
            _quiet_bigtiff_imagej(bigtiff and as_imagej),
            tifffile.TiffWriter(handle, bigtiff=bigtiff, imagej=as_imagej,
                                ome=not as_imagej) as tif,
        ):
            tif.write(_planes(data, dtype, progress), shape=shape, dtype=dtype, **options)
    except OSError as exc:  # disk full, permissions, ...: one clear line, no traceback
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


@contextlib.contextmanager
def _quiet_bigtiff_imagej(active: bool) -> Iterator[None]:
    """ImageJ data over 4 GiB: a BigTIFF with an ImageJ header is what Fiji (Bio-Formats) and
    tifffile read; silence tifffile's note that it is outside the ImageJ specification."""
    if not active:
        yield
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*nonconformant BigTIFF ImageJ")
        yield


def _tiff_options(shape: tuple[int, ...], spacing: Spacing | None, as_imagej: bool) -> dict:
    axes = "ZYX" if len(shape) == 3 else "YX"
    if as_imagej:
        metadata: dict[str, Any] = {"axes": axes}
        options: dict[str, Any] = {"metadata": metadata}
        if spacing is not None:
            z, y, x = spacing
            # nm keeps EM-sized pixels exact as rationals; micron for very coarse pixels
            scale, unit = (1.0, "nm") if max(x, y) < 1000 else (1e-3, "micron")
            options["resolution"] = (inverse_rational(x * scale), inverse_rational(y * scale))
            metadata["unit"] = unit
            if len(shape) == 3:
                metadata["spacing"] = z * scale
        return options
    metadata = {"axes": axes}
    if spacing is not None:
        names = ("Z", "Y", "X") if len(shape) == 3 else ("Y", "X")
        values = spacing if len(shape) == 3 else spacing[1:]
        for name, value in zip(names, values, strict=True):
            metadata[f"PhysicalSize{name}"] = float(value)
            metadata[f"PhysicalSize{name}Unit"] = "nm"
    return {"metadata": metadata}


def _planes(data: Any, dtype: np.dtype,
            progress: Callable[[int, int], None] | None) -> Iterator[np.ndarray]:
    """Yield the 2-D planes of ``data`` as ``dtype``, computing dask data one z-chunk at a time."""
    if data.ndim == 2:
        plane = np.asarray(data.compute() if is_dask(data) else data).astype(dtype, copy=False)
        yield plane
        if progress is not None:
            progress(1, 1)
        return
    total = int(data.shape[0])
    done = 0
    if is_dask(data):
        starts = np.cumsum((0, *data.chunks[0]))
        blocks = ((int(a), int(b)) for a, b in itertools.pairwise(starts))
    else:
        blocks = ((i, i + 1) for i in range(total))
    for start, stop in blocks:
        block = data[start:stop]
        block = np.asarray(block.compute() if is_dask(block) else block)
        for plane in block:
            yield plane.astype(dtype, copy=False)
            done += 1
            if progress is not None:
                progress(done, total)
