"""The spectral check of synthetic against real axial planes, and the noise estimate."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from napari_a2i3dem.core.analysis.spectra import (
    compare_spectra,
    estimate_noise,
    log_spectral_distance,
    plane_noise_sigma,
    power_spectrum,
    spectra_figure,
    suggest_defaults,
)
from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.normalization import IntensityScale
from napari_a2i3dem.core.physics.acquisition import SliceProfile
from napari_a2i3dem.core.physics.degradations import DegradationConfig, NoiseSettings


def isotropic_volume(rng, shape=(128, 80, 80), sigma=1.5) -> np.ndarray:
    volume = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return ((volume - volume.min()) / np.ptp(volume)).astype(np.float32)


def test_power_spectrum_of_a_sinusoid_and_of_white_noise(rng):
    n = 128
    freqs = np.fft.rfftfreq(n)
    wave = np.cos(2 * np.pi * freqs[20] * np.arange(n))[:, None] * np.ones((1, 8))
    assert np.argmax(power_spectrum(wave)) == 20
    noise = rng.normal(0, 0.1, size=(50, n, 64))
    power = power_spectrum(noise, axis=0)
    assert power[5:-5].mean() == pytest.approx(0.01, rel=0.05)  # flat at sigma^2
    assert power[5:-5].std() / power[5:-5].mean() < 0.1
    rows = power_spectrum(noise.transpose(0, 2, 1), axis=1)
    np.testing.assert_allclose(rows, power, rtol=1e-10)


def test_log_spectral_distance_in_decibels():
    freqs = np.fft.rfftfreq(64)
    a = np.linspace(1.0, 2.0, len(freqs))
    assert log_spectral_distance(a, a, freqs) == pytest.approx(0.0)
    assert log_spectral_distance(10 * a, a, freqs) == pytest.approx(10.0)
    assert log_spectral_distance(a, 100 * a, freqs, band=(0.2, 0.3)) == pytest.approx(20.0)
    with pytest.raises(InputError, match="no frequency"):
        log_spectral_distance(a, a, freqs, band=(0.6, 0.7))


@pytest.mark.parametrize("sigma", (2.0, 8.0))
def test_plane_noise_estimate_recovers_added_noise(rng, sigma):
    x = np.linspace(0, 4 * np.pi, 256)
    smooth = 100 + 40 * np.sin(x)[:, None] * np.cos(0.7 * x)[None, :]
    noisy = smooth + rng.normal(0, sigma, smooth.shape)
    assert plane_noise_sigma(noisy) == pytest.approx(sigma, rel=0.08)
    assert plane_noise_sigma(smooth) < 0.05 * sigma


def test_stack_noise_ignores_blank_sections_and_reports_relative_units(rng):
    x = np.linspace(0, 4 * np.pi, 128)
    smooth = 100 + 40 * np.sin(x)[:, None] * np.cos(0.7 * x)[None, :]
    stack = np.stack([smooth + rng.normal(0, 4.0, smooth.shape) for _ in range(6)])
    stack[2] = 0.0  # a missing section
    scale = IntensityScale(50.0, 150.0)
    estimate = estimate_noise(stack, scale=scale)
    assert estimate.sigma == pytest.approx(4.0, rel=0.08)
    assert estimate.relative == pytest.approx(estimate.sigma / 100.0)
    assert len(estimate.per_plane) == 5
    with pytest.raises(InputError, match="blank"):
        estimate_noise(np.zeros((3, 32, 32)))
    with pytest.raises(InputError, match="3-D"):
        estimate_noise(np.zeros((32, 32)))


def test_suggested_defaults_follow_spacing_and_noise(rng):
    x = np.linspace(0, 4 * np.pi, 96)
    smooth = 0.5 + 0.3 * np.sin(x)[:, None] * np.cos(0.7 * x)[None, :]
    stack = np.stack([smooth + rng.normal(0, 0.02, smooth.shape) for _ in range(8)])
    suggestion = suggest_defaults(stack, (45.0, 15.0, 15.0))
    assert suggestion["ratio"] == pytest.approx(3.0)
    assert suggestion["noise_sigma"] == pytest.approx(0.02, rel=0.1)
    config = DegradationConfig.from_dict(suggestion["degradation"])
    low, high = config.noise.sigma
    added = suggestion["noise_relative"]
    assert config.noise.kind == "gaussian"
    assert 0.5 * added < low < high < 1.3 * added  # remainder after the profile blur, +-30 %
    with pytest.raises(InputError, match="spacing"):
        suggest_defaults(stack, (-1.0, 1.0, 1.0))


def test_matching_acquisition_agrees_better_than_a_wrong_one(rng):
    """On a stack acquired from an isotropic volume by point sampling every 4th plane, the
    point-sampling model matches the real axial spectrum better than a thick box, and adding
    strong noise that the stack does not have makes the agreement worse."""
    volume = isotropic_volume(rng)
    stack = volume[::4]
    matching = DegradationConfig.clean(SliceProfile("none"))
    thick = DegradationConfig.clean(SliceProfile("box", 2.0))
    noisy = replace(matching, noise=NoiseSettings(kind="gaussian", probability=1.0,
                                                  sigma=(0.1, 0.1), poisson=(0, 0)))
    kwargs = dict(length=64, count=16, blocks=2, scale=IntensityScale(0.0, 1.0))
    good = compare_spectra(stack, 4.0, matching, **kwargs)
    bad = compare_spectra(stack, 4.0, thick, **kwargs)
    worse = compare_spectra(stack, 4.0, noisy, **kwargs)
    assert good.distance_db < 1.5
    assert bad.distance_db > good.distance_db + 1.0
    assert worse.distance_db > good.distance_db + 3.0
    # noise the stack does not have also shows along the full-resolution axis; a thicker section
    # profile (no noise) hardly changes that lateral spectrum
    assert worse.lateral_distance_db > good.lateral_distance_db + 3.0
    assert bad.lateral_distance_db < worse.lateral_distance_db
    assert good.freqs.shape == good.real.shape == good.degraded.shape == good.clean.shape
    assert good.acquisition_only_db == pytest.approx(good.distance_db)
    # below the new Nyquist limit the clean xy and acquired spectra nearly coincide,
    # above it the acquisition removes most of the power
    above = good.freqs > 0.25
    assert good.degraded[above].sum() < 0.2 * good.clean[above].sum()


def test_figure_is_an_agg_figure_with_four_curves(rng, tmp_path):
    stack = isotropic_volume(rng, shape=(64, 48, 48))[::4]
    comparison = compare_spectra(stack, 4.0, length=48, count=4, blocks=1)
    figure = spectra_figure(comparison, title="test", lateral=True)
    assert len(figure.axes) == 2
    ax = figure.axes[0]
    assert len(ax.get_lines()) >= 4
    assert "dB" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    figure.savefig(tmp_path / "spectra.png")
    assert (tmp_path / "spectra.png").stat().st_size > 1000
    assert "dB" in comparison.summary()


def test_default_degradation_is_closer_to_real_sstem_than_acquisition_alone(shared_data):
    import tifffile

    stack = tifffile.imread(shared_data / "cremi_sample.tif")
    comparison = compare_spectra(stack, 10.0, DegradationConfig(), count=16)
    assert comparison.distance_db < comparison.acquisition_only_db - 0.5
    assert comparison.distance_db < 2.0


class RecordingStack:
    """A read-only (z, y, x) array that records how many sections each read touches."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype = data, data.shape, data.dtype
        self.sections_read: list[int] = []

    def __getitem__(self, key):
        out = self.data[key]
        zs = np.arange(self.shape[0])[key[0] if isinstance(key, tuple) else key]
        self.sections_read.append(int(np.size(zs)))
        return out


def test_real_spectrum_reads_only_the_sections_its_windows_need(rng):
    deep = isotropic_volume(rng, shape=(400, 40, 40), sigma=1.0)
    stack = RecordingStack(deep)
    from napari_a2i3dem.core.analysis.spectra import real_spectra

    spectra = real_spectra(stack, 4.0, scale=IntensityScale(0.0, 1.0), length=32, blocks=3)
    assert len(stack.sections_read) == 3
    assert max(stack.sections_read) <= 2 * 9 + 2 * 3  # 9 sections under a 32-row window
    assert spectra.axial.shape == spectra.lateral.shape == (17,)


def test_windows_avoid_a_blank_section(rng):
    from napari_a2i3dem.core.analysis.spectra import real_axial_planes

    stack = isotropic_volume(rng, shape=(40, 32, 32), sigma=1.0)[::2].copy()  # 20 sections
    stack[10] = 0.0
    planes = real_axial_planes(stack, 2.0, scale=IntensityScale(0.0, 1.0), size=16, blocks=6,
                               seed=3)
    # a blank section would make whole rows of a plane zero
    assert not np.any(np.all(np.abs(planes) < 1e-6, axis=2))
