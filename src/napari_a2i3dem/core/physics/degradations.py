"""Synthetic training pairs: a clean lateral (xy) patch and what an axial acquisition makes of it.

A clean patch (network units, roughly [0, 1]) goes through the physical chain of a serial-section
acquisition along one axis (the "section" axis, ``axis``):

1. slice profile: blur along ``axis`` (section thickness, width drawn from a range),
2. sampling every rho fine pixels (:func:`~.acquisition.downsample_axis`) -> the *acquired rows*,
3. section-level artefacts on the acquired rows: misalignment (each row shifted along itself), local
   smear (a row segment blurred), dust/debris blobs, brightness/contrast drift, scan-line offsets,
4. acquisition noise (Gaussian or Poisson-Gaussian) on the acquired rows,
5. missing or damaged sections (a row, or a segment of it, replaced by black),
6. cubic up-sampling back to the fine grid with :func:`~.acquisition.upsample_axis` -- the same
   operator that brings a real stack onto the isotropic grid.

Because every section-level artefact and the noise act on the coarse rows before the cubic
interpolation, they are smoothed along the section axis exactly as they are on real xz / yz planes.
Each artefact draws from its own random stream, so toggling one leaves the others unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from ..choices import ARTEFACT_NAMES
from ..errors import InputError
from ..validation import validate_ratio
from .acquisition import PROFILE_KINDS, SliceProfile, downsample_axis, upsample_axis


def _ndimage():
    """SciPy's ndimage, imported on first use (0.15 s that a parser or a widget need not pay)."""
    from scipy import ndimage

    return ndimage


NOISE_KINDS = ("none", "gaussian", "poisson_gaussian")

#: What ``strength`` means for each artefact (shown in the widget and the docs).
ARTEFACT_UNITS = {
    "misalignment": "std of per-section shift along the section (fine pixels)",
    "smear": "Gaussian blur sigma along a section segment (fine pixels)",
    "dust": "blob contrast (network units; sign random, mostly dark)",
    "drift": "std of section brightness offset and relative contrast change",
    "stripes": "std of independent per-section scan-line offsets (network units)",
    "missing": "fraction of the section row lost (1 = whole section black)",
}

Range = tuple[float, float]


def _range(value: Any, name: str, *, low: float = 0.0) -> Range:
    """Validate a ``(lo, hi)`` pair (a single number means ``(v, v)``)."""
    if isinstance(value, int | float):
        value = (value, value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be a (min, max) pair of numbers, got {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(f"{name} must be finite, got {(lo, hi)}")
    if lo < low or hi < lo:
        raise InputError(f"{name} must satisfy {low} <= min <= max, got {(lo, hi)}")
    return (lo, hi)


def _probability(value: Any, name: str) -> float:
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise InputError(f"{name} probability must be in [0, 1], got {p}")
    return p


def _check_keys(d: dict, allowed: set[str], where: str) -> None:
    if not isinstance(d, dict):
        raise InputError(f"{where} must be a dict, got {type(d).__name__}")
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise InputError(
            f"unknown {where} setting(s) {unknown}; known settings are {sorted(allowed)}"
        )


@dataclass(frozen=True)
class Artefact:
    """One EM artefact: applied to a pair with ``probability``, strength drawn from ``strength``."""

    enabled: bool = True
    probability: float = 0.3
    strength: Range = (0.0, 0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "strength", _range(self.strength, "artefact strength"))
        object.__setattr__(self, "probability", _probability(self.probability, "artefact"))
        object.__setattr__(self, "enabled", bool(self.enabled))

    def to_dict(self) -> dict:
        return {"enabled": self.enabled, "probability": self.probability,
                "strength": list(self.strength)}

    @classmethod
    def from_dict(cls, d: dict, name: str = "artefact") -> Artefact:
        _check_keys(d, {f.name for f in fields(cls)}, name)
        return cls(**{k: (tuple(v) if k == "strength" else v) for k, v in d.items()})


@dataclass(frozen=True)
class NoiseSettings:
    """Acquisition noise on the acquired rows (network units).

    ``gaussian``: additive, std drawn from ``sigma``. ``poisson_gaussian`` adds shot noise whose
    std at intensity 1 is drawn from ``poisson`` (variance ``poisson**2 * x``) on top of the
    Gaussian part.
    """

    kind: str = "poisson_gaussian"
    probability: float = 0.9
    sigma: Range = (0.005, 0.03)
    poisson: Range = (0.0, 0.02)

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise InputError(f"noise kind must be one of {NOISE_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "sigma", _range(self.sigma, "noise sigma"))
        object.__setattr__(self, "poisson", _range(self.poisson, "noise poisson"))
        object.__setattr__(self, "probability", _probability(self.probability, "noise"))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "probability": self.probability,
                "sigma": list(self.sigma), "poisson": list(self.poisson)}

    @classmethod
    def from_dict(cls, d: dict) -> NoiseSettings:
        _check_keys(d, {f.name for f in fields(cls)}, "noise")
        return cls(**{k: (tuple(v) if k in ("sigma", "poisson") else v) for k, v in d.items()})


def _default_artefacts() -> dict[str, Artefact]:
    return {
        "misalignment": Artefact(True, 0.3, (0.2, 1.0)),
        "smear": Artefact(True, 0.2, (1.0, 3.0)),
        "dust": Artefact(True, 0.15, (0.1, 0.4)),
        "drift": Artefact(True, 0.9, (0.02, 0.1)),
        "stripes": Artefact(True, 0.6, (0.01, 0.04)),
        "missing": Artefact(True, 0.05, (0.3, 1.0)),
    }


@dataclass(frozen=True)
class DegradationConfig:
    """Everything that turns a clean xy patch into a synthetic axial input (serialisable).

    ``profile`` is the slice profile (its width is the centre of ``profile_width`` by default);
    unless ``fixed_profile`` its ``width`` is replaced for each pair by a value drawn from
    ``profile_width`` (in units of the section spacing), which makes the
    network robust to the unknown section thickness. The defaults (box profile of 0.4-1.2 section
    spacings, noise of 0.5-3 % of the intensity range, frequent section drift and scan-line
    offsets) gave the closest axial and lateral spectra on the ssTEM and FIB-SEM volumes we tried
    (docs/degradation.md).
    """

    profile: SliceProfile = field(default_factory=lambda: SliceProfile("box", 0.8))
    profile_width: Range = (0.4, 1.2)
    fixed_profile: bool = False
    noise: NoiseSettings = field(default_factory=NoiseSettings)
    artefacts: dict[str, Artefact] = field(default_factory=_default_artefacts)

    def __post_init__(self) -> None:
        if not isinstance(self.profile, SliceProfile):
            raise InputError("profile must be a SliceProfile")
        object.__setattr__(self, "profile_width", _range(self.profile_width, "profile_width"))
        object.__setattr__(self, "fixed_profile", bool(self.fixed_profile))
        unknown = sorted(set(self.artefacts) - set(ARTEFACT_NAMES))
        if unknown:
            raise InputError(f"unknown artefact(s) {unknown}; known are {list(ARTEFACT_NAMES)}")
        full = {name: Artefact(False, 0.0, (0.0, 0.0)) for name in ARTEFACT_NAMES}
        full.update(self.artefacts)
        object.__setattr__(self, "artefacts", full)

    @classmethod
    def clean(cls, profile: SliceProfile | None = None) -> DegradationConfig:
        """Acquisition only: fixed slice profile (default box, one section spacing wide),
        sampling and cubic interpolation; no noise or artefacts."""
        return cls(profile=profile or SliceProfile("box", 1.0), fixed_profile=True,
                   noise=NoiseSettings(kind="none", probability=0.0, sigma=(0, 0), poisson=(0, 0)),
                   artefacts={name: Artefact(False, 0.0, (0.0, 0.0)) for name in ARTEFACT_NAMES})

    def with_artefact(self, name: str, **changes: Any) -> DegradationConfig:
        """A copy with one artefact's fields changed (e.g. ``enabled=False``)."""
        if name not in ARTEFACT_NAMES:
            raise InputError(f"unknown artefact {name!r}; known are {list(ARTEFACT_NAMES)}")
        artefacts = dict(self.artefacts)
        artefacts[name] = replace(artefacts[name], **changes)
        return replace(self, artefacts=artefacts)

    def only(self, *names: str) -> DegradationConfig:
        """A copy with just the named artefacts (and ``"noise"`` if named) switched on."""
        config = self
        for name in ARTEFACT_NAMES:
            config = config.with_artefact(name, enabled=name in names)
        if "noise" not in names:
            config = replace(config, noise=replace(config.noise, kind="none"))
        return config

    def to_dict(self) -> dict:
        """Plain JSON-able dict (saved with every trained model)."""
        return {
            "profile": self.profile.to_dict(),
            "profile_width": list(self.profile_width),
            "fixed_profile": self.fixed_profile,
            "noise": self.noise.to_dict(),
            "artefacts": {name: a.to_dict() for name, a in self.artefacts.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> DegradationConfig:
        """Inverse of :meth:`to_dict`; missing keys take defaults, unknown keys are an error."""
        _check_keys(d, {f.name for f in fields(cls)}, "degradation")
        kwargs: dict[str, Any] = {}
        if "profile" in d:
            _check_keys(d["profile"], {"kind", "width", "kernel"}, "slice profile")
            kwargs["profile"] = SliceProfile.from_dict(d["profile"])
        if "profile_width" in d:
            kwargs["profile_width"] = tuple(d["profile_width"])
        if "fixed_profile" in d:
            kwargs["fixed_profile"] = d["fixed_profile"]
        if "noise" in d:
            kwargs["noise"] = NoiseSettings.from_dict(d["noise"])
        if "artefacts" in d:
            _check_keys(d["artefacts"], set(ARTEFACT_NAMES), "artefact")
            artefacts = _default_artefacts()
            for name, a in d["artefacts"].items():
                artefacts[name] = Artefact.from_dict(a, name)
            kwargs["artefacts"] = artefacts
        return cls(**kwargs)


# --------------------------------------------------------------------------------------------
# Individual artefacts. Each takes the acquired rows ``low`` (sections x positions along the
# section, float32, network units), a strength and a Generator, and returns a new array.


def shift_rows(low: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each row of ``low`` along itself by ``shifts[k]`` pixels (cubic, mirror boundary)."""
    n, m = low.shape
    rows, cols = np.meshgrid(np.arange(n, dtype=np.float32), np.arange(m, dtype=np.float32),
                             indexing="ij")
    cols = cols - shifts.astype(np.float32)[:, None]
    return _ndimage().map_coordinates(low, [rows, cols], order=3, mode="mirror").astype(np.float32)


def apply_misalignment(low: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Small section misalignment: every section shifted along itself by N(0, strength) pixels."""
    return shift_rows(low, rng.normal(0.0, strength, size=low.shape[0]))


def apply_smear(low: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Local smear: on 1-3 sections a segment (20-60 % of the row) is blurred along the row with
    Gaussian sigma ``strength``, blended in with a smooth taper."""
    out = low.copy()
    n, m = low.shape
    for row in rng.choice(n, size=min(n, int(rng.integers(1, 4))), replace=False):
        length = rng.uniform(0.2, 0.6) * m
        centre = rng.uniform(0, m)
        x = np.arange(m)
        weight = np.clip(1.0 - np.abs(x - centre) / (length / 2.0), 0.0, 1.0)
        weight = np.clip(2.0 * weight, 0.0, 1.0).astype(np.float32)  # flat top, linear taper
        blurred = _ndimage().gaussian_filter1d(low[row], strength, mode="mirror")
        out[row] = (1.0 - weight) * low[row] + weight * blurred
    return out


def apply_dust(low: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Dust/debris: 1-3 Gaussian blobs lying on one or two sections (2-8 px wide along the row),
    dark with probability 0.8, contrast ``strength``."""
    out = low.copy()
    n, m = low.shape
    rows, cols = np.mgrid[0:n, 0:m].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        r0, c0 = rng.uniform(0, n - 1), rng.uniform(0, m)
        sr, sc = rng.uniform(0.3, 0.8), rng.uniform(2.0, 8.0)
        sign = -1.0 if rng.random() < 0.8 else 1.0
        blob = np.exp(-0.5 * (((rows - r0) / sr) ** 2 + ((cols - c0) / sc) ** 2))
        out += np.float32(sign * strength) * blob.astype(np.float32)
    return out


def apply_drift(low: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Section-to-section brightness and contrast drift: row ``k`` becomes
    ``mean + (1 + c_k) (row - mean) + b_k`` with ``b``, ``c`` AR(1) series of std ``strength``
    (correlation drawn in [0, 0.9]); the in-row structure is untouched."""
    n = low.shape[0]
    phi = rng.uniform(0.0, 0.9)
    innovations = rng.normal(0.0, 1.0, size=(2, n))
    series = np.empty((2, n))
    series[:, 0] = innovations[:, 0]
    for k in range(1, n):
        series[:, k] = phi * series[:, k - 1] + math.sqrt(1.0 - phi**2) * innovations[:, k]
    offset, gain = strength * series
    mean = np.float32(low.mean())
    out = mean + (1.0 + gain[:, None]).astype(np.float32) * (low - mean)
    return (out + offset[:, None].astype(np.float32)).astype(np.float32)


def apply_stripes(low: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Scan-line noise: an independent offset N(0, strength) added to each whole section row."""
    return low + rng.normal(0.0, strength, size=(low.shape[0], 1)).astype(np.float32)


def apply_missing(low: np.ndarray, strength: float, rng: np.random.Generator,
                  fill: float = 0.0) -> np.ndarray:
    """Missing/damaged section: one section (rarely two adjacent) loses a segment of
    ``strength`` x its length (1 = the whole section), set to ``fill`` (black)."""
    out = low.copy()
    n, m = low.shape
    count = 2 if (n > 2 and rng.random() < 0.2) else 1
    first = int(rng.integers(0, n - count + 1))
    length = max(1, round(min(1.0, strength) * m))
    start = int(rng.integers(0, m - length + 1))
    out[first:first + count, start:start + length] = fill
    return out


_ARTEFACT_FUNCTIONS = {
    "misalignment": apply_misalignment,
    "smear": apply_smear,
    "dust": apply_dust,
    "drift": apply_drift,
    "stripes": apply_stripes,
}


def add_noise(low: np.ndarray, settings: NoiseSettings, rng: np.random.Generator) -> np.ndarray:
    """Acquisition noise on the acquired rows (see :class:`NoiseSettings`)."""
    if settings.kind == "none" or rng.random() >= settings.probability:
        return low
    sigma = rng.uniform(*settings.sigma)
    out = low
    if settings.kind == "poisson_gaussian":
        p = rng.uniform(*settings.poisson)
        if p > 0:
            positive = np.clip(low, 0.0, None)
            shot = (rng.poisson(positive / (p * p)) * (p * p)).astype(np.float32)
            out = shot + (low - positive)
    return (out + rng.normal(0.0, sigma, size=low.shape)).astype(np.float32)


def draw_profile(config: DegradationConfig, rng: np.random.Generator) -> SliceProfile:
    """The slice profile for one pair (width drawn from ``profile_width`` unless fixed)."""
    if config.fixed_profile or config.profile.kind in ("none", "custom"):
        return config.profile
    return replace(config.profile, width=float(rng.uniform(*config.profile_width)))


def degrade_rows(low: np.ndarray, config: DegradationConfig,
                 rng: np.random.Generator) -> np.ndarray:
    """Apply artefacts, noise and missing sections (in physical order) to acquired rows
    ``(sections, positions)``."""
    streams = [np.random.default_rng(s) for s in rng.integers(0, 2**63, size=8)]
    out = np.asarray(low, dtype=np.float32)
    for stream, name in zip(streams, ("misalignment", "smear", "dust", "drift", "stripes"),
                            strict=False):
        artefact = config.artefacts[name]
        hit = stream.random() < artefact.probability
        if artefact.enabled and hit:
            out = _ARTEFACT_FUNCTIONS[name](out, float(stream.uniform(*artefact.strength)), stream)
    out = add_noise(out, config.noise, streams[5])
    missing = config.artefacts["missing"]
    if missing.enabled and streams[6].random() < missing.probability:
        out = apply_missing(out, float(streams[6].uniform(*missing.strength)), streams[6])
    return out


def make_pair(patch: np.ndarray, ratio: float, config: DegradationConfig,
              rng: np.random.Generator, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One training pair from a clean 2-D patch: ``(degraded input, clean target)``, float32.

    ``axis`` is the section (subsampled) axis; the degraded input has the patch's shape and is
    aligned with it (acquired sample ``k`` at fine coordinate ``k * rho``).
    """
    ratio = validate_ratio(ratio)
    clean = np.asarray(patch, dtype=np.float32)
    if clean.ndim != 2:
        raise InputError(f"make_pair needs a 2-D patch, got shape {clean.shape}")
    if axis not in (0, 1, -1, -2):
        raise InputError(f"axis must be 0 or 1 for a 2-D patch, got {axis}")
    axis %= 2
    streams = rng.integers(0, 2**63, size=2)
    profile = draw_profile(config, np.random.default_rng(streams[0]))
    low = downsample_axis(clean, ratio, axis=axis, profile=profile)
    rows = np.moveaxis(low, axis, 0)
    rows = degrade_rows(rows, config, np.random.default_rng(streams[1]))
    low = np.moveaxis(rows, 0, axis)
    degraded = upsample_axis(low, ratio, axis=axis, out_len=clean.shape[axis])
    return degraded.astype(np.float32, copy=False), clean.copy()


def config_summary(config: DegradationConfig) -> str:
    """One line naming what is switched on (for logs and the widget)."""
    if config.fixed_profile or config.profile.kind in ("none", "custom"):
        width = f" width {config.profile.width:g}" if config.profile.kind in ("box", "gaussian") \
            else ""
    else:
        width = " width {:g}-{:g}".format(*config.profile_width)
    parts = [f"{config.profile.kind} profile{width}"]
    if config.noise.kind != "none":
        parts.append(f"noise {config.noise.kind}")
    parts += [name for name, a in config.artefacts.items() if a.enabled and a.probability > 0]
    return ", ".join(parts) if len(parts) > 1 else f"{parts[0]}, acquisition only"


__all__ = [
    "ARTEFACT_NAMES", "ARTEFACT_UNITS", "NOISE_KINDS", "PROFILE_KINDS", "Artefact",
    "DegradationConfig", "NoiseSettings", "add_noise", "apply_drift", "apply_dust",
    "apply_misalignment", "apply_missing", "apply_smear", "apply_stripes",
    "config_summary", "degrade_rows", "draw_profile", "make_pair", "shift_rows",
]
