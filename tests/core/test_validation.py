"""Input checks shared by the CLI, the widgets and the engines name the problem they find."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_a2i3dem.core.errors import A2IError, InputError
from napari_a2i3dem.core.validation import (
    ratio_from_spacing,
    validate_ratio,
    validate_spacing,
    validate_volume,
)


def test_valid_spacing_comes_back_as_floats():
    assert validate_spacing([45, 15, 15.5]) == (45.0, 15.0, 15.5)
    assert all(isinstance(v, float) for v in validate_spacing(np.array([3, 1, 1])))


@pytest.mark.parametrize(("spacing", "message"), [
    ((45.0, 15.0), "three values"),
    ((1.0, 2.0, 3.0, 4.0), "three values"),
    ((0.0, 15.0, 15.0), "z = 0.0"),
    ((45.0, -15.0, 15.0), "y = -15.0"),
    ((45.0, 15.0, float("nan")), "x = nan"),
    ((float("inf"), 15.0, 15.0), "z = inf"),
])
def test_bad_spacing_is_named(spacing, message):
    with pytest.raises(InputError, match=message):
        validate_spacing(spacing)


@pytest.mark.parametrize(("spacing", "ratio"), [
    ((45.0, 15.0, 15.0), 3.0),
    ((50.0, 4.6, 4.6), 50 / 4.6),
    ((40.0, 4.0, 6.0), 8.0),  # lateral = mean of y and x
    ((10.0, 10.0, 10.0), 1.0),
])
def test_ratio_from_spacing(spacing, ratio):
    assert ratio_from_spacing(spacing) == pytest.approx(ratio)


def test_ratio_below_one_is_rejected_with_its_value():
    with pytest.raises(InputError, match=r"at least 1.*0\.3333"):
        ratio_from_spacing((5.0, 15.0, 15.0))
    with pytest.raises(InputError, match="finite"):
        validate_ratio(float("nan"))
    assert validate_ratio(2.5) == 2.5
    assert validate_ratio(1) == 1.0


@pytest.mark.parametrize(("shape", "message"), [
    ((), "empty"),
    ((0, 16, 16), "empty"),
    ((4, 0, 16), "empty"),
    ((64, 64), "2-D image"),
    ((4, 64, 64, 3), "RGB"),
    ((4, 64, 64, 4), "RGB"),
    ((2, 4, 64, 64), "4-D"),
    ((2, 2, 4, 64, 64), "5-D"),
    ((4, 6, 64), "too small"),
])
def test_volume_shape_problems_are_named(shape, message):
    with pytest.raises(InputError, match=message):
        validate_volume(np.zeros(shape, np.uint8), name="mystack")


def test_volume_messages_name_the_stack():
    with pytest.raises(InputError, match=r"^mystack is a 2-D image"):
        validate_volume(np.zeros((32, 32)), name="mystack")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected(bad):
    data = np.ones((4, 16, 16), np.float32)
    data[1, 2, 3] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        validate_volume(data)
    validate_volume(data, check_values=False)  # callers may skip the scan


def test_unsupported_dtypes_are_rejected():
    with pytest.raises(InputError, match="dtype"):
        validate_volume(np.zeros((4, 16, 16), np.complex64))
    with pytest.raises(InputError, match="dtype"):
        validate_volume(np.zeros((4, 16, 16), bool))


def test_good_volumes_pass_and_dask_is_not_computed():
    validate_volume(np.zeros((4, 16, 16), np.uint8))
    validate_volume(np.zeros((4, 16, 16), np.float32))

    def explode(block):
        raise AssertionError("validate_volume computed a dask array")

    lazy = da.zeros((4, 16, 16), dtype=np.float32, chunks=(1, 16, 16)).map_blocks(
        explode, dtype=np.float32, meta=np.empty((0, 0, 0), np.float32))
    validate_volume(lazy)  # shape and dtype only


def test_errors_are_value_errors_and_a2i_errors():
    with pytest.raises(ValueError):
        validate_ratio(0.5)
    with pytest.raises(A2IError):
        validate_spacing((1, 2))
