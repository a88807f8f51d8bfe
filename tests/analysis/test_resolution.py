"""Resolution measures on synthetic images whose band limit is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import fft as sp_fft
from scipy import ndimage

from napari_a2i3dem.core.analysis.resolution import (
    CorrelationCurve,
    apodize,
    assess_stack,
    decorrelation_resolution,
    fourier_correlation,
)
from napari_a2i3dem.core.errors import Cancelled, InputError


def band_limited_noise(rng, shape, cutoff, *, along=None, noise=0.05):
    """White noise low-passed at ``cutoff`` cycles/pixel (a disc, or a slab along one axis),
    unit variance, plus white noise of std ``noise``."""
    spectrum = sp_fft.fftn(rng.standard_normal(shape))
    grids = np.meshgrid(*[sp_fft.fftfreq(n) for n in shape], indexing="ij")
    if along is None:
        keep = np.sqrt(sum(g**2 for g in grids)) <= cutoff
    else:
        keep = np.abs(grids[along]) <= cutoff
    image = sp_fft.ifftn(spectrum * keep).real
    image /= image.std()
    return image + noise * rng.standard_normal(shape)


@pytest.mark.parametrize("cutoff", [0.1, 0.2, 0.3, 0.4])
@pytest.mark.parametrize("noise", [0.02, 0.3])
def test_decorrelation_recovers_known_cutoff(rng, cutoff, noise):
    image = band_limited_noise(rng, (192, 192), cutoff, noise=noise)
    estimate = decorrelation_resolution(image, spacing=1.0)
    assert estimate.cutoff == pytest.approx(cutoff, rel=0.06)
    assert estimate.resolution == pytest.approx(1.0 / cutoff, rel=0.06)
    assert estimate.amplitude > 0.05
    assert estimate.nyquist == pytest.approx(0.5, abs=0.01)


def test_decorrelation_reports_physical_units(rng):
    image = band_limited_noise(rng, (160, 160), 0.25)
    in_pixels = decorrelation_resolution(image, spacing=1.0)
    in_nm = decorrelation_resolution(image, spacing=7.5)
    assert in_nm.resolution == pytest.approx(7.5 * in_pixels.resolution, rel=1e-6)
    assert in_nm.resolution == pytest.approx(7.5 / 0.25, rel=0.06)


def test_blurring_one_axis_lowers_only_that_axis(rng):
    sharp = band_limited_noise(rng, (192, 192), 0.4, noise=0.1)
    blurred = ndimage.gaussian_filter1d(sharp, 3.0, axis=0)
    along_0 = decorrelation_resolution(blurred, along=0)
    along_1 = decorrelation_resolution(blurred, along=1)
    sharp_0 = decorrelation_resolution(sharp, along=0)
    assert sharp_0.cutoff == pytest.approx(0.4, rel=0.06)
    assert along_1.cutoff == pytest.approx(0.4, rel=0.06)
    # A Gaussian of sigma 3 px leaves ~1e-2 of the amplitude at f = 0.15 cycles/px.
    assert along_0.cutoff < 0.2
    assert along_0.resolution > 2.0 * along_1.resolution


def test_directional_estimate_of_an_anisotropic_band_limit(rng):
    image = band_limited_noise(rng, (192, 192), 0.15, along=0, noise=0.1)
    assert decorrelation_resolution(image, along=0).cutoff == pytest.approx(0.15, rel=0.08)
    assert decorrelation_resolution(image, along=1).cutoff > 0.4


def test_decorrelation_rejects_bad_images(rng):
    with pytest.raises(InputError, match="2-D"):
        decorrelation_resolution(rng.standard_normal((4, 32, 32)))
    with pytest.raises(InputError, match="constant"):
        decorrelation_resolution(np.ones((32, 32)))
    with pytest.raises(InputError, match="too small"):
        decorrelation_resolution(rng.standard_normal((8, 64)))
    bad = rng.standard_normal((32, 32))
    bad[3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        decorrelation_resolution(bad)
    with pytest.raises(InputError, match="positive"):
        decorrelation_resolution(rng.standard_normal((32, 32)), spacing=(1.0, 0.0))


def test_pure_noise_is_sampling_limited(rng):
    estimate = decorrelation_resolution(rng.standard_normal((128, 128)))
    # White noise has no band limit: either no peak at all or one at Nyquist.
    assert not estimate.found or estimate.at_sampling_limit


def test_apodize_tapers_edges_only():
    image = np.ones((64, 64), dtype=np.float32)
    tapered = apodize(image)
    assert tapered[0, 32] < 0.1 and tapered[32, 0] < 0.1
    assert tapered[32, 32] == 1.0
    assert np.all(np.diff(tapered[:4, 32]) > 0)


def test_frc_of_identical_images_is_one_and_cutoff_at_nyquist(rng):
    image = band_limited_noise(rng, (96, 96), 0.3)
    curve = fourier_correlation(image, image, spacing=2.0)
    np.testing.assert_allclose(curve.correlation, 1.0, atol=1e-5)
    assert curve.cutoff() == pytest.approx(curve.frequency[-1])
    assert curve.frequency[-1] <= 0.25 + 1e-9  # Nyquist of 2-unit pixels


def test_frc_against_reference_finds_where_the_test_stops_matching(rng):
    reference = band_limited_noise(rng, (128, 128), 0.45, noise=0.0)
    spectrum = sp_fft.fft2(reference)
    fy, fx = np.meshgrid(sp_fft.fftfreq(128), sp_fft.fftfreq(128), indexing="ij")
    # Keep the reference below 0.2 cycles/px, replace it by independent noise above.
    low = sp_fft.ifft2(spectrum * (np.hypot(fy, fx) <= 0.2)).real
    high_noise = sp_fft.ifft2(sp_fft.fft2(rng.standard_normal((128, 128)))
                              * (np.hypot(fy, fx) > 0.2)).real
    test = low + high_noise * reference.std() / high_noise.std()
    curve = fourier_correlation(test, reference)
    assert curve.cutoff() == pytest.approx(0.2, abs=0.03)
    assert curve.resolution() == pytest.approx(5.0, rel=0.15)


def test_directional_frc_pools_planes_and_sees_axial_blur(rng):
    truth = band_limited_noise(rng, (64, 24, 64), 0.4, noise=0.0)
    blurred = ndimage.gaussian_filter1d(truth, 2.5, axis=0)
    along_z = fourier_correlation(blurred, truth, (10.0, 10.0, 10.0), axes=(0, 2), along=0)
    along_x = fourier_correlation(blurred, truth, (10.0, 10.0, 10.0), axes=(0, 2), along=2)
    assert along_x.resolution() < 30.0          # x untouched: near the 25 nm band limit
    assert along_z.resolution() > 1.8 * along_x.resolution()
    whole = fourier_correlation(blurred, truth, (10.0, 10.0, 10.0), along=0)
    assert whole.resolution() == pytest.approx(along_z.resolution(), rel=0.2)


def test_frc_input_errors(rng):
    a = rng.standard_normal((32, 32))
    with pytest.raises(InputError, match="differ"):
        fourier_correlation(a, a[:16])
    with pytest.raises(InputError, match="along"):
        fourier_correlation(np.stack([a] * 3), np.stack([a] * 3), axes=(1, 2), along=0)


def test_curve_cutoff_interpolates_between_bins():
    curve = CorrelationCurve(np.array([0.1, 0.2, 0.3]), np.array([0.9, 0.7, 0.3]),
                             np.array([4, 8, 12]))
    assert curve.cutoff(0.5) == pytest.approx(0.25)
    assert curve.resolution(0.5) == pytest.approx(4.0)


def test_assess_stack_reports_axial_loss_of_a_coarse_stack(rng):
    iso = band_limited_noise(rng, (96, 96, 96), 0.35, noise=0.02).astype(np.float32)
    iso_result = assess_stack(iso, (10.0, 10.0, 10.0), planes=3)
    assert iso_result.anisotropy == pytest.approx(1.0, abs=0.15)
    assert iso_result.lateral == pytest.approx(10.0 / 0.35, rel=0.1)
    coarse = iso[::4]          # 40 nm sections, point-sampled
    calls = []
    result = assess_stack(coarse, (40.0, 10.0, 10.0), planes=3,
                          progress=lambda done, total: calls.append((done, total)))
    assert result.lateral == pytest.approx(iso_result.lateral, rel=0.1)
    # Sampling every 40 nm cannot resolve periods below 80 nm (the z Nyquist limit); cubic
    # interpolation of the aliased samples leaves some content a little beyond it.
    assert result.xz > 50.0 and result.yz > 50.0
    assert result.anisotropy > 1.8
    assert calls[-1] == (9, 9) and len(calls) == 9
    assert set(result.to_dict()) >= {"lateral_nm", "xz_nm", "yz_nm", "anisotropy"}


def test_assess_stack_skips_a_missing_section_and_can_be_cancelled(rng):
    volume = band_limited_noise(rng, (32, 64, 64), 0.3).astype(np.float32)
    volume[5] = 0.0           # a lost section, as in the CREMI sample
    result = assess_stack(volume, (10.0, 10.0, 10.0), planes=8)
    assert math.isfinite(result.lateral)
    with pytest.raises(Cancelled):
        assess_stack(volume, (10.0, 10.0, 10.0), should_stop=lambda: True)
    with pytest.raises(InputError, match="3-D"):
        assess_stack(volume[0], (10.0, 10.0, 10.0))
