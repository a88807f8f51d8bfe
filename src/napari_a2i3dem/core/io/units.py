"""Length units found in TIFF metadata, converted to nanometres."""

from __future__ import annotations

from fractions import Fraction

_NM_PER_UNIT: dict[str, float] = {
    "pm": 1e-3,
    "picometer": 1e-3,
    "picometre": 1e-3,
    "å": 0.1,
    "a": 0.1,
    "angstrom": 0.1,
    "nm": 1.0,
    "nanometer": 1.0,
    "nanometre": 1.0,
    "µm": 1e3,
    "um": 1e3,
    "micron": 1e3,
    "micrometer": 1e3,
    "micrometre": 1e3,
    "mm": 1e6,
    "millimeter": 1e6,
    "millimetre": 1e6,
    "cm": 1e7,
    "centimeter": 1e7,
    "centimetre": 1e7,
    "m": 1e9,
    "meter": 1e9,
    "metre": 1e9,
    "in": 2.54e7,
    "inch": 2.54e7,
}

#: Spellings meaning "no physical unit" (ImageJ writes ``pixel`` for uncalibrated images).
UNCALIBRATED_UNITS = frozenset({"", "pixel", "pixels", "px", "none"})


def nm_per_unit(unit: str | None) -> float | None:
    """Nanometres in one ``unit`` (``'nm'``, ``'micron'``, ``'µm'``, ``'\\u00B5m'``, ``'inch'``...).

    Returns ``None`` for uncalibrated (``'pixel'``) and unknown units.
    """
    if unit is None:
        return None
    text = str(unit).strip().lower()
    # ImageJ escapes the micro sign in its header; the Greek mu is a common look-alike.
    text = text.replace("\\u00b5", "µ").replace("μ", "µ")
    if text in UNCALIBRATED_UNITS:
        return None
    if text not in _NM_PER_UNIT and len(text) > 3 and text.endswith("s"):
        text = text[:-2] if text.endswith("inches") else text[:-1]  # microns, nanometers, ...
    return _NM_PER_UNIT.get(text)


def inverse_rational(value: float) -> tuple[int, int]:
    """``1 / value`` as a TIFF RATIONAL, computed from the decimal text of ``value`` (exact for
    spacings such as 4.6 -> 5/23)."""
    if value <= 0:
        raise ValueError(f"spacing must be positive, got {value}")
    exact = 1 / Fraction(repr(float(value)))
    limit = 2**32 - 1
    max_denominator = max(1, min(limit, int(limit / float(exact))))
    approx = exact.limit_denominator(max_denominator)
    if approx.numerator == 0:
        raise ValueError(f"spacing {value} is too large to store as a TIFF resolution")
    return approx.numerator, approx.denominator
