"""Reading EM stacks from TIFF files, with the voxel spacing in nanometres.

:func:`read_stack` opens ``.tif``/``.tiff`` files (ImageJ, OME-TIFF or plain TIFF) with their
spacing (found by :mod:`.tiff_spacing`). Files larger than a fraction of the RAM open lazily as
dask arrays reading one TIFF page per chunk. Writing is :mod:`.tiff_writer`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import InputError, StackReadError
from ..validation import Spacing, ratio_from_spacing, validate_volume
from .lazy import is_dask
from .tiff_spacing import read_spacing

TIFF_SUFFIXES = (".tif", ".tiff")
#: Files whose pixel data exceed this fraction of the RAM open lazily (dask); the environment
#: variable ``A2I3DEM_LAZY_FRACTION`` overrides it.
DEFAULT_LAZY_FRACTION = 0.25
LAZY_FRACTION_ENV = "A2I3DEM_LAZY_FRACTION"
#: Lazy stacks group this many bytes of consecutive pages into one dask chunk (at least 1 page).
LAZY_CHUNK_BYTES = 8 * 2**20

_AXIS_NAMES = {"C": "channels", "T": "time", "I": "image sequence", "Q": "unknown"}
# dask array name -> file it reads, so that write_stack can refuse to replace a lazy input.
_LAZY_SOURCES: dict[str, Path] = {}


@dataclass
class LoadedStack:
    """An image read from disk: ``data`` (NumPy or dask), spacing ``(z, y, x)`` in nm or ``None``.

    ``lateral_spacing`` ``(y, x)`` is known on its own for plain TIFFs that calibrate only x/y;
    ``spacing_source`` says where the spacing came from (``"imagej"``, ``"ome"``,
    ``"tiff-resolution"`` or ``"none"``) and ``notes`` collects what a user should know about it.
    """

    data: Any
    spacing: Spacing | None
    path: Path | None = None
    lateral_spacing: tuple[float, float] | None = None
    spacing_source: str = "none"
    notes: tuple[str, ...] = ()
    axes: str | None = None
    _tiff: tifffile.TiffFile | None = field(default=None, repr=False, compare=False)

    @property
    def lazy(self) -> bool:
        """True when ``data`` is a dask array that reads the file on demand."""
        return is_dask(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.data.dtype)

    @property
    def nbytes(self) -> int:
        """Size of the pixel data in memory."""
        return math.prod(self.shape) * self.dtype.itemsize

    @property
    def name(self) -> str:
        return self.path.stem if self.path is not None else "stack"

    @property
    def ratio(self) -> float | None:
        """rho = axial / lateral spacing, or ``None`` when the spacing is unknown or rho < 1."""
        if self.spacing is None:
            return None
        try:
            return ratio_from_spacing(self.spacing)
        except InputError:
            return None

    def require_volume(self) -> LoadedStack:
        """Return ``self`` if it is a single-channel 3-D stack; raise :class:`InputError` naming
        the file and the problem (2-D, RGB, 4-D+, empty, NaN) otherwise."""
        name = str(self.path) if self.path else "stack"
        if self.is_rgb:
            raise InputError(f"{name} is an RGB(A) image (shape {self.shape}); convert it to a "
                             "single grey channel")
        validate_volume(self.data, name=name)
        return self

    @property
    def is_rgb(self) -> bool:
        """True for colour images (the TIFF stores 3 or 4 samples per pixel)."""
        return bool(self.axes) and self.axes.endswith("S") and self.shape[-1] in (3, 4)

    def close(self) -> None:
        """Close the file a lazy stack reads from (its data can no longer be computed)."""
        if self._tiff is not None:
            self._tiff.close()
            self._tiff = None

    def __enter__(self) -> LoadedStack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------- reading


def read_stack(path: str | os.PathLike, *, lazy: bool | None = None,
               lazy_fraction: float | None = None) -> LoadedStack:
    """Read a TIFF stack and its voxel spacing (nm).

    ``lazy=None`` opens the file as a dask array when its pixel data exceed ``lazy_fraction``
    (default :data:`DEFAULT_LAZY_FRACTION`) of the RAM; ``True``/``False`` force it. Nothing is read
    from a lazy file's pixel data until it is computed. Raises :class:`StackReadError` naming the
    file and the reason when it is missing, not a TIFF, truncated or otherwise unreadable.
    """
    path = Path(path).expanduser()
    tif, series, (spacing, lateral, source, notes) = _read_header(path)
    keep_open = False
    try:
        shape = _series_shape(series)
        nbytes = math.prod(shape) * np.dtype(series[0].dtype).itemsize
        if lazy is None:
            lazy = opens_lazily(nbytes, lazy_fraction)
        if lazy:
            data = _lazy_data(series, path)
            keep_open = True
        else:
            data = _eager_data(series, path)
        if len(series) > 1:
            notes = (*notes, f"{len(series)} single-page series stacked into one (z, y, x) stack")
        axes = str(series[0].axes)
        if len(series) == 1 and len(axes) == 3 and axes[1:] == "YX" and axes[0] != "Z":
            notes = (*notes, f"the file labels the first axis {axes[0]!r} "
                             f"({_AXIS_NAMES.get(axes[0], 'not z')}); it is treated as z")
        axes = ("Z" if len(series) > 1 else "") + axes
        return LoadedStack(data=data, spacing=spacing, path=path, lateral_spacing=lateral,
                           spacing_source=source, notes=notes, axes=axes,
                           _tiff=tif if keep_open else None)
    finally:
        if not keep_open:
            tif.close()


def probe_stack(path: str | os.PathLike) -> None:
    """Check that ``path`` opens as a TIFF stack: header, series and spacing, without reading
    pixel data or building an array (napari calls it on its GUI thread: dask.array alone took
    0.5 s to import there). Raises :class:`StackReadError` like :func:`read_stack`."""
    path = Path(path).expanduser()
    tif, series, _ = _read_header(path)
    try:
        _series_shape(series)
    finally:
        tif.close()


def _read_header(path: Path) -> tuple[tifffile.TiffFile, list, tuple]:
    """The open file, its stack series and ``(spacing, lateral, source, notes)``; the file is
    closed again when that fails."""
    with _tifffile_log() as log:
        tif = _open_tiff(path)
        try:
            series = _stack_series(tif, path, log)
            spacing, lateral, source, notes = read_spacing(tif)
            if log:
                notes = (*notes, "the file's structure is damaged but its pixel data are complete"
                                 f" (tifffile: {'; '.join(log)})")
        except StackReadError:
            tif.close()
            raise
        except Exception as exc:
            tif.close()
            raise StackReadError(f"cannot read {path}: corrupt TIFF ({exc})") from exc
    return tif, series, (spacing, lateral, source, notes)


def _open_tiff(path: Path) -> tifffile.TiffFile:
    if not path.exists():
        raise StackReadError(f"cannot read {path}: no such file")
    if path.is_dir():
        raise StackReadError(f"cannot read {path}: it is a folder, not a TIFF file")
    if path.suffix.lower() not in TIFF_SUFFIXES:
        raise StackReadError(
            f"cannot read {path}: only TIFF stacks (.tif, .tiff) are supported, "
            f"got a {path.suffix or 'suffix-less'} file"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StackReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise StackReadError(f"cannot read {path}: the file is empty (0 bytes)")
    try:
        return tifffile.TiffFile(path)
    except tifffile.TiffFileError as exc:
        raise StackReadError(f"cannot read {path}: not a valid TIFF file ({exc})") from exc
    except PermissionError as exc:
        raise StackReadError(f"cannot read {path}: permission denied") from exc
    except OSError as exc:
        raise StackReadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except Exception as exc:
        raise StackReadError(f"cannot read {path}: corrupt TIFF ({exc})") from exc


@contextlib.contextmanager
def _tifffile_log() -> Iterator[list[str]]:
    """Collect what tifffile logs (it reports structural damage as log warnings, not errors)."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("tifffile")
    handler = _Collect(level=logging.WARNING)
    previous = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = previous


def _stack_series(tif: tifffile.TiffFile, path: Path,
                  log: list[str]) -> list[tifffile.TiffPageSeries]:
    """The page series making up the image: the first one, or several 2-D ones of one shape."""
    series = list(tif.series)
    if not series:
        detail = f" ({'; '.join(log)})" if log else ""
        raise StackReadError(f"cannot read {path}: the TIFF holds no image{detail}")
    first = series[0]
    if (len(series) > 1 and len(first.shape) == 2
            and all(s.shape == first.shape and s.dtype == first.dtype for s in series)):
        chosen = series
    else:
        chosen = [first]
    _check_complete(tif, chosen, path, log)
    return chosen


def _check_complete(tif: tifffile.TiffFile, series: list, path: Path, log: list[str]) -> None:
    """Raise if the file is truncated: pages the header promises are missing or point past EOF."""
    detail = f" (tifffile: {'; '.join(log)})" if log else ""
    ij = tif.imagej_metadata if tif.is_imagej else None
    if ij and len(series) == 1:
        promised = int(ij.get("images", 1) or 1)
        found = math.prod(series[0].shape) // max(1, math.prod(series[0].keyframe.shape))
        if found < promised:
            raise StackReadError(
                f"cannot read {path}: truncated or corrupt file: the ImageJ header promises "
                f"{promised} images but only {found} can be found{detail}"
            )
    file_size = tif.filehandle.size
    for s in series:
        if int(s.size) == 0:
            continue  # zero-size image: reported as empty by require_volume()
        if s.dataoffset is not None:
            end = int(s.dataoffset) + int(s.nbytes)
        else:
            end = 0
            for page in s.pages:
                if page is None:
                    raise StackReadError(f"cannot read {path}: a page of the stack is missing"
                                         f"{detail}")
                offsets, counts = page.dataoffsets, page.databytecounts
                if offsets:
                    end = max(end, max(int(o) + int(c) for o, c in zip(offsets, counts,
                                                                           strict=False)))
        if end > file_size:
            raise StackReadError(
                f"cannot read {path}: truncated file: pixel data run to byte {end} but the file "
                f"has only {file_size} bytes{detail}"
            )


def _series_shape(series: list) -> tuple[int, ...]:
    if len(series) == 1:
        return tuple(int(n) for n in series[0].shape)
    return (len(series), *(int(n) for n in series[0].shape))


def _eager_data(series: list, path: Path) -> np.ndarray:
    try:
        if len(series) == 1:
            return np.asarray(series[0].asarray())
        return np.stack([s.asarray() for s in series])
    except MemoryError as exc:
        raise StackReadError(
            f"cannot read {path}: not enough memory; open it lazily (lazy=True)"
        ) from exc
    except Exception as exc:
        raise StackReadError(f"cannot read {path}: corrupt pixel data ({exc})") from exc


def _lazy_data(series: list, path: Path):
    import dask.array as da
    import zarr

    arrays = []
    for s in series:
        try:
            store = s.aszarr(level=0, chunkmode="page")
            z = zarr.open_array(store, mode="r")
        except Exception as exc:
            raise StackReadError(f"cannot open {path} lazily: {exc}") from exc
        arrays.append(da.from_zarr(z, chunks=_lazy_chunks(z.shape, z.chunks, z.dtype)))
    data = arrays[0] if len(arrays) == 1 else da.stack(arrays)
    _LAZY_SOURCES[data.name] = path.resolve()
    return data


def _lazy_chunks(shape: tuple[int, ...], chunks: tuple[int, ...], dtype) -> tuple[int, ...]:
    """Group whole pages along the first axis into chunks of about :data:`LAZY_CHUNK_BYTES`."""
    if len(shape) < 3 or tuple(chunks[1:]) != tuple(shape[1:]):
        return tuple(chunks)
    page_bytes = max(1, math.prod(shape[1:]) * np.dtype(dtype).itemsize)
    pages = max(1, min(shape[0], LAZY_CHUNK_BYTES // page_bytes))
    return (pages, *shape[1:])


def total_memory_bytes() -> int:
    """Physical memory of this machine (psutil, else ``os.sysconf``, else 8 GiB)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8 * 2**30


def opens_lazily(nbytes: int, lazy_fraction: float | None = None) -> bool:
    """Whether :func:`read_stack` opens pixel data of ``nbytes`` lazily by default."""
    return nbytes > _lazy_threshold_bytes(lazy_fraction)


def _lazy_threshold_bytes(fraction: float | None) -> float:
    if fraction is None:
        text = os.environ.get(LAZY_FRACTION_ENV, "")
        try:
            fraction = float(text) if text else DEFAULT_LAZY_FRACTION
        except ValueError:
            fraction = DEFAULT_LAZY_FRACTION
    if not (math.isfinite(fraction) and fraction >= 0):
        raise InputError(f"lazy-loading fraction of RAM must be >= 0, got {fraction}")
    return fraction * total_memory_bytes()


# --------------------------------------------------------------------------------------- spacing


