"""napari writer (npe2): an Image layer as an ImageJ TIFF carrying the layer scale as spacing.

Refusals (overwriting the layer's own source file, RGB, unsupported data) are shown as a napari
notification naming the reason and nothing is written; napari itself would otherwise swallow the
reason (it treats a ``ValueError`` from a writer as "not a valid writer").
"""

from __future__ import annotations

from typing import Any

from napari.utils.notifications import show_warning

from ._reader import source_path
from .core.errors import A2IError, InputError
from .core.io.tiff_writer import write_stack
from .layers import scale_spacing


def write_image(path: str, data: Any, meta: dict) -> list[str]:
    """Write one Image layer; refuses to overwrite the file the layer was read from."""
    try:
        if meta.get("rgb"):
            raise InputError("the A2I-3DEM TIFF writer saves grey images only; use napari's "
                             "built-in writer for RGB layers")
        source = source_path(meta.get("metadata"))
        written = write_stack(path, data, scale_spacing(meta.get("scale"), meta.get("metadata")),
                              protect=() if source is None else (source,))
    except A2IError as exc:
        show_warning(f"A2I-3DEM: not saved: {exc}")
        return []
    return [str(written)]
