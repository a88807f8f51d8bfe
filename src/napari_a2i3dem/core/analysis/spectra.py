"""Does a synthetic training input look like a real axial plane? A spectral check, and a noise
estimate that turns the check into suggested settings.

The axial spectrum is the 1-D power spectrum along the section (low-resolution) axis, averaged over
all columns. For the real stack it is taken on xz and yz planes after the same cubic up-sampling
(:func:`~.acquisition.upsample_axis`) the reconstruction uses; for the synthetic inputs on degraded
xy patches along their section axis; the clean xy patches give the reference of what full
resolution looks like. All three use the same window length, Hann window and intensity scale, so
their curves are directly comparable. The agreement number is the mean absolute difference of the
real and synthetic spectra in decibels over a frequency band (0 dB = identical). The same planes'
spectra along the full-resolution axis give a second, lateral number that mostly measures noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..normalization import IntensityScale
from ..physics.acquisition import SliceProfile, isotropic_length, upsample_axis
from ..physics.degradations import DegradationConfig, NoiseSettings, make_pair
from ..training.pairs import PatchSampler, read_region
from ..validation import ratio_from_spacing, validate_ratio

_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
_NOISE_KERNEL_NORM = 6.0  # sqrt(sum(kernel ** 2)): std of the response to unit white noise
_MAD_TO_SIGMA = 1.482602218505602


def power_spectrum(planes: np.ndarray, axis: int = 0) -> np.ndarray:
    """Mean power spectrum along ``axis`` of a stack of 2-D planes ``(N, L, W)`` or one plane
    (Hann window, mean removed per line, normalised by the window energy)."""
    x = np.asarray(planes, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    x = np.moveaxis(x, axis + 1, -1)
    length = x.shape[-1]
    window = np.hanning(length) if length > 2 else np.ones(length)
    x = (x - x.mean(axis=-1, keepdims=True)) * window
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2 / np.sum(window**2)
    return power.reshape(-1, power.shape[-1]).mean(axis=0)


def log_spectral_distance(a: np.ndarray, b: np.ndarray, freqs: np.ndarray,
                          band: tuple[float, float] | None = None) -> float:
    """Mean ``|10 log10(a / b)|`` in dB over frequencies in ``band`` (default: all but DC)."""
    freqs = np.asarray(freqs)
    low, high = band if band is not None else (freqs[1] if len(freqs) > 1 else 0.0, 0.5)
    mask = (freqs >= low) & (freqs <= high) & (freqs > 0)
    if not mask.any():
        raise InputError(f"no frequency in the band {band}")
    tiny = 1e-20
    return float(np.mean(np.abs(10.0 * np.log10((a[mask] + tiny) / (b[mask] + tiny)))))


def _sample_indices(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(n, count), replace=False))


def real_axial_planes(stack, ratio: float, *, scale: IntensityScale, size: int = 128,
                      blocks: int = 4, seed: int = 0, margin: int = 3) -> np.ndarray:
    """Cubic-upsampled xz and yz planes (network units, z along axis 1) from ``blocks`` random
    blocks of ``size x size`` pixels and just enough sections for ``size`` fine rows: an array
    ``(2 * blocks * size, L, size)`` with ``L = min(size, round(nz * rho))``, each plane starting on
    a section.

    Each block reads about ``2 * size / rho + 2 * margin`` sections, never whole xz planes, so
    lazy (dask) stacks of any depth stay cheap. Within it the window avoids blank (missing)
    sections where it can -- their broadband power would swamp the average, so the comparison
    leaves the "missing" artefact out on the synthetic side too -- and keeps ``margin`` sections
    of context on each side (where the stack has them), as in the full stack's interpolation."""
    ratio = validate_ratio(ratio)
    nz, ny, nx = stack.shape
    size = int(min(size, ny, nx))
    length = min(size, isotropic_length(nz, ratio))
    needed = min(nz, int(np.ceil((length - 1) / ratio - 1e-9)) + 1)  # sections in the window
    span = min(nz, 2 * needed + 2 * margin)
    rng = np.random.default_rng(seed)
    planes = []
    for _ in range(int(blocks)):
        first = int(rng.integers(nz - span + 1))
        y0, x0 = int(rng.integers(ny - size + 1)), int(rng.integers(nx - size + 1))
        block = stack[first:first + span, y0:y0 + size, x0:x0 + size]
        if hasattr(block, "compute"):
            block = block.compute(scheduler="synchronous")
        block = scale.normalize(block)
        z0 = first + _window_start(block, needed, margin, first, nz, rng)
        block = upsample_axis(block, ratio, axis=0)  # (Z, size, size)
        offset = min(round((z0 - first) * ratio), block.shape[0] - length)
        block = block[offset:offset + length]
        planes.append(np.moveaxis(block, 1, 0))  # xz planes: (size_y, L, size_x)
        planes.append(np.moveaxis(block, 2, 0))  # yz planes: (size_x, L, size_y)
    return np.concatenate(planes, axis=0)


def _window_start(block: np.ndarray, needed: int, margin: int, first: int, nz: int,
                  rng: np.random.Generator) -> int:
    """A random window start (relative to the block) whose ``needed`` sections are not blank,
    preferring ``margin`` sections of context on both sides; any start if every window has a
    blank section."""
    blank = block.reshape(len(block), -1).std(axis=1) <= 1e-6
    starts = np.arange(len(block) - needed + 1)
    clean = [int(z) for z in starts if not blank[z:z + needed].any()]
    inner = [z for z in clean
             if (z >= margin or first == 0)
             and (z + needed + margin <= len(block) or first + len(block) == nz)]
    pool = inner or clean or [int(z) for z in starts]
    return pool[int(rng.integers(len(pool)))]


@dataclass(frozen=True)
class Spectra:
    """Mean power spectra of a set of planes: ``axial`` along the section axis, ``lateral``
    along the full-resolution axis, on the frequency grid ``freqs`` (cycles / fine pixel)."""

    freqs: np.ndarray
    axial: np.ndarray
    lateral: np.ndarray


def real_spectra(stack, ratio: float, *, scale: IntensityScale, length: int = 128,
                 blocks: int = 4, seed: int = 0) -> Spectra:
    """Spectra of cubic-upsampled xz/yz planes in windows of ``length`` x ``length`` fine
    pixels, each window starting on a section (see :func:`real_axial_planes`)."""
    planes = real_axial_planes(stack, ratio, scale=scale, size=length, blocks=blocks, seed=seed)
    length = min(planes.shape[1], planes.shape[2])
    windows = planes[:, :length, :length]
    return Spectra(np.fft.rfftfreq(length), power_spectrum(windows, axis=0),
                   power_spectrum(windows, axis=1))


def synthetic_spectra(stack, ratio: float, config: DegradationConfig, *, scale: IntensityScale,
                      length: int = 128, count: int = 24,
                      seed: int = 0) -> tuple[Spectra, Spectra]:
    """Spectra of the degraded inputs and of the clean patches of ``count`` synthetic pairs made
    from random xy patches of ``length`` pixels (section axis = rows)."""
    sampler = PatchSampler(stack, int(length), scale=scale)
    rng = np.random.default_rng([seed, 7])
    degraded, clean = [], []
    for _ in range(int(count)):
        patch, _ = sampler.sample(rng)
        d, c = make_pair(patch, ratio, config, rng, axis=0)
        degraded.append(d)
        clean.append(c)
    freqs = np.fft.rfftfreq(int(length))
    degraded, clean = np.stack(degraded), np.stack(clean)
    return (Spectra(freqs, power_spectrum(degraded, axis=0), power_spectrum(degraded, axis=1)),
            Spectra(freqs, power_spectrum(clean, axis=0), power_spectrum(clean, axis=1)))


@dataclass
class SpectralComparison:
    """Axial spectra of the real stack, synthetic inputs, acquisition-only inputs and clean xy
    patches, with their agreement numbers (dB; lower is closer).

    ``lateral_distance_db`` compares the spectra along the full-resolution axis of the same
    planes: it rises when the synthetic inputs are noisier (or cleaner) than the real planes,
    which the axial number alone cannot tell from missing section-to-section variation."""

    ratio: float
    freqs: np.ndarray
    real: np.ndarray
    degraded: np.ndarray
    acquisition_only: np.ndarray
    clean: np.ndarray
    band: tuple[float, float]
    distance_db: float
    acquisition_only_db: float
    lateral_real: np.ndarray | None = None
    lateral_degraded: np.ndarray | None = None
    lateral_distance_db: float = float("nan")
    lateral_acquisition_only_db: float = float("nan")
    extra: dict = field(default_factory=dict)

    def summary(self) -> str:
        return (f"real vs synthetic: axial {self.distance_db:.2f} dB, lateral "
                f"{self.lateral_distance_db:.2f} dB (acquisition only: axial "
                f"{self.acquisition_only_db:.2f} dB, lateral "
                f"{self.lateral_acquisition_only_db:.2f} dB)")


def build_comparison(ratio: float, real: Spectra, degraded: Spectra, clean: Spectra,
                     acquisition: Spectra,
                     band: tuple[float, float] | None = None) -> SpectralComparison:
    """Assemble a :class:`SpectralComparison` from spectra on the same frequency grid."""
    freqs = real.freqs
    band = band or (float(freqs[1]), 0.5)
    return SpectralComparison(
        ratio=ratio, freqs=freqs, real=real.axial, degraded=degraded.axial,
        acquisition_only=acquisition.axial, clean=clean.axial, band=band,
        distance_db=log_spectral_distance(real.axial, degraded.axial, freqs, band),
        acquisition_only_db=log_spectral_distance(real.axial, acquisition.axial, freqs, band),
        lateral_real=real.lateral, lateral_degraded=degraded.lateral,
        lateral_distance_db=log_spectral_distance(real.lateral, degraded.lateral, freqs, band),
        lateral_acquisition_only_db=log_spectral_distance(real.lateral, acquisition.lateral,
                                                          freqs, band),
    )


def compare_spectra(stack, ratio: float, config: DegradationConfig | None = None, *,
                    scale: IntensityScale | None = None, length: int = 128, count: int = 24,
                    blocks: int = 4, band: tuple[float, float] | None = None,
                    seed: int = 0) -> SpectralComparison:
    """Compare the axial spectrum of the real stack with synthetic inputs made with ``config``
    (default :class:`DegradationConfig`) and with :meth:`DegradationConfig.clean`."""
    ratio = validate_ratio(ratio)
    config = config or DegradationConfig()
    scale = scale or IntensityScale.from_stack(stack)
    nz, ny, nx = stack.shape
    length = int(min(length, ny, nx, isotropic_length(nz, ratio)))
    real = real_spectra(stack, ratio, scale=scale, length=length, blocks=blocks, seed=seed)
    typical = config.with_artefact("missing", enabled=False)  # as the real side (see above)
    degraded, clean = synthetic_spectra(stack, ratio, typical, scale=scale, length=length,
                                        count=count, seed=seed)
    acquisition, _ = synthetic_spectra(stack, ratio, DegradationConfig.clean(config.profile),
                                       scale=scale, length=length, count=count, seed=seed)
    return build_comparison(ratio, real, degraded, clean, acquisition, band)


# ---------------------------------------------------------------------------------------------
# Noise


@dataclass(frozen=True)
class NoiseEstimate:
    """Noise std of the stack in its own units and as a fraction of the intensity range."""

    sigma: float
    relative: float
    per_plane: tuple[float, ...]


def plane_noise_sigma(plane: np.ndarray) -> float:
    """Robust noise std of one 2-D image: MAD of a Laplacian-like residual (Immerkaer's kernel,
    which cancels locally linear structure), scaled to a Gaussian std."""
    residual = ndimage.correlate(np.asarray(plane, dtype=np.float64), _NOISE_KERNEL,
                                 mode="reflect")[1:-1, 1:-1]
    mad = np.median(np.abs(residual - np.median(residual)))
    return float(_MAD_TO_SIGMA * mad / _NOISE_KERNEL_NORM)


def estimate_noise(stack, *, planes: int = 8, scale: IntensityScale | None = None,
                   max_side: int = 512, seed: int = 0) -> NoiseEstimate:
    """Median over ``planes`` random non-blank xy planes (centre crops up to ``max_side``) of
    :func:`plane_noise_sigma`. ``relative`` is sigma / (high - low) of the intensity scale, i.e. the
    std in network units -- the unit of :class:`~.degradations.NoiseSettings`."""
    shape = tuple(getattr(stack, "shape", ()))
    if len(shape) != 3:
        raise InputError(f"noise estimation needs a 3-D (z, y, x) stack, got shape {shape}")
    nz, ny, nx = shape
    scale = scale or IntensityScale.from_stack(stack)
    rng = np.random.default_rng(seed)
    size_y, size_x = min(ny, max_side), min(nx, max_side)
    y0, x0 = (ny - size_y) // 2, (nx - size_x) // 2
    sigmas = []
    for z in _sample_indices(nz, planes, rng):
        plane = read_region(stack, int(z), y0, x0, max(size_y, size_x))[:size_y, :size_x]
        if float(plane.std()) == 0.0:
            continue  # a blank (missing) section says nothing about noise
        sigmas.append(plane_noise_sigma(plane))
    if not sigmas:
        raise InputError("cannot estimate noise: every sampled plane is blank")
    sigma = float(np.median(sigmas))
    return NoiseEstimate(sigma, sigma / (scale.high - scale.low), tuple(sigmas))


def suggest_defaults(stack, spacing) -> dict:
    """Settings for this stack: ``ratio`` from the spacing, the noise estimate and a
    :class:`DegradationConfig` (as a dict) whose added noise matches it.

    The clean xy patch already carries the stack's noise, but blurring it with the slice profile
    ``k`` along the section axis leaves only ``sigma * ||k||`` of it on the acquired rows; the
    suggested added noise is the remainder ``sigma * sqrt(1 - ||k||^2)`` (+-30 %)."""
    ratio = ratio_from_spacing(spacing)
    scale = IntensityScale.from_stack(stack)
    noise = estimate_noise(stack, scale=scale)
    base = DegradationConfig()
    width = float(np.mean(base.profile_width))
    kernel = SliceProfile(base.profile.kind, width).kernel_1d(ratio)
    added = noise.relative * float(np.sqrt(max(0.0, 1.0 - np.sum(kernel**2))))
    config = DegradationConfig(
        profile=base.profile, profile_width=base.profile_width,
        noise=NoiseSettings(kind="gaussian", probability=1.0,
                            sigma=(0.7 * added, 1.3 * added), poisson=(0.0, 0.0)),
        artefacts=base.artefacts,
    )
    return {
        "ratio": ratio,
        "noise_sigma": noise.sigma,
        "noise_relative": noise.relative,
        "intensity": scale.to_dict(),
        "degradation": config.to_dict(),
    }


# ---------------------------------------------------------------------------------------------
# Figures


def draw_spectra(ax, comparison: SpectralComparison) -> None:
    """Draw the four spectra of ``comparison`` on a matplotlib Axes."""
    f = comparison.freqs[1:]
    ax.semilogy(f, comparison.real[1:], color="k", lw=2, label="real xz/yz (cubic)")
    ax.semilogy(f, comparison.degraded[1:], color="tab:red", lw=1.5,
                label=f"synthetic input ({comparison.distance_db:.2f} dB)")
    ax.semilogy(f, comparison.acquisition_only[1:], color="tab:blue", lw=1, ls="--",
                label=f"acquisition only ({comparison.acquisition_only_db:.2f} dB)")
    ax.semilogy(f, comparison.clean[1:], color="tab:green", lw=1, ls=":", label="clean xy")
    ax.axvline(0.5 / comparison.ratio, color="0.5", lw=0.8)
    ax.text(0.5 / comparison.ratio, ax.get_ylim()[1], " 1/(2\u03c1)", va="top", fontsize=8,
            color="0.4")
    ax.set_xlabel("frequency along the section axis (cycles / fine pixel)")
    ax.set_ylabel("power (network units\u00b2)")
    ax.set_xlim(0, 0.5)
    ax.legend(fontsize=8, loc="lower left")


def draw_lateral_spectra(ax, comparison: SpectralComparison) -> None:
    """Draw the lateral (full-resolution axis) spectra of ``comparison`` on an Axes."""
    f = comparison.freqs[1:]
    ax.semilogy(f, comparison.lateral_real[1:], color="k", lw=2, label="real xz/yz")
    ax.semilogy(f, comparison.lateral_degraded[1:], color="tab:red", lw=1.5,
                label=f"synthetic input ({comparison.lateral_distance_db:.2f} dB)")
    ax.set_xlabel("frequency along the full-resolution axis (cycles / pixel)")
    ax.set_ylabel("power (network units\u00b2)")
    ax.set_xlim(0, 0.5)
    ax.legend(fontsize=8, loc="lower left")


def spectra_figure(comparison: SpectralComparison, *, title: str | None = None,
                   lateral: bool = False, figsize: tuple[float, float] | None = None):
    """A matplotlib Figure (Agg canvas, no pyplot state) of :func:`draw_spectra`, and of
    :func:`draw_lateral_spectra` beside it when ``lateral``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize or ((10.0 if lateral else 6.0), 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2 if lateral else 1, squeeze=False)[0]
    draw_spectra(axes[0], comparison)
    if lateral:
        draw_lateral_spectra(axes[1], comparison)
    if title:
        figure.suptitle(title, fontsize=10)
    return figure
