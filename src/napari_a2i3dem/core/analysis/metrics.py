"""Image-quality metrics: PSNR and SSIM (scikit-image conventions, no scikit-image needed)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _as_float(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def mse(reference, test) -> float:
    """Mean squared error."""
    ref, tst = _as_float(reference), _as_float(test)
    if ref.shape != tst.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {tst.shape}")
    return float(np.mean((ref - tst) ** 2))


def psnr(reference, test, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the reference's max - min."""
    ref = _as_float(reference)
    if data_range is None:
        data_range = float(ref.max() - ref.min()) or 1.0
    err = mse(ref, test)
    if err == 0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / err))


def ssim(reference, test, data_range: float | None = None, *, sigma: float = 1.5,
         axes: tuple[int, ...] | None = None) -> float:
    """Mean structural similarity with a Gaussian window (as ``skimage`` with
    ``gaussian_weights=True, use_sample_covariance=False``).

    ``axes`` are the spatial axes the window spans (default: all); other axes are treated as a
    batch, e.g. ``axes=(1, 2)`` scores each plane of a (z, y, x) stack in 2-D.
    """
    ref, tst = _as_float(reference), _as_float(test)
    if ref.shape != tst.shape:
        raise ValueError(f"shapes differ: {ref.shape} vs {tst.shape}")
    if data_range is None:
        data_range = float(ref.max() - ref.min()) or 1.0
    axes = tuple(range(ref.ndim)) if axes is None else tuple(a % ref.ndim for a in axes)
    sigmas = [sigma if i in axes else 0.0 for i in range(ref.ndim)]
    truncate = 3.5

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigmas, truncate=truncate, mode="reflect")

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_x, mu_y = blur(ref), blur(tst)
    vx = blur(ref * ref) - mu_x**2
    vy = blur(tst * tst) - mu_y**2
    cxy = blur(ref * tst) - mu_x * mu_y
    s = ((2 * mu_x * mu_y + c1) * (2 * cxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (vx + vy + c2))
    pad = int(truncate * sigma + 0.5)
    crop = tuple(slice(pad, -pad) if (i in axes and n > 2 * pad) else slice(None)
                 for i, n in enumerate(ref.shape))
    return float(s[crop].mean())
