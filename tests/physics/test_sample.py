"""The procedural sample: EM-like, deterministic, and really acquired with thick sections."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from napari_a2i3dem.core.analysis.metrics import psnr
from napari_a2i3dem.core.physics.acquisition import upsample_axis
from napari_a2i3dem.core.physics.sample import (
    SAMPLE_RATIO,
    SAMPLE_SPACING,
    make_sample_stack,
    make_sample_truth,
)


@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return make_sample_truth(0)


@pytest.fixture(scope="module")
def stack() -> np.ndarray:
    return make_sample_stack(0)[0]


def test_contract_shapes_types_spacing(truth, stack):
    data, spacing = make_sample_stack()
    assert data.shape == (32, 256, 256) and data.dtype == np.uint8
    assert spacing == (45.0, 15.0, 15.0) == SAMPLE_SPACING
    assert truth.shape == (96, 256, 256) and truth.dtype == np.uint8
    assert spacing[0] / spacing[1] == SAMPLE_RATIO == 3


def test_deterministic_per_seed_and_different_between_seeds(truth, stack):
    np.testing.assert_array_equal(make_sample_truth(0), truth)
    np.testing.assert_array_equal(make_sample_stack(0)[0], stack)
    other = make_sample_truth(1)
    assert np.mean(other != truth) > 0.5


def test_callers_get_their_own_copy(stack):
    data, _ = make_sample_stack()
    data[:] = 0
    assert make_sample_stack()[0].max() > 0
    np.testing.assert_array_equal(make_sample_stack()[0], stack)


def test_each_section_averages_three_truth_planes_plus_noise(truth, stack):
    """Box slice profile over rho = 3: section k integrates truth planes 3k-1 .. 3k+1."""
    t = truth.astype(np.float64)
    s = stack.astype(np.float64)
    ks = np.arange(1, 31)
    thick = np.stack([t[3 * k - 1: 3 * k + 2].mean(axis=0) for k in ks])
    thin = t[3 * ks]              # point sampling would look like this
    shifted = np.stack([t[3 * k: 3 * k + 3].mean(axis=0) for k in ks])  # one plane off
    residual = s[ks] - thick
    noise = residual.std()
    assert 4.0 < noise < 14.0     # EM-like noise of a few grey levels, not none, not swamping
    assert abs(residual.mean()) < 2.0
    assert (s[ks] - thin).std() > noise * 1.1
    assert (s[ks] - shifted).std() > noise * 1.3


def test_em_like_appearance(truth):
    """Light cytoplasm, a few percent of dark membrane pixels, the full grey range used."""
    grey = np.median(truth)
    assert 140 < grey < 200
    dark = np.mean(truth < 0.6 * grey)
    assert 0.03 < dark < 0.3
    assert truth.min() < 40 and truth.max() > 220


def fine_fraction(volume: np.ndarray, axis: int) -> float:
    """Share of the 1-D power spectrum along ``axis`` above 0.2 cycles/pixel (beyond the
    Nyquist frequency 1/6 of sections 3 pixels apart)."""
    v = volume - volume.mean(axis=axis, keepdims=True)
    power = np.abs(np.fft.rfft(v, axis=axis)) ** 2
    f = np.fft.rfftfreq(volume.shape[axis])
    power = np.moveaxis(power, axis, 0).reshape(len(f), -1).mean(axis=1)
    return float(power[f > 0.2].sum() / power[f > 0].sum())


def test_truth_is_isotropic_and_the_stack_is_not(truth, stack):
    """Membranes cross z obliquely, so the truth has as much fine detail along z as along y;
    the acquired stack, cubic-interpolated back to the fine grid, has lost it along z only."""
    t = truth[:93].astype(np.float32)
    truth_z, truth_y = fine_fraction(t, 0), fine_fraction(t, 1)
    assert 0.6 < truth_z / truth_y < 1.7
    cubic = upsample_axis(stack.astype(np.float32), SAMPLE_RATIO, axis=0, out_len=93)
    assert fine_fraction(cubic, 0) < 0.35 * truth_z
    assert fine_fraction(cubic, 1) > 0.7 * truth_y
    # there is something for super-resolution to recover: cubic is far from the truth
    assert psnr(t, cubic, data_range=255.0) < 30.0


def test_structure_at_all_scales(truth):
    """xy power spectrum: energy at coarse (cells), middle (organelles) and fine (membranes,
    vesicles, texture) scales, decaying with frequency but never vanishing."""
    plane = truth[48].astype(np.float64)
    power = np.abs(np.fft.fft2(plane - plane.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    bands = [(0.005, 0.03), (0.03, 0.1), (0.1, 0.25), (0.25, 0.5)]
    energy = [power[(f >= lo) & (f < hi)].mean() for lo, hi in bands]
    assert all(a > b for a, b in itertools.pairwise(energy))
    total = power[f > 0].sum()
    fine = power[(f >= 0.1) & (f < 0.5)].sum() / total
    assert 0.02 < fine < 0.6
