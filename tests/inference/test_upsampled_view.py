"""The cubic reference computed on indexing equals the whole cubic volume, and reads little."""

from __future__ import annotations

import numpy as np
import pytest

from napari_a2i3dem.core.inference.reconstruction import cubic_upsample_stack
from napari_a2i3dem.core.inference.upsampled_view import UpsampledView


class CountingStack:
    """An array-like stack that records how many voxels each read took."""

    def __init__(self, data: np.ndarray) -> None:
        self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
        self.voxels_read: list[int] = []

    def __getitem__(self, key):
        part = self.data[key]
        self.voxels_read.append(part.size)
        return part


@pytest.fixture
def stack(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(60, 48, 40), dtype=np.uint8)


@pytest.mark.parametrize("ratio", [3.0, 2.5])
@pytest.mark.parametrize("key", [
    7, -1, (slice(None), 5), (slice(None), slice(None), 11),
    (slice(10, 90, 7), slice(None, None, 3)),
    (Ellipsis, 4), (slice(None, None, -5), 2, slice(3, 30)), (slice(40, 10), 0),
])
def test_any_slice_equals_the_cubic_volume(stack, ratio, key):
    full = cubic_upsample_stack(stack, ratio)
    view = UpsampledView(stack, ratio)
    assert view.shape == full.shape and view.dtype == full.dtype and view.ndim == 3
    part = view[key]
    assert part.shape == full[key].shape
    # float summation order may differ: at most one grey level, in a few voxels
    assert np.abs(part.astype(int) - full[key]).max(initial=0) <= 1


def test_whole_view_and_float_output(stack):
    view = UpsampledView(stack, 3.0, dtype=np.float32)
    expected = cubic_upsample_stack(stack, 3.0, dtype=np.float32)
    np.testing.assert_allclose(np.asarray(view), expected, atol=1e-3)


def test_one_plane_reads_only_the_planes_its_spline_needs(rng):
    stack = CountingStack(rng.integers(0, 256, size=(200, 32, 32), dtype=np.uint8))
    view = UpsampledView(stack, 3.0)
    view[300]
    # a 200-plane stack, a few dozen planes read (the spline weights' non-nil support)
    assert stack.voxels_read[-1] <= 50 * 32 * 32
    view[:, 7]
    assert stack.voxels_read[-1] == 200 * 32  # one row of every plane, not the volume


def test_dask_stack_is_read_without_a_thread_pool(stack):
    da = pytest.importorskip("dask.array")
    lazy = da.from_array(stack, chunks=(-1, 16, 16))
    view = UpsampledView(lazy, 3.0)
    assert np.abs(view[100].astype(int) - cubic_upsample_stack(stack, 3.0)[100]).max() <= 1


def test_fancy_indices_are_refused_with_a_clear_error(stack):
    view = UpsampledView(stack, 3.0)
    with pytest.raises(IndexError, match="integer and slice"):
        view[np.array([1, 2])]
    with pytest.raises(IndexError, match="too many"):
        view[0, 0, 0, 0]
