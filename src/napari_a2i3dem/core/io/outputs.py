"""Where a reconstruction is written: memory, an OME-Zarr (v3) folder or an ImageJ TIFF.

Every file target is written atomically: a ``.zarr`` goes to ``NAME.zarr.tmp-XXXX`` beside the
destination and is renamed when complete; a ``.tif`` is filled in place as the final TIFF's
memory-mapped pixel data under a hidden ``.NAME.XXXX.part.tif`` beside it (so it may exceed RAM;
it needs its own size on disk once, allocated up front) and renamed when complete. Nothing is
ever written over a protected path (the input stack).
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError, StackReadError
from .atomic import unwritable

ZARR_SUFFIXES = (".zarr",)
TIFF_SUFFIXES = (".tif", ".tiff")


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == Path(b).resolve()
    except OSError:
        return False


def _inside(inner: Path, outer: Path) -> bool:
    """True when ``inner`` lies within the folder ``outer``."""
    try:
        return Path(inner).resolve().is_relative_to(Path(outer).resolve())
    except OSError:
        return False


#: What a zarr store written by this package holds at its top level; anything else is the user's.
OWN_ZARR_ENTRIES = {"zarr.json", "0"}


def check_replaceable_zarr(path: Path) -> None:
    """Refuse to replace ``path`` unless it is absent or a store this package wrote, holding
    nothing else (a ``labels/`` group added beside the data would be lost)."""
    if not path.exists():
        return
    if not path.is_dir() or not (path / "zarr.json").exists():
        raise InputError(f"{path} exists and is not a zarr store written by napari-a2i3dem; "
                         "not replacing it; choose another output path")
    extra = sorted(p.name for p in path.iterdir() if p.name not in OWN_ZARR_ENTRIES)
    if extra:
        raise InputError(f"{path} holds other data ({', '.join(extra)}); not replacing it; "
                         "choose another output path")


def check_output_path(path: str | Path, protect=()) -> Path:
    """Validate an output path: known suffix, existing folder, not one of ``protect``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ZARR_SUFFIXES + TIFF_SUFFIXES:
        raise InputError(f"output {path} must end in .tif, .tiff or .zarr")
    for guarded in protect:
        if guarded is None:
            continue
        if _same_path(path, Path(guarded)):
            raise InputError(f"output {path} is the input stack; choose another output path")
        if _inside(Path(guarded), path):
            raise InputError(f"output {path} contains the input {guarded}; writing it would "
                             "delete the input; choose another output path")
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")
    return path


def default_chunks(shape: tuple[int, ...], edge: int = 64) -> tuple[int, ...]:
    return tuple(max(1, min(int(s), edge)) for s in shape)


def ome_zarr_attributes(spacing, *, name: str = "a2i3dem", unit: str = "nanometer") -> dict:
    """OME-Zarr 0.5 ``multiscales`` metadata of a single-scale (z, y, x) image."""
    axes = [{"name": a, "type": "space", "unit": unit} for a in "zyx"]
    return {
        "ome": {
            "version": "0.5",
            "multiscales": [{
                "name": name,
                "axes": axes,
                "datasets": [{
                    "path": "0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [float(s) for s in spacing]}
                    ],
                }],
            }],
        }
    }


class OutputTarget:
    """A writable ``array`` (z, y, x) plus :meth:`commit` / :meth:`discard`."""

    path: Path | None = None
    array = None

    def write(self, rows: slice, data: np.ndarray, planes: slice = slice(None)) -> None:
        self.array[planes, rows, :] = data

    def commit(self):
        """Make the output final; returns an array-like view of the result."""
        return self.array

    def discard(self) -> None:
        """Drop a partial output (after an error or cancel); the destination is untouched."""


class MemoryTarget(OutputTarget):
    def __init__(self, shape, dtype) -> None:
        self.array = np.zeros(shape, dtype=dtype)


class ZarrTarget(OutputTarget):
    """A zarr v3 OME-Zarr group written in a temporary folder and renamed on commit."""

    def __init__(self, path: Path, shape, dtype, spacing, *, chunks=None, name="a2i3dem") -> None:
        import zarr

        self.path = Path(path)
        check_replaceable_zarr(self.path)  # before any work: never after hours of compute
        self._tmp = Path(tempfile.mkdtemp(prefix=self.path.name + ".tmp-", dir=self.path.parent))
        group = zarr.open_group(str(self._tmp), mode="w", zarr_format=3)
        group.attrs.update(ome_zarr_attributes(spacing, name=name))
        self.array = group.create_array(
            "0", shape=tuple(shape), dtype=np.dtype(dtype),
            chunks=chunks or default_chunks(shape), fill_value=0,
            dimension_names=("z", "y", "x"),
        )

    def commit(self):
        import zarr

        if self.path.exists():
            check_replaceable_zarr(self.path)  # it may have changed during the run
            backup = self.path.with_name(self.path.name + f".old-{os.getpid()}")
            os.replace(self.path, backup)
            os.replace(self._tmp, self.path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(self._tmp, self.path)
        self.array = zarr.open_array(str(self.path / "0"), mode="r")
        return self.array

    def discard(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)


class TiffTarget(OutputTarget):
    """An ImageJ TIFF (OME-TIFF for types ImageJ cannot hold) filled in place: the final file's
    uncompressed, contiguous pixel data are memory-mapped under a hidden temporary name beside
    the destination, so the output may exceed RAM, needs its own size on disk once (not twice),
    and becomes final with one rename."""

    def __init__(self, path: Path, shape, dtype, spacing, *, protect=()) -> None:
        import tifffile

        from ..validation import validate_spacing
        from .tiff_writer import (
            BIGTIFF_THRESHOLD_BYTES,
            _quiet_bigtiff_imagej,
            _tiff_options,
            _writable_dtype,
        )

        self.path = Path(path)
        self.protect = tuple(protect)
        dtype, as_imagej = _writable_dtype(np.dtype(dtype))
        shape = tuple(int(n) for n in shape)
        options = _tiff_options(shape, validate_spacing(spacing), as_imagej)
        nbytes = math.prod(shape) * dtype.itemsize
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part.tif",
                                   dir=self.path.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        try:
            with _quiet_bigtiff_imagej(as_imagej and nbytes > BIGTIFF_THRESHOLD_BYTES):
                self.array = tifffile.memmap(tmp, shape=shape, dtype=dtype, imagej=as_imagej,
                                             ome=not as_imagej,
                                             bigtiff=nbytes > BIGTIFF_THRESHOLD_BYTES,
                                             **options)
            _reserve(self._tmp)
        except BaseException:
            self.discard()
            raise

    def commit(self):
        import tifffile

        self.array.flush()
        self.array = None
        check_output_path(self.path, self.protect)  # the inputs may have moved meanwhile
        os.replace(self._tmp, self.path)
        return tifffile.memmap(self.path, mode="r")

    def discard(self) -> None:
        self.array = None
        try:
            self._tmp.unlink()
        except FileNotFoundError:
            pass
        except OSError:  # pragma: no cover - Windows keeps mapped files open
            pass


def _reserve(path: Path) -> None:
    """Allocate the whole file now: a full disk is one clear error here, not a SIGBUS when a
    memory-mapped page cannot be written hours later."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(f"not enough free disk space for {path.parent / path.name}: "
                             f"{exc.strerror}") from exc
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_output_size(path: Path | None, shape, dtype) -> None:
    """Refuse, before anything is allocated, an output that cannot fit: in memory above 80 % of
    RAM, on disk above the free space."""
    from .tiff import total_memory_bytes

    size = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize  # exact, no overflow
    shape_text = " x ".join(str(int(n)) for n in shape)
    if path is None:
        limit = int(0.8 * total_memory_bytes())
        if size > limit:
            raise InputError(f"the isotropic volume ({shape_text}) needs {_gib(size)} in memory, "
                             f"more than this machine can hold ({_gib(limit)}); write it to a "
                             ".zarr file instead")
        return
    needed = size
    free = shutil.disk_usage(path.parent).free
    if needed > free:
        raise InputError(f"{path.name} ({shape_text}) needs {_gib(needed)} on disk, only "
                         f"{_gib(free)} are free in {path.parent}")


def open_target(path: str | Path | None, shape, dtype, spacing, *, protect=()) -> OutputTarget:
    """A memory target for ``path=None``, else a ``.zarr`` or ``.tif`` file target; an output
    that cannot fit is refused first (:func:`check_output_size`)."""
    if path is None:
        check_output_size(None, shape, dtype)
        return MemoryTarget(shape, dtype)
    path = check_output_path(path, protect)
    check_output_size(path, shape, dtype)
    try:
        if path.suffix.lower() in ZARR_SUFFIXES:
            return ZarrTarget(path, shape, dtype, spacing)
        return TiffTarget(path, shape, dtype, spacing, protect=protect)
    except OSError as exc:  # a read-only or full folder: one line naming it, nothing left
        raise unwritable(path, exc) from exc


def read_zarr_stack(path: str | Path):
    """A lazy dask (z, y, x) view of an OME-Zarr image (or zarr array), and its spacing or None."""
    import dask.array as da
    import zarr

    path = Path(path)
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise StackReadError(f"cannot open {path} as zarr: {exc}") from exc
    spacing = None
    if isinstance(node, zarr.Group):
        attrs = dict(node.attrs)
        multiscales = attrs.get("ome", attrs).get("multiscales")
        if multiscales:
            dataset = multiscales[0]["datasets"][0]
            array = node[dataset["path"]]
            for transform in dataset.get("coordinateTransformations", []):
                if transform.get("type") == "scale":
                    spacing = tuple(float(s) for s in transform["scale"][-3:])
        elif "0" in node:
            array = node["0"]
        else:
            raise StackReadError(f"{path} is a zarr group without an image array")
    else:
        array = node
    return da.from_zarr(array), spacing
