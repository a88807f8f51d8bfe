"""Reading and writing EM stacks as TIFF files, with the voxel spacing in nanometres.

:func:`read_stack` opens ``.tif``/``.tiff`` files (ImageJ, OME-TIFF or plain TIFF) and finds the
voxel spacing ``(z, y, x)`` in nm in, by priority, the ImageJ header (``spacing``, X/YResolution,
``unit``), the OME-XML ``PhysicalSize{X,Y,Z}`` or the plain TIFF X/YResolution + ResolutionUnit
(lateral only). Files larger than a fraction of the RAM open lazily as dask arrays reading one
TIFF page per chunk. :func:`write_stack` writes an ImageJ-compatible TIFF atomically (temporary file
in the same folder, then :func:`os.replace`) and never over an input.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from ..errors import GeometryUnknown, InputError, StackReadError
from ..validation import Spacing, ratio_from_spacing, validate_spacing, validate_volume
from .atomic import atomic_file
from .lazy import is_dask
from .units import inverse_rational, nm_per_unit

TIFF_SUFFIXES = (".tif", ".tiff")
#: Files whose pixel data exceed this fraction of the RAM open lazily (dask); the environment
#: variable ``A2I3DEM_LAZY_FRACTION`` overrides it.
DEFAULT_LAZY_FRACTION = 0.25
LAZY_FRACTION_ENV = "A2I3DEM_LAZY_FRACTION"
#: Pixel data above this size are written as BigTIFF (classic TIFF offsets stop at 4 GiB).
BIGTIFF_THRESHOLD_BYTES = 2**32 - 2**25
#: Lazy stacks group this many bytes of consecutive pages into one dask chunk (at least 1 page).
LAZY_CHUNK_BYTES = 8 * 2**20
#: Inch-based resolutions that are software defaults (screen dpi), not a calibration.
_DEFAULT_DPI = (72.0, 96.0)

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


def probe_stack(path: str | os.PathLike) -> LoadedStack:
    """Check that ``path`` opens as a TIFF stack without reading pixel data (always lazy)."""
    return read_stack(path, lazy=True)


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


def read_spacing(tif: tifffile.TiffFile) -> tuple[Spacing | None, tuple[float, float] | None,
                                                  str, tuple[str, ...]]:
    """``(spacing, lateral, source, notes)`` of an open TIFF: ImageJ, then OME, then plain tags."""
    notes: list[str] = []
    page = tif.pages.first
    if tif.is_imagej and tif.imagej_metadata is not None:
        found, lateral = _imagej_spacing(tif.imagej_metadata, page, notes)
        if found is not None:
            return found, (found[1], found[2]), "imagej", tuple(notes)
        if lateral is not None:
            return None, lateral, "imagej", tuple(notes)
    if tif.is_ome and tif.ome_metadata:
        spacing, lateral = _ome_spacing(tif.ome_metadata, notes)
        if spacing is not None or lateral is not None:
            return spacing, lateral, "ome", tuple(notes)
    lateral = _tag_lateral_spacing(page, notes)
    if lateral is not None:
        notes.append("the file gives only the lateral (x, y) pixel size; the axial (z) spacing "
                     "is unknown")
        return None, lateral, "tiff-resolution", tuple(notes)
    if not notes:
        notes.append("the file carries no voxel spacing")
    return None, None, "none", tuple(notes)


def _resolution_spacing(page, code: int, per_unit_nm: float) -> float | None:
    """Spacing in nm from an X/YResolution tag (pixels per unit), or None if absent/invalid."""
    tag = page.tags.get(code)
    if tag is None:
        return None
    try:
        numerator, denominator = (int(v) for v in tag.value)
    except (TypeError, ValueError):
        return None
    if numerator <= 0 or denominator <= 0:
        return None
    return denominator / numerator * per_unit_nm


def _imagej_spacing(meta: dict, page, notes: list[str],
                    ) -> tuple[Spacing | None, tuple[float, float] | None]:
    """(spacing, lateral) from an ImageJ header: the lateral size is kept when only the z
    spacing is unusable (zero, not a number)."""
    unit = meta.get("unit")
    x_nm = nm_per_unit(unit)
    if x_nm is None:
        if unit not in (None, "") and str(unit).strip().lower() not in ("pixel", "pixels"):
            notes.append(f"unknown length unit {unit!r} in the ImageJ header")
        return None, None
    y_nm = nm_per_unit(meta.get("yunit", unit)) or x_nm
    z_nm = nm_per_unit(meta.get("zunit", unit)) or x_nm
    x = _resolution_spacing(page, 282, x_nm)
    y = _resolution_spacing(page, 283, y_nm)
    if x is None or y is None:
        notes.append("the ImageJ header names a unit but the file has no X/YResolution")
        return None, None
    depth = meta.get("spacing")
    if depth is None:
        notes.append(f"the ImageJ header has no 'spacing' entry; z spacing taken as 1 {unit}, "
                     "as ImageJ does")
        depth = 1.0
    try:
        depth = float(depth)
    except (TypeError, ValueError):
        depth = math.nan
    if not math.isfinite(depth) or depth == 0:
        notes.append(f"the ImageJ z spacing {meta.get('spacing')!r} is unusable; the axial "
                     "spacing is unknown (the lateral pixel size is kept)")
        return None, (y, x)
    if depth < 0:
        notes.append(f"the ImageJ z spacing is negative ({depth:g} {unit}: the sections are "
                     f"numbered in reverse); its size {-depth:g} {unit} is used")
    try:
        return validate_spacing((abs(depth) * z_nm, y, x)), (y, x)
    except (TypeError, ValueError):
        notes.append(f"invalid ImageJ spacing {depth!r}")
        return None, (y, x)


def _ome_spacing(xml: str, notes: list[str]) -> tuple[Spacing | None, tuple[float, float] | None]:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        notes.append(f"unreadable OME-XML metadata ({exc})")
        return None, None
    pixels = next((el for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "Pixels"), None)
    if pixels is None:
        return None, None

    def size(axis: str) -> float | None:
        value = pixels.get(f"PhysicalSize{axis}")
        if value is None:
            return None
        unit = pixels.get(f"PhysicalSize{axis}Unit", "µm")  # the OME schema's default
        per_unit = nm_per_unit(unit)
        if per_unit is None:
            notes.append(f"unknown OME unit {unit!r} for PhysicalSize{axis}")
            return None
        try:
            number = float(value) * per_unit
        except ValueError:
            return None
        return number if math.isfinite(number) and number > 0 else None

    x, y, z = size("X"), size("Y"), size("Z")
    if x is None or y is None:
        return None, None
    if z is None:
        notes.append("the OME metadata gives no PhysicalSizeZ; the axial spacing is unknown")
        return None, (y, x)
    return (z, y, x), (y, x)


def _tag_lateral_spacing(page, notes: list[str]) -> tuple[float, float] | None:
    unit_code = int(page.tags.valueof(296, default=2))
    per_unit = {2: 2.54e7, 3: 1e7, 4: 1e6, 5: 1e3}.get(unit_code)
    if per_unit is None or 282 not in page.tags:
        return None
    x = _resolution_spacing(page, 282, per_unit)
    y = _resolution_spacing(page, 283, per_unit)
    if x is None or y is None:
        return None
    if unit_code == 2 and any(math.isclose(per_unit / x, dpi) for dpi in _DEFAULT_DPI):
        notes.append(f"ignored the resolution of {per_unit / x:g} dpi: a software default, "
                     "not a calibration")
        return None
    return y, x


def resolve_spacing(loaded: LoadedStack, spacing: Sequence[float] | None = None,
                    ratio: float | None = None) -> Spacing:
    """The spacing to use: ``spacing`` if given, else the file's, with ``ratio`` overriding z.

    ``ratio`` alone on a file without spacing gives ``(ratio, 1, 1)`` (relative units). Raises
    :class:`InputError` when nothing gives a spacing or rho = z / lateral would be below 1.
    """
    where = str(loaded.path) if loaded.path is not None else "the stack"
    if spacing is not None:
        result = validate_spacing(spacing)
    else:
        lateral = loaded.lateral_spacing
        if lateral is None and loaded.spacing is not None:
            lateral = (loaded.spacing[1], loaded.spacing[2])
        if ratio is not None:
            from ..validation import validate_ratio

            rho = validate_ratio(ratio)
            y, x = lateral if lateral is not None else (1.0, 1.0)
            result = validate_spacing((rho * (y + x) / 2.0, y, x))
        elif loaded.spacing is not None:
            result = validate_spacing(loaded.spacing)
        elif lateral is not None:
            raise GeometryUnknown(
                f"{where} gives only the lateral pixel size ({lateral[0]:g} x {lateral[1]:g} nm),"
                " not the axial spacing"
            )
        else:
            raise GeometryUnknown(f"{where} carries no voxel spacing")
    try:
        ratio_from_spacing(result)
    except InputError as exc:
        raise InputError(f"spacing {result} (z, y, x nm) is unusable: {exc}") from exc
    return result


# --------------------------------------------------------------------------------------- writing


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


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.abspath(a.resolve())) == os.path.normcase(
        os.path.abspath(b.resolve()))


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
        if other is not None and _same_file(path, Path(other)):
            raise InputError(f"refusing to write {path}: it is an input file and would be "
                             "overwritten; choose another output name")
    source = source_of(data)
    if source is not None and _same_file(path, source):
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
