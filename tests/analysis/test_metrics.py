"""core.metrics against scikit-image and against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from napari_a2i3dem.core.analysis.metrics import mse, psnr, ssim


def noisy_pair(rng, shape, noise=12.0):
    reference = rng.integers(0, 256, size=shape).astype(np.float64)
    reference = np.cumsum(np.cumsum(reference, axis=0), axis=-1)  # smooth, structured
    reference = 255.0 * (reference - reference.min()) / np.ptp(reference)
    test = reference + rng.normal(0.0, noise, size=shape)
    return reference, test


def test_psnr_by_hand():
    reference = np.array([[0.0, 255.0], [255.0, 0.0]])
    test = reference + 5.0                       # MSE = 25
    assert mse(reference, test) == 25.0
    assert psnr(reference, test, data_range=255) == pytest.approx(20 * math.log10(51), abs=1e-9)
    # Default data range is the reference's max - min (here 255 as well).
    assert psnr(reference, test) == pytest.approx(34.1514, abs=1e-4)
    assert psnr(reference, reference) == math.inf


@pytest.mark.parametrize("shape", [(64, 80), (12, 40, 36)])
def test_psnr_matches_skimage(rng, shape):
    reference, test = noisy_pair(rng, shape)
    expected = peak_signal_noise_ratio(reference, test, data_range=np.ptp(reference))
    assert psnr(reference, test) == pytest.approx(expected, rel=1e-12)
    assert psnr(reference, test, data_range=300.0) == pytest.approx(
        peak_signal_noise_ratio(reference, test, data_range=300.0), rel=1e-12)


def test_ssim_of_constant_images_by_hand():
    a, b, dynamic = 100.0, 110.0, 255.0
    c1 = (0.01 * dynamic) ** 2
    # No variance: SSIM reduces to the luminance term (2ab + C1) / (a^2 + b^2 + C1).
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    value = ssim(np.full((32, 32), a), np.full((32, 32), b), data_range=dynamic)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(0.995476, abs=1e-6)


@pytest.mark.parametrize("shape", [(64, 72), (20, 33, 41)])
@pytest.mark.parametrize("noise", [3.0, 30.0])
def test_ssim_matches_skimage_gaussian_window(rng, shape, noise):
    reference, test = noisy_pair(rng, shape, noise)
    expected = structural_similarity(reference, test, data_range=255.0, gaussian_weights=True,
                                     sigma=1.5, use_sample_covariance=False)
    assert ssim(reference, test, data_range=255.0) == pytest.approx(expected, abs=1e-9)


def test_ssim_per_plane_equals_mean_of_2d_ssim(rng):
    reference, test = noisy_pair(rng, (5, 40, 48))
    per_plane = [
        structural_similarity(reference[i], test[i], data_range=255.0, gaussian_weights=True,
                              sigma=1.5, use_sample_covariance=False)
        for i in range(reference.shape[0])
    ]
    assert ssim(reference, test, data_range=255.0, axes=(1, 2)) == pytest.approx(
        np.mean(per_plane), abs=1e-9)


def test_ssim_ranks_degradations(rng):
    reference, _ = noisy_pair(rng, (64, 64))
    light = reference + rng.normal(0, 5, reference.shape)
    heavy = reference + rng.normal(0, 40, reference.shape)
    assert ssim(reference, reference) == pytest.approx(1.0)
    assert 1.0 > ssim(reference, light) > ssim(reference, heavy) > 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(np.zeros((16, 16)), np.zeros((16, 17)))
