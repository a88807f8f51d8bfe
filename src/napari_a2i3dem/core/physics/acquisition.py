"""The anisotropic acquisition model and the cubic operator that undoes its sampling.

One axis is coarsely sampled: every ``ratio`` (rho) fine pixels one sample is taken, after the
signal was blurred by the slice profile (section thickness). :func:`upsample_axis` brings such
samples back onto the fine grid with cubic B-spline interpolation. The *same* function is used to

* build training inputs: a clean xy patch -> :func:`simulate_acquisition` -> degraded input, and
* bring a real stack onto the isotropic grid before the network sees its xz / yz planes,

so training inputs and real inputs go through identical interpolation. Geometry convention:
low-res sample ``k`` sits at fine coordinate ``k * rho`` (sample 0 on fine pixel 0), so the result
is aligned with the clean signal without any half-pixel shift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from ..choices import PROFILE_KINDS
from ..errors import InputError
from ..validation import validate_ratio


def _ndimage():
    """SciPy's ndimage, imported on first use (0.15 s that a parser or a widget need not pay)."""
    from scipy import ndimage

    return ndimage

_FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class SliceProfile:
    """Axial point-spread of one section, in units of the section spacing.

    ``kind``: ``"gaussian"`` (FWHM = ``width`` x rho fine pixels), ``"box"`` (width x rho pixels,
    fractional edges), ``"none"`` (point sampling) or ``"custom"`` (``kernel`` given in fine pixels,
    odd length, centred).
    """

    kind: str = "gaussian"
    width: float = 1.0
    kernel: tuple[float, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.kind not in PROFILE_KINDS:
            raise InputError(f"slice profile must be one of {PROFILE_KINDS}, got {self.kind!r}")
        if not np.isfinite(self.width) or self.width < 0:
            raise InputError(f"slice profile width must be >= 0, got {self.width}")
        if self.kind == "custom":
            if self.kernel is None or len(self.kernel) == 0:
                raise InputError("a custom slice profile needs a non-empty kernel")
            if len(self.kernel) % 2 == 0:
                raise InputError(
                    f"a custom slice-profile kernel must have odd length to stay centred, "
                    f"got {len(self.kernel)}"
                )
            k = np.asarray(self.kernel, dtype=float)
            if not np.isfinite(k).all() or k.sum() <= 0:
                raise InputError("a custom slice-profile kernel must be finite with a positive sum")

    def kernel_1d(self, ratio: float) -> np.ndarray:
        """The normalised, odd-length, centred 1-D kernel in fine pixels for this ``ratio``."""
        if self.kind == "none" or (self.kind != "custom" and self.width == 0):
            return np.ones(1)
        if self.kind == "custom":
            k = np.asarray(self.kernel, dtype=float)
            return k / k.sum()
        extent = self.width * ratio
        if self.kind == "gaussian":
            sigma = extent / _FWHM_PER_SIGMA
            radius = max(1, int(np.ceil(4.0 * sigma)))
            x = np.arange(-radius, radius + 1, dtype=float)
            k = np.exp(-0.5 * (x / max(sigma, 1e-6)) ** 2)
        else:  # box with fractional edges: overlap of each pixel with [-extent/2, extent/2]
            half = extent / 2.0
            radius = int(np.ceil(half - 0.5)) if half > 0.5 else 0
            x = np.arange(-radius, radius + 1, dtype=float)
            k = np.clip(np.minimum(x + 0.5, half) - np.maximum(x - 0.5, -half), 0.0, None)
        return k / k.sum()

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kernel"] = None if self.kernel is None else [float(v) for v in self.kernel]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SliceProfile:
        kernel = d.get("kernel")
        return cls(kind=str(d.get("kind", "gaussian")), width=float(d.get("width", 1.0)),
                   kernel=None if kernel is None else tuple(float(v) for v in kernel))


def isotropic_length(n_samples: int, ratio: float) -> int:
    """Length of the fine grid for ``n_samples`` coarse samples: ``round(n * rho)`` (at least 1)."""
    return max(1, round(n_samples * validate_ratio(ratio)))


def sample_count(fine_length: int, ratio: float) -> int:
    """Number of coarse samples at ``0, rho, 2 rho, ...`` that fit in ``fine_length`` pixels."""
    return int(np.floor((fine_length - 1) / validate_ratio(ratio) + 1e-9)) + 1


def section_closeness(length: int, ratio: float, start: float = 0.0) -> np.ndarray:
    """How close each of ``length`` fine pixels (fine coordinates ``start, start + 1, ...``) lies
    to an acquired section: 1 on a section (fine coordinate ``k * rho``), falling linearly to 0
    halfway between two (float32).

    The network is given this as a second input channel: on the cubic-interpolated grid, a row
    on a section is a measurement and a row between sections an interpolation, which a plane's
    content alone tells only in part (at rho = 3: +0.46 dB on every-third-plane sampling, +0.10
    dB on thick sections; docs/model.md).
    """
    position = (np.arange(int(length), dtype=np.float64) + float(start)) / validate_ratio(ratio)
    return (1.0 - 2.0 * np.abs(position - np.round(position))).astype(np.float32)


def section_map(shape: tuple[int, int], ratio: float, axis: int = 0,
                start: float = 0.0) -> np.ndarray:
    """:func:`section_closeness` along ``axis`` of a 2-D plane of ``shape``, the same across the
    other axis (a read-only broadcast view, float32)."""
    axis %= 2
    line = section_closeness(shape[axis], ratio, start)
    return np.broadcast_to(line[:, None] if axis == 0 else line[None, :], tuple(shape))


@lru_cache(maxsize=256)
def _interpolation_matrix(n_in: int, ratio: float, n_out: int) -> np.ndarray:
    coords = np.arange(n_out, dtype=np.float64) / ratio
    if n_in == 1:
        return _finish(np.ones((n_out, 1)))
    order = min(3, n_in - 1)
    matrix = np.empty((n_out, n_in))
    basis = np.zeros(n_in)
    for k in range(n_in):
        basis[:] = 0.0
        basis[k] = 1.0
        matrix[:, k] = _ndimage().map_coordinates(basis, coords[None], order=order, mode="mirror")
    return _finish(matrix)


def interpolation_matrix(n_in: int, ratio: float, n_out: int | None = None) -> np.ndarray:
    """The linear operator (``n_out x n_in``) of cubic B-spline up-sampling by ``ratio``.

    Row ``j`` evaluates the spline through the coarse samples at coarse coordinate ``j / rho``
    (mirror boundary), so column ``k`` is the response to a unit sample at fine pixel ``k * rho``.
    """
    ratio = validate_ratio(ratio)
    if n_in < 1:
        raise InputError("cannot interpolate an empty axis")
    n_out = isotropic_length(n_in, ratio) if n_out is None else int(n_out)
    return _interpolation_matrix(int(n_in), float(ratio), n_out)


#: Below this many multiply-adds a plain (single-threaded) loop beats BLAS, whose worker threads
#: cost far more than the work for patch-sized problems and stall badly on a busy machine.
_BLAS_MIN_WORK = 20_000_000


def _apply_along_axis(matrix: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(np.asarray(x, dtype=np.float32), axis, 0)
    matrix = matrix.astype(np.float32)
    if matrix.size * (moved.size // max(1, moved.shape[0])) < _BLAS_MIN_WORK:
        out = np.einsum("ij,j...->i...", matrix, moved, optimize=False)
    else:
        out = np.tensordot(matrix, moved, axes=(1, 0))
    return np.moveaxis(out, 0, axis)


def _finish(matrix: np.ndarray) -> np.ndarray:
    """Zero the far tails of spline weights (below 1e-12: numerically nil, and as float32
    subnormals they slow some CPUs down) and make the cached matrix read-only."""
    matrix[np.abs(matrix) < 1e-12] = 0.0
    matrix.setflags(write=False)
    return matrix


def upsample_axis(x: np.ndarray, ratio: float, axis: int = 0,
                  out_len: int | None = None) -> np.ndarray:
    """Cubic-interpolate coarse samples along ``axis`` onto the fine grid (float32).

    ``out_len`` defaults to ``round(n * rho)``; this is the operator applied to real stacks (z axis)
    and to synthetic training inputs alike.
    """
    x = np.asarray(x)
    axis = axis % x.ndim
    return _apply_along_axis(interpolation_matrix(x.shape[axis], ratio, out_len), x, axis)


def blur_axis(x: np.ndarray, profile: SliceProfile, ratio: float, axis: int = 0) -> np.ndarray:
    """Convolve ``x`` along ``axis`` with the slice profile (mirror boundary)."""
    kernel = profile.kernel_1d(validate_ratio(ratio))
    x = np.asarray(x, dtype=np.float32)
    if kernel.size == 1:
        return x.copy()
    return _ndimage().convolve1d(x, kernel.astype(np.float32), axis=axis, mode="mirror")


def downsample_axis(x: np.ndarray, ratio: float, axis: int = 0,
                    profile: SliceProfile | None = None) -> np.ndarray:
    """Blur with the slice profile, then sample at fine coordinates ``0, rho, 2 rho, ...``.

    Integer rho takes every rho-th pixel exactly; non-integer rho evaluates a cubic spline of the
    blurred signal at the fractional positions (resampling, not rounding).
    """
    ratio = validate_ratio(ratio)
    x = np.asarray(x)
    axis = axis % x.ndim
    blurred = blur_axis(x, profile or SliceProfile(), ratio, axis)
    n = sample_count(x.shape[axis], ratio)
    positions = np.arange(n) * ratio
    if np.allclose(positions, np.round(positions), atol=1e-6):
        index = np.round(positions).astype(int)
        return np.take(blurred, index, axis=axis)
    # Only this axis is resampled: a 1-D spline-evaluation matrix keeps the other axes untouched.
    return _apply_along_axis(sampling_matrix(x.shape[axis], ratio), blurred, axis)


@lru_cache(maxsize=256)
def _sampling_matrix(n_fine: int, ratio: float) -> np.ndarray:
    n = sample_count(n_fine, ratio)
    coords = np.arange(n, dtype=np.float64) * ratio
    order = min(3, n_fine - 1)
    matrix = np.empty((n, n_fine))
    basis = np.zeros(n_fine)
    for k in range(n_fine):
        basis[:] = 0.0
        basis[k] = 1.0
        matrix[:, k] = _ndimage().map_coordinates(basis, coords[None], order=order, mode="mirror")
    return _finish(matrix)


def sampling_matrix(n_fine: int, ratio: float) -> np.ndarray:
    """The linear operator (``n_samples x n_fine``) that evaluates the cubic B-spline through a
    fine signal at fine coordinates ``0, rho, 2 rho, ...`` (mirror boundary)."""
    ratio = validate_ratio(ratio)
    if n_fine < 1:
        raise InputError("cannot sample an empty axis")
    return _sampling_matrix(int(n_fine), float(ratio))


def simulate_acquisition(x: np.ndarray, ratio: float, axis: int = 0,
                         profile: SliceProfile | None = None) -> np.ndarray:
    """Clean fine-grid signal -> what the cubic-interpolated anisotropic acquisition looks like."""
    x = np.asarray(x)
    low = downsample_axis(x, ratio, axis, profile)
    return upsample_axis(low, ratio, axis, out_len=x.shape[axis % x.ndim])
