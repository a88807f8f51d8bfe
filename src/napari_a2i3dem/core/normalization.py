"""Intensity scaling between the stack's own units and the network's [0, 1] range."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class IntensityScale:
    """Affine map ``(x - low) / (high - low)``; ``low``/``high`` are robust percentiles."""

    low: float
    high: float

    @classmethod
    def from_stack(cls, data, *, percentiles: tuple[float, float] = (0.1, 99.9),
                   max_samples: int = 2_000_000, seed: int = 0) -> IntensityScale:
        """Estimate the scale from (a random subsample of) a NumPy or dask stack."""
        flat_size = int(np.prod(data.shape))
        if flat_size <= max_samples:
            sample = np.asarray(data, dtype=np.float64).ravel()
        else:
            sample = _plane_sample(data, max_samples, np.random.default_rng(seed))
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return cls(0.0, 1.0)
        low, high = np.percentile(sample, percentiles)
        if not high > low:
            low, high = float(sample.min()), float(sample.max())
        if not high > low:
            high = low + 1.0
        return cls(float(low), float(high))

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Stack units -> float32 network units."""
        return ((np.asarray(x, dtype=np.float32) - self.low) / (self.high - self.low)).astype(
            np.float32, copy=False
        )

    def denormalize(self, y: np.ndarray) -> np.ndarray:
        """Network units -> float32 stack units."""
        return (np.asarray(y, dtype=np.float32) * (self.high - self.low) + self.low).astype(
            np.float32, copy=False
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> IntensityScale:
        return cls(float(d["low"]), float(d["high"]))


def cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast float ``values`` to ``dtype``, clipping to its range and rounding for integers."""
    dtype = np.dtype(dtype)
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return np.asarray(values).astype(dtype, copy=False)


def _plane_sample(data, max_samples: int, rng: np.random.Generator,
                  max_planes: int = 32) -> np.ndarray:
    """Random pixels from up to ``max_planes`` sections, skipping blank (constant) ones.

    Each section is read once in its own dtype and only its sampled pixels become float64, so
    the memory used is one section plus ``max_samples`` values, whatever the plane size.
    """
    n_planes = min(data.shape[0], max_planes)
    planes = np.sort(rng.choice(data.shape[0], size=n_planes, replace=False))
    per_plane = max(1, max_samples // n_planes)
    parts, blank = [], []
    for p in planes:
        plane = np.asarray(data[int(p)]).ravel()
        if plane.size > per_plane:
            plane = plane[rng.choice(plane.size, size=per_plane, replace=False)]
        values = plane.astype(np.float64)
        finite = values[np.isfinite(values)]
        (blank if finite.size == 0 or finite.min() == finite.max() else parts).append(values)
    return np.concatenate(parts or blank)
