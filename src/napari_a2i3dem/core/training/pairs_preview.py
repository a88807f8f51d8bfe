"""What the Training-pairs widget shows, computed without Qt: one clean patch, its synthetic input,
a real axial plane of the same size and the spectral comparison.

The parts that do not depend on the degradation settings (the intensity scale, the real axial
spectrum, the acquisition-only spectrum) are cached, so moving a strength slider only re-makes the
pair and the synthetic spectrum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from ..analysis.spectra import (
    Spectra,
    SpectralComparison,
    build_comparison,
    real_spectra,
    synthetic_spectra,
)
from ..normalization import IntensityScale
from ..physics.acquisition import upsample_axis
from ..physics.degradations import ARTEFACT_NAMES, DegradationConfig, make_pair
from ..validation import validate_ratio
from .pairs import PatchSampler


def always_apply(config: DegradationConfig) -> DegradationConfig:
    """A copy in which every enabled artefact and the noise fire on every pair (probability 1),
    so a preview shows each effect that is switched on."""
    for name in ARTEFACT_NAMES:
        if config.artefacts[name].enabled:
            config = config.with_artefact(name, probability=1.0)
    return replace(config, noise=replace(config.noise, probability=1.0))


@dataclass
class Preview:
    clean: np.ndarray
    degraded: np.ndarray
    real: np.ndarray
    comparison: SpectralComparison
    seconds: float
    location: tuple[int, int, int]


class PairsPreviewEngine:
    """Makes previews for one stack; not thread-safe (one computation at a time)."""

    def __init__(self, stack, *, spectrum_count: int = 12, blocks: int = 1) -> None:
        self.stack = stack
        self.scale = IntensityScale.from_stack(stack)
        self.spectrum_count = int(spectrum_count)
        self.blocks = int(blocks)
        self._real: dict = {}
        self._acquisition: dict = {}

    def _spectrum_length(self, patch_size: int, ratio: float) -> int:
        nz, ny, nx = self.stack.shape
        return int(min(patch_size, 128, ny, nx, round(nz * ratio)))

    def _real_spectra(self, ratio: float, length: int) -> Spectra:
        key = (ratio, length)
        if key not in self._real:
            self._real[key] = real_spectra(self.stack, ratio, scale=self.scale, length=length,
                                           blocks=self.blocks)
        return self._real[key]

    def _acquisition_spectra(self, ratio: float, length: int,
                             config: DegradationConfig) -> Spectra:
        key = (ratio, length, config.profile)
        if key not in self._acquisition:
            self._acquisition[key] = synthetic_spectra(
                self.stack, ratio, DegradationConfig.clean(config.profile), scale=self.scale,
                length=length, count=self.spectrum_count)[0]
        return self._acquisition[key]

    def real_axial_crop(self, ratio: float, size: int, rng: np.random.Generator) -> np.ndarray:
        """A cubic-upsampled xz plane crop (z vertical), network units, at most ``size`` square.
        Reads only the sections the crop needs (plus 3 of context each side)."""
        nz, ny, nx = self.stack.shape
        width = min(size, nx)
        needed = min(nz, int(np.ceil((size - 1) / ratio)) + 1)
        z0 = int(rng.integers(nz - needed + 1))
        first, stop = max(0, z0 - 3), min(nz, z0 + needed + 3)
        y, x0 = int(rng.integers(ny)), int(rng.integers(nx - width + 1))
        plane = self.stack[first:stop, y, x0:x0 + width]
        if hasattr(plane, "compute"):
            plane = plane.compute(scheduler="synchronous")
        plane = upsample_axis(self.scale.normalize(plane), ratio, axis=0)
        offset = round((z0 - first) * ratio)
        return np.ascontiguousarray(plane[offset:offset + size])

    def compute(self, ratio: float, config: DegradationConfig, *, patch_size: int = 128,
                seed: int = 0, force_artefacts: bool = True) -> Preview:
        start = time.perf_counter()
        ratio = validate_ratio(ratio)
        shown = always_apply(config) if force_artefacts else config
        sampler = PatchSampler(self.stack, patch_size, scale=self.scale)
        rng = np.random.default_rng([seed, 11])
        clean, loc = sampler.sample(rng)
        degraded, clean = make_pair(clean, ratio, shown, rng, axis=0)
        real = self.real_axial_crop(ratio, patch_size, rng)

        length = self._spectrum_length(patch_size, ratio)
        stack_spectra = self._real_spectra(ratio, length)
        acquisition = self._acquisition_spectra(ratio, length, config)
        synthetic, clean_spectra = synthetic_spectra(
            self.stack, ratio, config, scale=self.scale, length=length,
            count=self.spectrum_count, seed=seed)
        comparison = build_comparison(ratio, stack_spectra, synthetic, clean_spectra, acquisition)
        return Preview(clean, degraded, real, comparison, time.perf_counter() - start,
                       (loc.z, loc.y, loc.x))
