"""Resolution measured in Fourier space, with and without a reference.

* :func:`decorrelation_resolution` — no reference needed: decorrelation analysis (Descloux,
  Grußmayer & Radenovic, *Nat. Methods* 16, 918–924, 2019). The image is correlated with its own
  phase-only (normalised) spectrum, cut off at a growing frequency; the correlation peaks where
  signal gives way to noise (or to nothing). Repeating on high-pass filtered copies finds the
  highest frequency that still carries signal: the cut-off ``k_c``; the resolution is ``1 / k_c``.
* :func:`fourier_correlation` — with a reference (e.g. the isotropic truth): Fourier ring / shell
  correlation between a result and the reference. A correlation of 0.5 against a noise-free
  reference is the counterpart of the 1/7 threshold between two half-data sets (Rosenthal &
  Henderson, *J. Mol. Biol.* 333, 721–745, 2003), so :meth:`CorrelationCurve.resolution` uses 0.5.

Both can be *directional*: ``along=axis`` keeps only the frequencies within ``cone_deg`` of that
axis and measures them by their component along it, so the result is the resolution *along* that
axis (e.g. along z in an xz plane) rather than a ring average over all directions. Frequencies are
physical (cycles per unit of ``spacing``, e.g. 1/nm), so planes with unequal pixel sizes work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..choices import DEFAULT_CONE_DEG
from ..errors import Cancelled, InputError
from ..physics.acquisition import upsample_axis


def _fft():
    """SciPy's FFT, imported on first use (the command line's parser reads this module)."""
    from scipy import fft

    return fft
MIN_PEAK_AMPLITUDE = 0.05    # decorrelation peaks lower than this are noise (Descloux et al.)
MIN_PEAK_PROMINENCE = 1e-3   # a peak must stand this far above the curve's later minimum
FRC_THRESHOLD = 0.5          # against a noise-free reference; equivalent of 1/7 for half-maps


@dataclass(frozen=True)
class ResolutionEstimate:
    """A resolution (``1 / cutoff``) in the units of the spacing given, usually nm.

    ``cutoff`` and ``nyquist`` are in cycles per unit; ``amplitude`` is the height of the
    decorrelation peak (a rough signal-to-noise indicator). ``resolution`` is ``inf`` and
    ``cutoff`` 0 when no signal was found (a flat or pure-noise image).
    """

    resolution: float
    cutoff: float
    nyquist: float
    amplitude: float

    @property
    def found(self) -> bool:
        return self.cutoff > 0

    @property
    def at_sampling_limit(self) -> bool:
        """True when the cut-off is the Nyquist frequency: the pixels, not the image, limit it."""
        return self.found and self.cutoff >= 0.98 * self.nyquist

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _validate_spacing(spacing: Sequence[float] | float, ndim: int) -> tuple[float, ...]:
    values = (float(spacing),) * ndim if np.isscalar(spacing) else tuple(float(s) for s in spacing)
    if len(values) != ndim:
        raise InputError(f"spacing needs {ndim} values, got {len(values)}: {values}")
    if not all(math.isfinite(s) and s > 0 for s in values):
        raise InputError(f"spacing must be positive, got {values}")
    return values


def apodize(image: np.ndarray, axes: Sequence[int] | None = None,
            fraction: float = 0.0625) -> np.ndarray:
    """Taper the borders of ``image`` to zero (cosine edge over ``fraction`` of each side).

    Without it the jump between opposite borders puts a bright cross along the frequency axes,
    exactly where a directional measure looks.
    """
    out = np.asarray(image, dtype=np.float32)
    axes = range(out.ndim) if axes is None else axes
    for axis in axes:
        n = out.shape[axis]
        width = max(2, round(n * fraction))
        if n < 2 * width + 1:
            continue
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(width) + 0.5) / width)
        window = np.ones(n, dtype=np.float32)
        window[:width] = ramp
        window[-width:] = ramp[::-1]
        shape = [1] * out.ndim
        shape[axis] = n
        out = out * window.reshape(shape)
    return out


def _frequency_grids(shape: Sequence[int], spacing: Sequence[float]) -> list[np.ndarray]:
    grids = []
    for axis, (n, d) in enumerate(zip(shape, spacing, strict=True)):
        shape_1d = [1] * len(shape)
        shape_1d[axis] = n
        grids.append(_fft().fftfreq(n, d=d).reshape(shape_1d))
    return grids


def _region(shape: Sequence[int], spacing: Sequence[float], along: int | None,
            cone_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Pixels of the analysed frequency region: (mask, coordinate, radius, limit).

    ``coordinate`` is |f| (ring) or |f_along| (directional, inside the cone); ``limit`` the
    largest coordinate analysed (the disc inside the sampled box, or the axis's Nyquist).
    """
    grids = _frequency_grids(shape, spacing)
    radius = np.sqrt(sum(g.astype(np.float64) ** 2 for g in grids))
    radius = np.broadcast_to(radius, tuple(shape))
    if along is None:
        limit = min(0.5 / d for d in spacing)
        coordinate = radius
        mask = (radius > 0) & (radius <= limit)
    else:
        if not 0 < cone_deg <= 90:
            raise InputError(f"cone angle must be in (0, 90] degrees, got {cone_deg}")
        limit = 0.5 / spacing[along]
        coordinate = np.broadcast_to(np.abs(grids[along]), tuple(shape))
        inside = coordinate >= radius * math.cos(math.radians(cone_deg)) - 1e-12
        mask = inside & (radius > 0) & (coordinate <= limit)
    return mask, coordinate[mask], radius[mask], limit


def _first_significant_peak(curve: np.ndarray) -> int | None:
    """Index of the highest point that the curve later falls below by a noticeable amount."""
    later_min = np.minimum.accumulate(curve[::-1])[::-1]
    candidates = np.flatnonzero(curve - later_min > MIN_PEAK_PROMINENCE)
    if candidates.size == 0:
        return None
    return int(candidates[np.argmax(curve[candidates])])


def decorrelation_curves(image: np.ndarray, spacing: Sequence[float] | float = 1.0, *,
                         along: int | None = None, cone_deg: float = DEFAULT_CONE_DEG,
                         sigmas: Sequence[float] = (), n_radii: int = 100,
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Decorrelation functions ``d(r)`` of a 2-D ``image``: (radii, curves).

    Row 0 of ``curves`` is the unfiltered image; row ``i`` is the image high-pass filtered with
    ``1 - exp(-2 pi^2 sigma_i^2 |f|^2)`` (``sigma`` in the units of ``spacing``).
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise InputError(f"decorrelation analysis needs a 2-D image, got shape {img.shape}")
    if min(img.shape) < 16:
        raise InputError(
            f"image is too small for a resolution estimate ({img.shape}); need 16 x 16")
    if not np.isfinite(img).all():
        raise InputError("image contains NaN or infinite values")
    spacing = _validate_spacing(spacing, 2)
    std = img.std()
    if std == 0:
        raise InputError("image is constant: it carries no resolution to measure")
    spectrum = _fft().fft2(apodize((img - img.mean()) / std), workers=1)
    mask, coordinate, radius, limit = _region(img.shape, spacing, along, cone_deg)
    order = np.argsort(coordinate, kind="stable")
    coordinate, radius = coordinate[order], radius[order]
    magnitude = np.abs(spectrum[mask])[order].astype(np.float64)
    phase_count = np.cumsum(magnitude > 0)          # sum of |I_n|^2 inside the cut-off
    radii = np.linspace(0.0, limit, n_radii + 1)[1:]
    inside = np.searchsorted(coordinate, radii * (1 + 1e-9), side="right")
    curves = np.zeros((1 + len(sigmas), n_radii))
    for row, sigma in enumerate((None, *sigmas)):
        weights = magnitude if sigma is None else (
            magnitude * (1.0 - np.exp(-2.0 * np.pi**2 * sigma**2 * radius**2)))
        norm = math.sqrt(float(np.sum(weights**2)))
        if norm == 0:
            continue
        cumulative = np.cumsum(weights)
        for j, n_in in enumerate(inside):
            if n_in > 0 and phase_count[n_in - 1] > 0:
                curves[row, j] = cumulative[n_in - 1] / (norm * math.sqrt(phase_count[n_in - 1]))
    return radii, curves


def decorrelation_resolution(image: np.ndarray, spacing: Sequence[float] | float = 1.0, *,
                             along: int | None = None, cone_deg: float = DEFAULT_CONE_DEG,
                             n_filters: int = 10, n_radii: int = 100) -> ResolutionEstimate:
    """No-reference resolution of a 2-D image by decorrelation analysis.

    ``spacing`` is the pixel size per axis (e.g. ``(dz, dx)`` in nm for an xz plane); ``along``
    an axis index (0 or 1) for the resolution along that axis, ``None`` for all directions.
    """
    img = np.asarray(image)
    spacing = _validate_spacing(spacing, 2)
    radii, curves = decorrelation_curves(img, spacing, along=along, cone_deg=cone_deg,
                                         n_radii=n_radii)
    peak0 = _first_significant_peak(curves[0])
    extent = max(n * d for n, d in zip(img.shape, spacing, strict=True))
    # High-pass widths from the scale the unfiltered curve resolves down to a sub-pixel scale.
    widest = 1.0 / radii[peak0] if peak0 is not None else extent / 4.0
    sigmas = np.geomspace(widest, 0.15 * min(spacing), n_filters)
    radii, curves = decorrelation_curves(img, spacing, along=along, cone_deg=cone_deg,
                                         sigmas=sigmas, n_radii=n_radii)
    best_cutoff, best_amplitude = 0.0, 0.0
    for curve in curves:
        peak = _first_significant_peak(curve)
        if peak is None or curve[peak] < MIN_PEAK_AMPLITUDE:
            continue
        if radii[peak] > best_cutoff:
            best_cutoff, best_amplitude = float(radii[peak]), float(curve[peak])
    nyquist = float(radii[-1])
    unfiltered = curves[0]
    if best_cutoff == 0 and unfiltered[-1] >= max(MIN_PEAK_AMPLITUDE, unfiltered.max() - 1e-12):
        # No curve turns down anywhere: the content (or the noise) reaches the Nyquist frequency.
        best_cutoff, best_amplitude = nyquist, float(unfiltered[-1])
    resolution = 1.0 / best_cutoff if best_cutoff > 0 else math.inf
    return ResolutionEstimate(resolution, best_cutoff, nyquist, best_amplitude)


# --- reference-based Fourier ring / shell correlation ----------------------------------------

@dataclass(frozen=True)
class CorrelationCurve:
    """Fourier correlation per frequency bin (``frequency`` in cycles per unit, bin centres)."""

    frequency: np.ndarray
    correlation: np.ndarray
    count: np.ndarray

    def cutoff(self, threshold: float = FRC_THRESHOLD) -> float:
        """First frequency where the correlation falls below ``threshold`` (linear
        interpolation between bins); the last bin's frequency if it never does."""
        corr, freq = self.correlation, self.frequency
        below = np.flatnonzero(corr < threshold)
        if below.size == 0:
            return float(freq[-1])
        i = int(below[0])
        if i == 0:
            return float(freq[0])
        c0, c1 = corr[i - 1], corr[i]
        t = (c0 - threshold) / (c0 - c1) if c0 != c1 else 0.0
        return float(freq[i - 1] + t * (freq[i] - freq[i - 1]))

    def resolution(self, threshold: float = FRC_THRESHOLD) -> float:
        """``1 / cutoff``: the finest period that still correlates with the reference."""
        return 1.0 / self.cutoff(threshold)

    def band_mean(self, low: float, high: float) -> float:
        """Mean correlation of the bins with ``low <= frequency < high`` (weighted by their
        pixel counts); NaN if no bin lies there."""
        inside = (self.frequency >= low) & (self.frequency < high)
        if not inside.any():
            return math.nan
        return float(np.average(self.correlation[inside], weights=self.count[inside]))


def fourier_correlation(test: np.ndarray, reference: np.ndarray,
                        spacing: Sequence[float] | float = 1.0, *,
                        axes: Sequence[int] | None = None, along: int | None = None,
                        cone_deg: float = DEFAULT_CONE_DEG, n_bins: int | None = None,
                        ) -> CorrelationCurve:
    """Fourier ring (2-D) or shell (3-D) correlation of ``test`` against ``reference``.

    ``axes`` are the axes transformed (default: all); any other axis is a batch whose sums are
    pooled, e.g. ``axes=(0, 2)`` on a (z, y, x) volume pools the FRC of every xz plane.
    ``spacing`` gives one value per array axis; ``along`` (an array axis in ``axes``) makes the
    curve directional (cone of ``cone_deg`` around that axis, binned by the component along it).
    """
    a = np.asarray(test, dtype=np.float32)
    b = np.asarray(reference, dtype=np.float32)
    if a.shape != b.shape:
        raise InputError(f"test and reference shapes differ: {a.shape} vs {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError("images contain NaN or infinite values")
    axes = tuple(range(a.ndim)) if axes is None else tuple(ax % a.ndim for ax in axes)
    spacing = _validate_spacing(spacing, a.ndim)
    if along is not None and along % a.ndim not in axes:
        raise InputError(f"'along' axis {along} must be one of the transformed axes {axes}")
    sub_shape = [a.shape[ax] for ax in axes]
    if min(sub_shape) < 8:
        raise InputError(f"too few pixels for a Fourier correlation: {tuple(sub_shape)}")
    sub_spacing = [spacing[ax] for ax in axes]
    sub_along = None if along is None else axes.index(along % a.ndim)

    def spectrum(x: np.ndarray) -> np.ndarray:
        x = x - x.mean(axis=axes, keepdims=True)
        return _fft().fftn(apodize(x, axes), axes=axes, workers=1)

    fa, fb = spectrum(a), spectrum(b)
    batch_axes = [ax for ax in range(a.ndim) if ax not in axes]
    fa = np.moveaxis(fa, axes, range(len(batch_axes), a.ndim))
    fb = np.moveaxis(fb, axes, range(len(batch_axes), a.ndim))
    mask, coordinate, _, limit = _region(sub_shape, sub_spacing, sub_along, cone_deg)
    n_bins = n_bins or max(4, sub_shape[sub_along if sub_along is not None else
                                         int(np.argmin(sub_shape))] // 2)
    edges = np.linspace(0.0, limit, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, coordinate, side="left") - 1, 0, n_bins - 1)
    va = fa[..., mask].reshape(-1, coordinate.size)
    vb = fb[..., mask].reshape(-1, coordinate.size)
    cross = np.bincount(bins, np.sum((va * np.conj(vb)).real, axis=0, dtype=np.float64), n_bins)
    power_a = np.bincount(bins, np.sum(np.abs(va) ** 2, axis=0, dtype=np.float64), n_bins)
    power_b = np.bincount(bins, np.sum(np.abs(vb) ** 2, axis=0, dtype=np.float64), n_bins)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = cross / np.sqrt(power_a * power_b)
    keep = count > 0
    correlation = np.nan_to_num(correlation, nan=0.0)
    centres = 0.5 * (edges[:-1] + edges[1:])
    return CorrelationCurve(centres[keep], correlation[keep], count[keep])


# --- a whole stack: lateral versus axial ---------------------------------------------------

@dataclass(frozen=True)
class StackResolution:
    """Median no-reference resolutions (in the spacing's units, usually nm) of a (z, y, x) stack.

    ``lateral``: along y and x in xy planes; ``xz`` / ``yz``: along z in xz / yz planes.
    """

    lateral: float
    xz: float
    yz: float
    planes: int

    @property
    def axial(self) -> float:
        return float(np.nanmean([self.xz, self.yz]))

    @property
    def anisotropy(self) -> float:
        """Axial over lateral resolution: 1 for an isotropic volume, about rho for raw stacks."""
        return self.axial / self.lateral

    def to_dict(self) -> dict[str, float]:
        return {"lateral_nm": self.lateral, "xz_nm": self.xz, "yz_nm": self.yz,
                "axial_nm": self.axial, "anisotropy": self.anisotropy, "planes": self.planes}


def _plane_indices(n: int, count: int) -> list[int]:
    """``count`` indices spread over the central 80 % of an axis of length ``n``."""
    if n <= count:
        return list(range(n))
    return sorted({round(float(v)) for v in np.linspace(0.1 * (n - 1), 0.9 * (n - 1), count)})


def _central_slice(n: int, max_size: int) -> slice:
    start = max(0, (n - max_size) // 2)
    return slice(start, start + min(n, max_size))


def _central_crop(plane: np.ndarray, max_size: int) -> np.ndarray:
    return plane[tuple(_central_slice(n, max_size) for n in plane.shape)]


def _to_isotropic_plane(plane: np.ndarray, spacing: tuple[float, float],
                        ) -> tuple[np.ndarray, tuple[float, float]]:
    """Bring a coarse-z plane (z, lateral) onto square pixels with the shared cubic operator.

    Measuring on the raw grid would leave only a handful of Fourier bins along z; cubic
    interpolation adds no detail, so the axial estimate is that of the stack as acquired.
    """
    dz, d_lateral = spacing
    ratio = dz / d_lateral
    if ratio <= 1.01 or plane.shape[0] < 2:
        return plane, spacing
    return upsample_axis(plane, ratio, axis=0), (d_lateral, d_lateral)


def iter_assess_stack(volume, spacing: Sequence[float], *, planes: int = 5,
                      cone_deg: float = DEFAULT_CONE_DEG, max_plane_size: int = 512,
                      ) -> Generator[tuple[int, int], None, StackResolution]:
    """Generator form of :func:`assess_stack`: yields ``(done, total)`` after each plane and
    returns the :class:`StackResolution` (for napari's ``thread_worker``, which can stop it
    between planes)."""
    shape = tuple(getattr(volume, "shape", ()))
    if len(shape) != 3:
        raise InputError(f"resolution assessment needs a 3-D (z, y, x) stack, got shape {shape}")
    dz, dy, dx = _validate_spacing(spacing, 3)
    if min(shape) < 2 or min(shape[1:]) < 16:
        raise InputError(f"stack {shape} is too small to assess; planes need 16 x 16 pixels")
    jobs: list[tuple[str, tuple, tuple[float, float], list[int]]] = []
    for z in _plane_indices(shape[0], planes):
        jobs.append(("lateral", (z, slice(None), slice(None)), (dy, dx), [0, 1]))
    for y in _plane_indices(shape[1], planes):
        jobs.append(("xz", (slice(None), y, slice(None)), (dz, dx), [0]))
    for x in _plane_indices(shape[2], planes):
        jobs.append(("yz", (slice(None), slice(None), x), (dz, dy), [0]))
    found: dict[str, list[float]] = {"lateral": [], "xz": [], "yz": []}
    for done, (kind, index, plane_spacing, directions) in enumerate(jobs, start=1):
        # Crop the lateral axes before reading, so that a lazy (dask) stack reads little.
        index = tuple(_central_slice(n, max_plane_size) if isinstance(i, slice) and axis > 0
                      else i for axis, (i, n) in enumerate(zip(index, shape, strict=True)))
        plane = np.asarray(volume[index], dtype=np.float32)
        if kind != "lateral":
            plane, plane_spacing = _to_isotropic_plane(plane, plane_spacing)
        plane = _central_crop(plane, max_plane_size)
        if min(plane.shape) >= 16 and plane.std() > 0 and np.isfinite(plane).all():
            for direction in directions:
                estimate = decorrelation_resolution(plane, plane_spacing, along=direction,
                                                    cone_deg=cone_deg)
                if estimate.found:
                    found[kind].append(estimate.resolution)
        yield done, len(jobs)
    medians = {k: float(np.median(v)) if v else math.nan for k, v in found.items()}
    if math.isnan(medians["lateral"]):
        raise InputError("no xy plane carried measurable signal; is the stack empty?")
    return StackResolution(medians["lateral"], medians["xz"], medians["yz"], planes)


def assess_stack(volume, spacing: Sequence[float], *, planes: int = 5,
                 cone_deg: float = DEFAULT_CONE_DEG, max_plane_size: int = 512,
                 progress: Callable[[int, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> StackResolution:
    """Lateral (xy) versus axial (xz, yz) resolution of a NumPy or dask (z, y, x) stack.

    Coarse-z planes are first brought onto square pixels (cubic, see
    :func:`_to_isotropic_plane`). ``planes`` planes per orientation are measured (central crops
    of at most ``max_plane_size`` pixels per side) and the median is reported; flat planes (e.g.
    a missing section) are skipped. ``progress(done, total)`` is called after each plane and
    ``should_stop()`` can cancel (raises :class:`Cancelled`).
    """
    steps = iter_assess_stack(volume, spacing, planes=planes, cone_deg=cone_deg,
                              max_plane_size=max_plane_size)
    while True:
        if should_stop is not None and should_stop():
            steps.close()
            raise Cancelled("resolution assessment was cancelled")
        try:
            done, total = next(steps)
        except StopIteration as finished:
            return finished.value
        if progress is not None:
            progress(done, total)
