"""Intensity scale estimation from whole stacks."""

from __future__ import annotations

import dask.array as da
import numpy as np

from napari_a2i3dem.core.normalization import IntensityScale, cast_like


def test_small_stack_uses_exact_percentiles(rng):
    stack = rng.normal(100.0, 10.0, size=(4, 32, 32))
    scale = IntensityScale.from_stack(stack, percentiles=(1.0, 99.0))
    low, high = np.percentile(stack, (1.0, 99.0))
    assert scale.low == low and scale.high == high


def test_large_stack_subsample_matches_full_percentiles(rng):
    stack = rng.gamma(4.0, 20.0, size=(40, 128, 128)).astype(np.float32)
    scale = IntensityScale.from_stack(stack, max_samples=100_000)
    low, high = np.percentile(stack, (0.1, 99.9))
    assert abs(scale.low - low) < 0.05 * (high - low)
    assert abs(scale.high - high) < 0.05 * (high - low)


def test_blank_sections_do_not_pull_the_low_end_to_zero(rng):
    stack = rng.uniform(80, 200, size=(40, 96, 96)).astype(np.uint8)
    stack[::3] = 0  # missing sections stored as black planes
    scale = IntensityScale.from_stack(stack, max_samples=50_000)
    assert scale.low >= 80
    assert scale.high <= 200


def test_all_blank_stack_still_gives_a_usable_scale():
    stack = np.full((40, 64, 64), 7, dtype=np.uint16)
    scale = IntensityScale.from_stack(stack, max_samples=10_000)
    assert scale.high > scale.low


def test_lazy_stack_is_read_section_by_section(rng):
    data = rng.uniform(0, 1000, size=(64, 64, 64)).astype(np.uint16)
    lazy = da.from_array(data, chunks=(1, 64, 64))
    scale = IntensityScale.from_stack(lazy, max_samples=20_000, seed=3)
    assert 0 <= scale.low < 20 and 980 < scale.high <= 1000


def test_round_trip_and_cast():
    scale = IntensityScale(10.0, 30.0)
    x = np.array([10.0, 20.0, 30.0])
    assert np.allclose(scale.denormalize(scale.normalize(x)), x)
    assert cast_like(np.array([-5.0, 300.7]), np.uint8).tolist() == [0, 255]
