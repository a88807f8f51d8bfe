"""Calibrate the synthetic degradation to the stack: estimate its slice profile and noise.

The user rarely knows the axial slice profile of the acquisition (point sampling, sections that
integrate their thickness, a Gaussian beam), and a wrong guess makes the network undo a
degradation the stack never had, which can leave it below plain interpolation. The estimate
compares like with like, on coarse samples, before any interpolation. For each candidate
profile ``k``:

* **measured**: z lines of the stack (one value per section) over ``W`` consecutive intact
  sections, after blurring the sections with ``k`` along y (half the lines) or x (the other half);
* **synthetic**: xy patches of the same stack blurred with ``k`` along one lateral axis and
  sampled every rho pixels, ``W`` samples -- what an acquisition with that profile makes of
  lateral structure.

The sections of a real stack already carry the true profile along z, and through the tissue's
oblique structures it also blurs them laterally; so a synthetic acquisition made from them carries
the profile twice, once along its section axis and once across it. Blurring the measured side
across z with the same candidate makes both sides carry it twice: for tissue without a preferred
direction both spectra then agree exactly when the candidate is the true profile (measured on an
isotropic random field: box, Gaussian and point sampling recovered exactly at rho = 3 and 4). The
noise is carried identically by both sides, so it needs no fitting. The candidate with the
smallest mean |dB| difference over the coarse band wins; point sampling wins near-ties.

For training, the noise a real section carries beyond what the blur leaves of an xy patch's own
noise is added: ``sigma * sqrt(1 - ||k||^2)``, with ``sigma`` the robust lateral noise estimate of
the sections (:func:`~.spectral.estimate_noise`).

Artefacts are never switched on by the estimate: it only *suggests* the ones the stack shows
(blank sections -> ``missing``; section-to-section brightness jumps well beyond the same-distance
jumps within a section -> ``drift``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from ..errors import InputError
from ..normalization import IntensityScale
from ..training.pairs import read_region
from ..validation import validate_ratio
from .acquisition import SliceProfile
from .degradations import ARTEFACT_NAMES, Artefact, DegradationConfig, NoiseSettings

#: Profile widths tried (in section spacings) for the box and Gaussian families.
CANDIDATE_WIDTHS = tuple(round(w, 2) for w in np.arange(0.2, 1.81, 0.1))
#: Point sampling is preferred unless a blur is closer by more than this (dB).
SIMPLER_MARGIN_DB = 0.02


@dataclass(frozen=True)
class Candidate:
    """One slice profile tried and its spectral distance to the stack's z lines."""

    profile: SliceProfile
    distance_db: float

    @property
    def label(self) -> str:
        return profile_label(self.profile)


@dataclass(frozen=True)
class ArtefactSuggestion:
    """An artefact the stack shows, with the evidence, the setting it suggests and a reason."""

    name: str
    artefact: Artefact
    reason: str


@dataclass
class DegradationEstimate:
    """The calibrated acquisition of a stack and the evidence for it.

    ``freqs`` (cycles / section), ``measured`` (z-line power spectrum), ``synthetic`` (the chosen
    candidate's), ``uncalibrated`` (the generic default degradation's acquisition part) are what
    the pairs widget and ``a2i3dem pairs`` draw.
    """

    ratio: float
    profile: SliceProfile
    noise_relative: float              # per-section noise std, network units
    added_noise: float                 # noise a synthetic acquisition adds after the blur
    candidates: list[Candidate]
    freqs: np.ndarray
    measured: np.ndarray
    synthetic: np.ndarray
    uncalibrated: np.ndarray
    distance_db: float
    uncalibrated_db: float
    window: int                        # sections per measured window
    suggestions: list[ArtefactSuggestion] = field(default_factory=list)
    overridden: bool = False           # the profile was set by the user, not estimated

    def config(self, *, with_suggestions: bool = False) -> DegradationConfig:
        """The degradation to train with (see :func:`training_widths`): the estimated kind with
        widths drawn per pair from the estimate up to one section spacing, the noise matched to
        the estimate, no artefacts (or the suggested ones with ``with_suggestions``)."""
        sigma = float(self.added_noise)
        noise = (NoiseSettings(kind="gaussian", probability=1.0, sigma=(0.8 * sigma, 1.2 * sigma),
                               poisson=(0.0, 0.0))
                 if sigma > 1e-4 else
                 NoiseSettings(kind="none", probability=0.0, sigma=(0, 0), poisson=(0, 0)))
        artefacts = {name: Artefact(False, 0.0, (0.0, 0.0)) for name in ARTEFACT_NAMES}
        if with_suggestions:
            artefacts.update({s.name: s.artefact for s in self.suggestions})
        if self.overridden or self.profile.kind == "custom":
            profile, widths = self.profile, (self.profile.width, self.profile.width)
        else:
            profile, widths = training_widths(self.profile)
        return DegradationConfig(profile=profile, profile_width=widths,
                                 fixed_profile=widths[0] == widths[1], noise=noise,
                                 artefacts=artefacts)

    def with_profile(self, profile: SliceProfile) -> DegradationEstimate:
        """This estimate with ``profile`` imposed (a user override): the noise a synthetic
        acquisition adds is re-matched to it; the evidence spectra stay the estimate's."""
        return replace(self, profile=profile,
                       added_noise=_added(self.noise_relative, profile.kernel_1d(self.ratio)),
                       overridden=True)

    def summary(self) -> str:
        """One line: the estimate, its spectral distance, the noise and any suggestions."""
        if self.overridden:
            best = min(self.candidates, key=lambda c: c.distance_db)
            return (f"slice profile set by hand: {profile_label(self.profile)} (the stack's "
                    f"z lines suggest {best.label}); added noise {100 * self.added_noise:.1f} %")
        text = (f"estimated slice profile: {profile_label(self.profile)} "
                f"(z-line spectrum matched within {self.distance_db:.2f} dB; the generic default "
                f"{self.uncalibrated_db:.2f} dB), section noise {100 * self.noise_relative:.1f} % "
                f"of the range, added noise {100 * self.added_noise:.1f} %")
        if self.suggestions:
            text += "; the stack shows " + ", ".join(s.name for s in self.suggestions) + \
                " (opt-in artefacts)"
        return text

    def to_dict(self) -> dict:
        """JSON-able record (saved with a model and in benchmark results)."""
        return {
            "ratio": self.ratio, "profile": self.profile.to_dict(),
            "label": profile_label(self.profile),
            "noise_relative": self.noise_relative, "added_noise": self.added_noise,
            "distance_db": self.distance_db, "uncalibrated_db": self.uncalibrated_db,
            "window_sections": self.window, "overridden": self.overridden,
            "candidates": [{"label": c.label, "distance_db": c.distance_db}
                           for c in sorted(self.candidates, key=lambda c: c.distance_db)[:8]],
            "suggestions": [{"name": s.name, "reason": s.reason,
                             "artefact": s.artefact.to_dict()} for s in self.suggestions],
        }


#: The widest profile a serial section can have: it integrates at most its own thickness.
MAX_SECTION_WIDTH = 1.0


def training_widths(estimate: SliceProfile) -> tuple[SliceProfile, tuple[float, float]]:
    """The profile family and width range to train with, from an estimated profile.

    The estimate is a *lower* bound: lateral blur in the xy planes (the SEM probe, or tissue
    whose structures are finer along z than across it) makes the z lines look sharper than the
    sections are, and measured on FIB-SEM sections one spacing thick it reads 0.3-0.6. A section
    integrates at most its own thickness, so the width is drawn per pair from the estimate up to
    :data:`MAX_SECTION_WIDTH` (box family for a point-sampling estimate). Measured on the FIB-SEM
    volume at rho = 3 (150-s trainings, docs/calibration.md): thick sections +0.01 dB over cubic
    with the estimate alone, +0.40 dB with the range; every third plane +0.73 dB with point
    sampling alone, +0.48 dB with the range -- above cubic either way, where a narrow estimate
    alone can leave thick sections at cubic's level."""
    kind = estimate.kind if estimate.kind in ("box", "gaussian") else "box"
    low = float(estimate.width) if kind == estimate.kind else 0.0
    high = max(low, MAX_SECTION_WIDTH)
    return SliceProfile(kind, (low + high) / 2.0), (low, high)


def profile_label(profile: SliceProfile) -> str:
    """``point sampling``, ``box 1.00 sections``, ``gaussian FWHM 0.80 sections``."""
    if profile.kind == "none" or profile.width == 0:
        return "point sampling"
    if profile.kind == "box":
        return f"box {profile.width:.2f} sections"
    if profile.kind == "gaussian":
        return f"gaussian FWHM {profile.width:.2f} sections"
    return f"custom kernel of {len(profile.kernel or ())} pixels"


def candidate_profiles(widths=CANDIDATE_WIDTHS) -> list[SliceProfile]:
    """Point sampling, then box and Gaussian profiles of each width."""
    profiles = [SliceProfile("none", 0.0)]
    for kind in ("box", "gaussian"):
        profiles += [SliceProfile(kind, float(w)) for w in widths]
    return profiles


# ------------------------------------------------------------------------------- measurement


CENTRAL_CROP = 128


def section_stats(stack, scale: IntensityScale) -> tuple[np.ndarray, np.ndarray]:
    """One read of a central crop of every section: which are blank (constant), and their mean
    intensity (network units, for the drift suggestion)."""
    nz, ny, nx = stack.shape
    size = min(ny, nx, CENTRAL_CROP)
    y0, x0 = (ny - size) // 2, (nx - size) // 2
    blank = np.zeros(nz, dtype=bool)
    means = np.zeros(nz)
    for z in range(nz):
        region = read_region(stack, z, y0, x0, size)
        blank[z] = float(region.std()) <= 1e-6 * max(1.0, scale.high - scale.low)
        means[z] = float(scale.normalize(region).mean())
    return blank, means


def _intact_windows(blank: np.ndarray, window: int) -> list[int]:
    """First sections of every run of ``window`` consecutive non-blank sections."""
    nz = len(blank)
    return [z for z in range(nz - window + 1) if not blank[z:z + window].any()]


def measured_blocks(stack, scale: IntensityScale, *, window: int, blocks: int, size: int,
                    blank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(blocks, window, size, size)`` sub-volumes (network units) at random lateral positions,
    each over ``window`` consecutive intact sections."""
    _, ny, nx = stack.shape
    starts = _intact_windows(blank, window)
    if not starts:
        raise InputError(f"the stack has no {window} consecutive non-blank sections to "
                         "estimate its slice profile from")
    out = []
    for _ in range(int(blocks)):
        z0 = starts[int(rng.integers(len(starts)))]
        y0, x0 = int(rng.integers(ny - size + 1)), int(rng.integers(nx - size + 1))
        block = stack[z0:z0 + window, y0:y0 + size, x0:x0 + size]
        if hasattr(block, "compute"):
            block = block.compute(scheduler="synchronous")
        out.append(scale.normalize(block))
    return np.stack(out)


def measured_spectrum(blocks: np.ndarray, profile: SliceProfile, ratio: float) -> np.ndarray:
    """Spectrum of the z lines of ``blocks`` after blurring them with ``profile`` along one
    lateral axis (half along y, half along x).

    The sections of a real stack already carry the profile along z, so a synthetic acquisition
    made from them carries it twice: once along its section axis and once, through the sections,
    across it. Blurring the measured side across z with the same profile makes both sides
    carry it twice, and for tissue without a preferred direction their spectra then agree
    exactly when the profile is right (the comparison is unbiased)."""
    kernel = profile.kernel_1d(ratio).astype(np.float32)
    lines = []
    for axis in (2, 3):
        half = blocks if kernel.size == 1 else ndimage.convolve1d(blocks, kernel, axis=axis,
                                                                  mode="mirror")
        lines.append(np.moveaxis(half, 1, -1).reshape(-1, blocks.shape[1]))
        if kernel.size == 1:
            break
    return line_spectrum(np.concatenate(lines))


def lateral_patches(stack, scale: IntensityScale, *, length: int, width: int, count: int,
                    blank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``(2 * count, length, width)`` xy patches (network units) with the would-be section axis
    first: ``count`` taken along y and ``count`` along x (transposed), from non-blank sections."""
    _, ny, nx = stack.shape
    side = max(length, width)
    if side > min(ny, nx):
        raise InputError(f"the sections ({ny} x {nx} pixels) are too small to estimate the slice "
                         f"profile (need {side} pixels for rho and the window)")
    sections = np.flatnonzero(~blank)
    patches = []
    for _ in range(int(count)):
        z = int(sections[int(rng.integers(len(sections)))])
        y0, x0 = int(rng.integers(ny - side + 1)), int(rng.integers(nx - side + 1))
        region = scale.normalize(read_region(stack, z, y0, x0, side))
        patches.append(region[:length, :width])
        patches.append(region.T[:length, :width])
    return np.stack(patches)


def line_spectrum(lines: np.ndarray) -> np.ndarray:
    """Mean power spectrum of 1-D lines along their last axis (Hann window, mean removed,
    normalised by the window energy, so white noise of variance v has flat power v)."""
    x = np.asarray(lines, dtype=np.float64)
    n = x.shape[-1]
    window = np.hanning(n + 2)[1:-1]       # no zero end points: short lines keep every sample
    x = (x - x.mean(axis=-1, keepdims=True)) * window
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2 / np.sum(window**2)
    return power.reshape(-1, power.shape[-1]).mean(axis=0)


def sampled_spectrum(patches: np.ndarray, ratio: float, window: int) -> np.ndarray:
    """Spectrum of ``window`` samples every ``ratio`` pixels along axis 1 of ``patches``
    (linear interpolation between pixels for a non-integer ``ratio``), over every column."""
    positions = np.arange(window) * ratio
    lower = np.floor(positions + 1e-9).astype(int)
    frac = (positions - lower).astype(np.float32)
    upper = np.minimum(lower + 1, patches.shape[1] - 1)
    samples = (patches[:, lower, :] * (1 - frac)[None, :, None]
               + patches[:, upper, :] * frac[None, :, None])
    return line_spectrum(np.moveaxis(samples, 1, -1).reshape(-1, window))


def spectral_distance_db(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |10 log10(a / b)| over all frequencies but DC."""
    tiny = 1e-20
    return float(np.mean(np.abs(10.0 * np.log10((a[1:] + tiny) / (b[1:] + tiny)))))


# ------------------------------------------------------------------------------- artefacts


def suggest_artefacts(stack, scale: IntensityScale, ratio: float, blank: np.ndarray,
                      means: np.ndarray) -> list[ArtefactSuggestion]:
    """Artefacts the stack itself shows: blank sections, and section brightness drift (jumps of
    a section's mean intensity much larger than between lateral bands the same distance
    apart)."""
    suggestions = []
    nz, ny, nx = stack.shape
    fraction = float(blank.mean())
    if blank.any():
        suggestions.append(ArtefactSuggestion(
            "missing", Artefact(True, min(0.5, max(0.02, fraction)), (1.0, 1.0)),
            f"{int(blank.sum())} of {nz} sections are blank"))
    size = min(CENTRAL_CROP, ny, nx)
    y0, x0 = (ny - size) // 2, (nx - size) // 2
    intact = ~blank
    pairs = intact[1:] & intact[:-1]
    step = max(1, round(ratio))
    lateral_jumps = []
    for z in np.flatnonzero(intact)[: min(8, int(intact.sum()))]:
        region = scale.normalize(read_region(stack, int(z), y0, x0, size))
        bands = region[: (size // step) * step].reshape(-1, step, size).mean(axis=(1, 2))
        lateral_jumps.append(np.diff(bands))
    if pairs.sum() >= 4 and lateral_jumps:
        axial = float(np.std(np.diff(means)[pairs]))
        lateral = float(np.std(np.concatenate(lateral_jumps)))
        if lateral > 0 and axial > 3.0 * lateral:
            excess = float(np.sqrt(max(axial**2 - lateral**2, 0.0)) / np.sqrt(2.0))
            suggestions.append(ArtefactSuggestion(
                "drift", Artefact(True, 0.9, (0.5 * excess, 1.5 * excess)),
                f"section mean jumps {axial:.3f} vs {lateral:.3f} between lateral bands "
                f"{step} pixels apart"))
    return suggestions


# ------------------------------------------------------------------------------- estimate


def estimate_degradation(stack, ratio: float, *, scale: IntensityScale | None = None,
                         window: int = 24, blocks: int = 6, size: int = 64, patches: int = 48,
                         seed: int = 0) -> DegradationEstimate:
    """Estimate the stack's slice profile and noise (see the module docstring)."""
    from ..analysis.spectra import estimate_noise

    ratio = validate_ratio(ratio)
    shape = tuple(getattr(stack, "shape", ()))
    if len(shape) != 3:
        raise InputError(f"calibration needs a 3-D (z, y, x) stack, got shape {shape}")
    _, ny, nx = shape
    scale = scale or IntensityScale.from_stack(stack)
    blank, means = section_stats(stack, scale)
    if int((~blank).sum()) < 4:
        raise InputError("the stack needs at least 4 non-blank sections to estimate its slice "
                         "profile")
    runs = _longest_intact_run(blank)
    window = int(min(window, runs))
    if window < 4:
        raise InputError("the stack has no 4 consecutive non-blank sections to estimate its "
                         "slice profile from")
    rng = np.random.default_rng([seed, 17])
    size = int(min(size, ny, nx))
    span = int(np.ceil((window - 1) * ratio)) + 1
    if span > min(ny, nx):
        window = max(4, int((min(ny, nx) - 1) / ratio) + 1)
        span = int(np.ceil((window - 1) * ratio)) + 1
    blocks_zyx = measured_blocks(stack, scale, window=window, blocks=blocks, size=size,
                                 blank=blank, rng=rng)
    margin = int(np.ceil(max(CANDIDATE_WIDTHS) * ratio))
    length = min(span + 2 * margin, ny, nx)
    lateral = lateral_patches(stack, scale, length=length, width=size, count=patches,
                              blank=blank, rng=rng)
    # The sampled window sits in the middle of each patch, away from the blur's mirror edges.
    start = max(0, (length - span) // 2)
    noise = estimate_noise(stack, scale=scale, seed=seed).relative

    def spectra_of(profile: SliceProfile) -> tuple[np.ndarray, np.ndarray]:
        kernel = profile.kernel_1d(ratio).astype(np.float32)
        blurred = lateral if kernel.size == 1 else ndimage.convolve1d(lateral, kernel, axis=1,
                                                                      mode="mirror")
        return (measured_spectrum(blocks_zyx, profile, ratio),
                sampled_spectrum(blurred[:, start:start + span], ratio, window))

    candidates, evidence = [], {}
    for profile in candidate_profiles():
        measured, synthetic = spectra_of(profile)
        candidates.append(Candidate(profile, spectral_distance_db(measured, synthetic)))
        evidence[profile] = (measured, synthetic)
    best = _pick(candidates)
    default_profile = DegradationConfig().profile
    default_measured, uncalibrated = spectra_of(default_profile)
    measured, synthetic = evidence[best.profile]
    return DegradationEstimate(
        ratio=ratio, profile=best.profile, noise_relative=float(noise),
        added_noise=_added(noise, best.profile.kernel_1d(ratio)),
        candidates=candidates, freqs=np.fft.rfftfreq(window), measured=measured,
        synthetic=synthetic, uncalibrated=uncalibrated, distance_db=best.distance_db,
        uncalibrated_db=spectral_distance_db(default_measured, uncalibrated), window=window,
        suggestions=suggest_artefacts(stack, scale, ratio, blank, means))


def _added(noise_relative: float, kernel: np.ndarray) -> float:
    kept = float(np.sum(np.asarray(kernel, dtype=np.float64) ** 2))
    return float(noise_relative * np.sqrt(max(0.0, 1.0 - kept)))


def _pick(candidates: list[Candidate]) -> Candidate:
    """The closest candidate, or point sampling when it is within :data:`SIMPLER_MARGIN_DB`
    of it (narrow blurs and point sampling look alike)."""
    best = min(candidates, key=lambda c: c.distance_db)
    points = [c for c in candidates if c.profile.kind == "none"]
    if points and points[0].distance_db <= best.distance_db + SIMPLER_MARGIN_DB:
        return points[0]
    return best


def _longest_intact_run(blank: np.ndarray) -> int:
    best = run = 0
    for b in blank:
        run = 0 if b else run + 1
        best = max(best, run)
    return best


__all__ = [
    "CANDIDATE_WIDTHS", "ArtefactSuggestion", "Candidate", "DegradationEstimate",
    "candidate_profiles", "estimate_degradation", "line_spectrum", "profile_label",
    "suggest_artefacts",
]


def draw_estimate(ax, estimate: DegradationEstimate) -> None:
    """The evidence of an estimate on a matplotlib Axes: the stack's z-line spectrum, the
    calibrated synthetic one and the generic default's, over coarse frequencies."""
    f = estimate.freqs[1:]
    ax.semilogy(f, estimate.measured[1:], color="k", lw=2, label="stack's z lines")
    ax.semilogy(f, estimate.synthetic[1:], color="tab:red", lw=1.5,
                label=f"{profile_label(estimate.profile)} ({estimate.distance_db:.2f} dB)")
    ax.semilogy(f, estimate.uncalibrated[1:], color="tab:blue", lw=1, ls="--",
                label=f"generic default ({estimate.uncalibrated_db:.2f} dB)")
    ax.set_xlabel("frequency along z (cycles / section)")
    ax.set_ylabel("power (network units\u00b2)")
    ax.set_xlim(0, 0.5)
    ax.legend(fontsize=8, loc="lower left")


def estimate_figure(estimate: DegradationEstimate, *, figsize=(6.0, 4.0)):
    """A matplotlib Figure (Agg canvas) of :func:`draw_estimate`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(figure)
    draw_estimate(figure.subplots(), estimate)
    figure.suptitle(f"slice profile estimate, rho = {estimate.ratio:.3g}", fontsize=10)
    return figure


def training_degradation(stack, ratio: float, *, profile: SliceProfile | None = None,
                         artefacts: tuple[str, ...] = (), scale: IntensityScale | None = None,
                         seed: int = 0) -> tuple[DegradationConfig, DegradationEstimate]:
    """The degradation to train with: the stack's estimate, with the user's ``profile`` in
    place of the estimated one (noise re-matched to it) and the named ``artefacts`` switched on
    (the suggested setting where the stack shows it, else the generic default)."""
    estimate = estimate_degradation(stack, ratio, scale=scale, seed=seed)
    if profile is not None:
        estimate = estimate.with_profile(profile)
    config = estimate.config()
    generic = DegradationConfig().artefacts
    suggested = {s.name: s.artefact for s in estimate.suggestions}
    for name in artefacts:
        if name not in ARTEFACT_NAMES:
            raise InputError(f"unknown artefact {name!r}; known are {list(ARTEFACT_NAMES)}")
        config = config.with_artefact(name, **_fields(suggested.get(name, generic[name])))
    return config, estimate


def _fields(artefact: Artefact) -> dict:
    return {"enabled": True, "probability": artefact.probability, "strength": artefact.strength}
