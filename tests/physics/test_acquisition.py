"""The shared anisotropic acquisition operator does what sampling theory says it should."""

from __future__ import annotations

import numpy as np
import pytest

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.physics.acquisition import (
    SliceProfile,
    blur_axis,
    downsample_axis,
    interpolation_matrix,
    isotropic_length,
    sample_count,
    sampling_matrix,
    simulate_acquisition,
    upsample_axis,
)

RATIOS = (1.5, 2.5, 3.0, 10 / 3, 5.0, 10.0)
POINT = SliceProfile("none")


def sinusoid(n: int, freq: float, phase: float = 0.3) -> np.ndarray:
    return np.cos(2 * np.pi * freq * np.arange(n) + phase)


def dominant_frequency(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft((signal - signal.mean()) * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal))[np.argmax(spectrum)])


@pytest.mark.parametrize("ratio", RATIOS)
def test_sinusoid_below_the_new_nyquist_limit_survives(ratio):
    n = 1024
    freq = 0.25 / ratio  # half of the new Nyquist limit 1 / (2 rho)
    clean = sinusoid(n, freq)
    restored = simulate_acquisition(clean, ratio, profile=POINT)
    interior = slice(64, n - 64)
    assert np.abs(restored[interior] - clean[interior]).max() < 0.05
    assert dominant_frequency(restored) == pytest.approx(freq, abs=1.5 / n)


@pytest.mark.parametrize("ratio", RATIOS)
def test_sinusoid_above_the_new_nyquist_limit_aliases(ratio):
    n = 2048
    freq = 0.75 / ratio  # above 1 / (2 rho): folds to 1/rho - f = 0.25 / rho
    restored = simulate_acquisition(sinusoid(n, freq), ratio, profile=POINT)
    assert dominant_frequency(restored) == pytest.approx(0.25 / ratio, abs=1.5 / n)


@pytest.mark.parametrize("ratio", (2.0, 4.0, 5.0))
def test_box_section_of_one_spacing_removes_the_period_rho_pattern(ratio):
    """A box as wide as the section spacing averages a period-rho pattern to its mean (the
    box's sinc response is zero at 1 / rho) while point sampling aliases it to a constant
    offset."""
    n = 400
    clean = sinusoid(n, 1.0 / ratio, phase=0.0)
    boxed = downsample_axis(clean, ratio, profile=SliceProfile("box", 1.0))
    pointed = downsample_axis(clean, ratio, profile=POINT)
    interior = slice(3, -3)
    assert np.abs(boxed[interior]).max() < 1e-6
    np.testing.assert_allclose(pointed, 1.0, atol=1e-6)


@pytest.mark.parametrize("fwhm_in_spacings", (0.5, 1.0))
def test_gaussian_profile_attenuates_like_its_fourier_transform(fwhm_in_spacings):
    ratio, n = 5.0, 2000
    freq = 0.4 / ratio
    blurred = blur_axis(sinusoid(n, freq), SliceProfile("gaussian", fwhm_in_spacings), ratio)
    sigma = fwhm_in_spacings * ratio / (2 * np.sqrt(2 * np.log(2)))
    expected = np.exp(-2 * np.pi**2 * sigma**2 * freq**2)
    amplitude = np.abs(blurred[100:-100]).max()
    assert amplitude == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("ratio", RATIOS)
def test_samples_sit_at_multiples_of_rho_without_rounding(ratio):
    n = 301
    smooth = sinusoid(n, 0.01)
    samples = downsample_axis(smooth, ratio, profile=POINT)
    positions = np.arange(len(samples)) * ratio
    assert len(samples) == sample_count(n, ratio)
    assert positions[-1] <= n - 1
    np.testing.assert_allclose(samples[2:-2], np.cos(2 * np.pi * 0.01 * positions[2:-2] + 0.3),
                               atol=1e-4)
    if ratio != round(ratio):  # rounding the positions would be off by up to half a pixel
        rounded = np.cos(2 * np.pi * 0.01 * np.round(positions) + 0.3)
        assert np.abs(samples - rounded).max() > 1e-3


@pytest.mark.parametrize("ratio", RATIOS)
def test_feature_at_fine_coordinate_c_stays_at_c(ratio):
    n, centre = 400, 173.3
    x = np.arange(n)
    bump = np.exp(-0.5 * ((x - centre) / (2.0 * ratio)) ** 2)
    for profile in (POINT, SliceProfile("gaussian", 1.0), SliceProfile("box", 1.0)):
        restored = simulate_acquisition(bump, ratio, profile=profile)
        centroid = float((restored * x).sum() / restored.sum())
        assert centroid == pytest.approx(centre, abs=0.05)


@pytest.mark.parametrize("ratio", RATIOS)
def test_no_half_pixel_shift_on_a_ramp(ratio):
    """Cubic interpolation reproduces a linear ramp away from the (mirror) borders, whose effect
    decays by 2 - sqrt(3) per sample; any shift of the grid would offset the whole ramp."""
    ramp = np.arange(400, dtype=float)
    restored = simulate_acquisition(ramp, ratio, profile=POINT)
    interior = slice(int(10 * ratio), int(400 - 11 * ratio))
    np.testing.assert_allclose(restored[interior], ramp[interior], atol=2e-3)


@pytest.mark.parametrize("ratio", RATIOS)
def test_interpolation_matrix_reproduces_constants_and_is_exact_at_samples(ratio):
    n_in = 17
    matrix = interpolation_matrix(n_in, ratio)
    assert matrix.shape == (isotropic_length(n_in, ratio), n_in)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-10)
    for k in range(n_in):
        j = k * ratio
        if abs(j - round(j)) < 1e-9 and round(j) < matrix.shape[0]:
            expected = np.zeros(n_in)
            expected[k] = 1.0
            np.testing.assert_allclose(matrix[round(j)], expected, atol=1e-10)
    samples = np.random.default_rng(0).random(n_in)
    fine = upsample_axis(samples, ratio)
    on_grid = [k for k in range(n_in) if abs(k * ratio - round(k * ratio)) < 1e-9]
    np.testing.assert_allclose(fine[[round(k * ratio) for k in on_grid]], samples[on_grid],
                               atol=1e-6)


@pytest.mark.parametrize("ratio", RATIOS)
def test_sampling_matrix_reproduces_constants_and_picks_integer_positions(ratio):
    matrix = sampling_matrix(50, ratio)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-10)
    for k, row in enumerate(matrix):
        if abs(k * ratio - round(k * ratio)) < 1e-9:
            assert row[round(k * ratio)] == pytest.approx(1.0)
            assert np.abs(np.delete(row, round(k * ratio))).max() < 1e-10


@pytest.mark.parametrize("ratio", RATIOS)
def test_only_the_section_axis_is_resampled(ratio):
    """Resampling along one axis leaves the other axis untouched (no cross-axis smoothing)."""
    rng = np.random.default_rng(1)
    column = rng.random(60)
    image = np.zeros((60, 9))
    image[:, 4] = column
    for axis, data in ((0, image), (1, image.T)):
        low = downsample_axis(data, ratio, axis=axis, profile=POINT)
        low = low if axis == 0 else low.T
        np.testing.assert_allclose(low[:, [0, 1, 2, 3, 5, 6, 7, 8]], 0.0, atol=1e-7)
        np.testing.assert_allclose(low[:, 4], downsample_axis(column, ratio, profile=POINT),
                                   atol=1e-6)


def test_ratio_one_without_blur_is_the_identity():
    image = np.random.default_rng(2).random((20, 30)).astype(np.float32)
    np.testing.assert_allclose(simulate_acquisition(image, 1.0, profile=POINT), image, atol=1e-6)


@pytest.mark.parametrize("ratio", RATIOS)
def test_shapes_and_dtype_along_either_axis(ratio):
    image = np.random.default_rng(3).random((64, 48))
    for axis in (0, 1, -1):
        out = simulate_acquisition(image, ratio, axis=axis)
        assert out.shape == image.shape and out.dtype == np.float32
    low = downsample_axis(image, ratio, axis=0)
    assert upsample_axis(low, ratio, axis=0).shape[0] == isotropic_length(low.shape[0], ratio)


def test_profile_kernels_are_normalised_centred_and_sized_by_ratio():
    for kind in ("gaussian", "box"):
        narrow = SliceProfile(kind, 1.0).kernel_1d(2.0)
        wide = SliceProfile(kind, 1.0).kernel_1d(8.0)
        for kernel in (narrow, wide):
            assert len(kernel) % 2 == 1
            assert kernel.sum() == pytest.approx(1.0)
            np.testing.assert_allclose(kernel, kernel[::-1])
        assert len(wide) > len(narrow)
    box = SliceProfile("box", 1.0).kernel_1d(3.0)
    np.testing.assert_allclose(box, [1 / 3, 1 / 3, 1 / 3])
    fractional = SliceProfile("box", 1.0).kernel_1d(2.0)  # 2 pixels wide, centred: 1/4 1/2 1/4
    np.testing.assert_allclose(fractional, [0.25, 0.5, 0.25])
    custom = SliceProfile("custom", kernel=(1.0, 2.0, 1.0)).kernel_1d(5.0)
    np.testing.assert_allclose(custom, [0.25, 0.5, 0.25])
    np.testing.assert_allclose(SliceProfile("none").kernel_1d(5.0), [1.0])
    np.testing.assert_allclose(SliceProfile("gaussian", 0.0).kernel_1d(5.0), [1.0])


def test_custom_kernel_blurs_as_given():
    signal = np.zeros(21)
    signal[10] = 1.0
    blurred = blur_axis(signal, SliceProfile("custom", kernel=(1.0, 2.0, 1.0)), 3.0)
    np.testing.assert_allclose(blurred[9:12], [0.25, 0.5, 0.25], atol=1e-7)
    assert blurred.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "lorentzian"}, "slice profile must be one of"),
    ({"kind": "gaussian", "width": -1.0}, "width must be >= 0"),
    ({"kind": "gaussian", "width": float("nan")}, "width must be >= 0"),
    ({"kind": "custom"}, "needs a non-empty kernel"),
    ({"kind": "custom", "kernel": ()}, "needs a non-empty kernel"),
    ({"kind": "custom", "kernel": (1.0, 1.0)}, "odd length"),
    ({"kind": "custom", "kernel": (1.0, -3.0, 1.0)}, "positive sum"),
    ({"kind": "custom", "kernel": (1.0, float("inf"), 1.0)}, "finite"),
])
def test_bad_profiles_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(InputError, match=message):
        SliceProfile(**kwargs)


def test_profile_round_trips_through_a_dict():
    for profile in (SliceProfile(), SliceProfile("box", 0.7), SliceProfile("custom", 1.0,
                                                                           (0.2, 0.6, 0.2))):
        assert SliceProfile.from_dict(profile.to_dict()) == profile


@pytest.mark.parametrize("ratio", (0.5, 0.0, -2.0, float("nan"), float("inf")))
def test_bad_ratios_are_refused(ratio):
    with pytest.raises(InputError, match="ratio"):
        simulate_acquisition(np.zeros((10, 10)), ratio)


def test_empty_axis_is_refused():
    with pytest.raises(InputError, match="empty"):
        interpolation_matrix(0, 2.0)


def test_small_and_large_problems_give_the_same_interpolation(monkeypatch):
    """Patch-sized problems run as a plain loop, big ones through BLAS: same numbers."""
    from napari_a2i3dem.core.physics import acquisition

    samples = np.random.default_rng(4).random((13, 20, 7)).astype(np.float32)
    loop = upsample_axis(samples, 10 / 3, axis=0)
    monkeypatch.setattr(acquisition, "_BLAS_MIN_WORK", 0)
    blas = upsample_axis(samples, 10 / 3, axis=0)
    np.testing.assert_allclose(loop, blas, atol=1e-6)
    assert loop.shape == (43, 20, 7) and loop.dtype == np.float32
