"""The voxel spacing of a TIFF stack in nanometres, and the spacing a command or widget uses.

:func:`read_spacing` looks, by priority, in the ImageJ header (``spacing``, X/YResolution,
``unit``), the OME-XML ``PhysicalSize{X,Y,Z}`` and the plain TIFF X/YResolution + ResolutionUnit
(lateral only); :func:`resolve_spacing` combines the file's with what the user gave.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import TYPE_CHECKING

import tifffile

from ..errors import GeometryUnknown, InputError
from ..validation import Spacing, ratio_from_spacing, validate_spacing
from .units import nm_per_unit

if TYPE_CHECKING:
    from .tiff import LoadedStack

#: Inch-based resolutions that are software defaults (screen dpi), not a calibration.
_DEFAULT_DPI = (72.0, 96.0)


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
