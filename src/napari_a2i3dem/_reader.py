"""napari reader (npe2): TIFF stacks with their voxel spacing (nm) as the layer scale.

3-D grey stacks become an Image layer with ``scale`` = spacing (z, y, x) in nm and ``metadata``
holding the source path and spacing; images the plugin cannot reconstruct (2-D, RGB, 4-D+) open
unchanged as ordinary layers with a notification saying why; unreadable files give a notification
and no layer instead of a traceback. Large files stay lazy (dask).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from napari.utils.notifications import show_info, show_warning

from .core.errors import A2IError, InputError
from .core.io.tiff import TIFF_SUFFIXES, LoadedStack, probe_stack, read_stack

LayerData = tuple[Any, dict, str]
PathLike = str | os.PathLike


#: napari's "nothing to add" result: no layer, and no "no reader found" error with a traceback
NO_LAYER: list = [(None,)]


def get_reader(path: PathLike | Sequence[PathLike]) -> Callable[[Any], list[LayerData]] | None:
    """:func:`read_tiff` for one ``.tif``/``.tiff`` file that opens; for one that does not, a
    reader that says why in one line and adds nothing (napari would otherwise report "no reader"
    with a traceback over our message); ``None`` for anything else."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    if not str(path).lower().endswith(TIFF_SUFFIXES):
        return None
    try:
        probe_stack(path)
    except A2IError as exc:
        message = f"A2I-3DEM: {exc}"
        return lambda _path: _refuse(message)
    return read_tiff


def _refuse(message: str) -> list:
    show_warning(message)
    return NO_LAYER


def read_tiff(path: PathLike | Sequence[PathLike]) -> list[LayerData] | list:
    """Read one TIFF into napari layer data (see the module docstring)."""
    if isinstance(path, (list, tuple)):
        path = path[0]
    try:
        loaded = read_stack(path)
    except A2IError as exc:
        return _refuse(f"A2I-3DEM: {exc}")
    return [layer_data(loaded)]


def layer_metadata(loaded: LoadedStack) -> dict:
    """What the plugin keeps in ``layer.metadata``: source file, spacing (nm) and where from."""
    return {
        "source_path": str(loaded.path) if loaded.path is not None else None,
        "spacing": loaded.spacing,
        "lateral_spacing": loaded.lateral_spacing,
        "spacing_source": loaded.spacing_source,
        "lazy": loaded.lazy,
        "notes": list(loaded.notes),
    }


def layer_data(loaded: LoadedStack) -> LayerData:
    """napari ``(data, kwargs, "image")`` for a loaded file, notifying what the user should know."""
    kwargs: dict[str, Any] = {"name": loaded.name, "metadata": layer_metadata(loaded)}
    try:
        loaded.require_volume()
    except InputError as exc:
        if loaded.is_rgb or len(loaded.shape) != 3:
            return _ordinary_layer(loaded, kwargs, exc)
        # a 3-D stack the tools cannot use as it is (NaN/inf, bool, tiny planes): open it with
        # its spacing, and say what is wrong and that the tools will refuse it
        show_warning(f"A2I-3DEM: {exc}. It is opened for viewing; training and reconstruction "
                     "will refuse it until that is fixed.")
    if loaded.spacing is not None:
        kwargs["scale"] = loaded.spacing
        if loaded.ratio is None:
            show_warning(f"A2I-3DEM: {loaded.name} has a finer axial than lateral spacing "
                         f"{_format(loaded.spacing)} nm; check it in 'Load anisotropic stack'.")
    elif loaded.lateral_spacing is not None:
        y, x = loaded.lateral_spacing
        kwargs["scale"] = ((y + x) / 2.0, y, x)
        show_info(f"A2I-3DEM: {loaded.name} gives only its lateral pixel size ({y:g} x {x:g} nm);"
                  " set the axial (z) spacing in 'Load anisotropic stack'.")
    else:
        show_info(f"A2I-3DEM: {loaded.name} carries no voxel spacing; set it in "
                  "'Load anisotropic stack'.")
    return loaded.data, kwargs, "image"


def _ordinary_layer(loaded: LoadedStack, kwargs: dict, problem: Exception) -> LayerData:
    """2-D, RGB(A) and 4-D+ images: unchanged, with the lateral pixel size when known."""
    rgb = loaded.is_rgb
    if rgb:
        kwargs["rgb"] = True
    spatial_ndim = len(loaded.shape) - (1 if rgb else 0)
    if loaded.lateral_spacing is not None and spatial_ndim >= 2:
        kwargs["scale"] = (1.0,) * (spatial_ndim - 2) + tuple(loaded.lateral_spacing)
    show_info(f"A2I-3DEM: {problem}. Opened as an ordinary layer; the A2I-3DEM tools need a "
              "single-channel 3-D (z, y, x) stack.")
    return loaded.data, kwargs, "image"


def _format(spacing: Sequence[float]) -> str:
    return " x ".join(f"{v:g}" for v in spacing)


def source_path(metadata: dict | None) -> Path | None:
    """The file a layer was read from, as recorded by this reader (or ``None``)."""
    value = (metadata or {}).get("source_path")
    return Path(value) if value else None
