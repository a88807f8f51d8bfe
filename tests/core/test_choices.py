"""The torch-free choice lists the command line offers agree with what the core implements."""

from __future__ import annotations

from napari_a2i3dem.core.choices import PIXEL_LOSSES, PRESET_NAMES
from napari_a2i3dem.core.model import PRESETS
from napari_a2i3dem.core.model.loss import A2ILoss


def test_preset_names_are_the_network_presets():
    assert tuple(PRESETS) == PRESET_NAMES


def test_every_pixel_loss_builds_and_others_are_refused():
    for name in PIXEL_LOSSES:
        A2ILoss(pixel=name)
    try:
        A2ILoss(pixel="huber")
    except ValueError as exc:
        assert "rmse, l1" in str(exc)
    else:
        raise AssertionError("an unknown pixel loss was accepted")

def test_device_choices_are_what_select_device_takes():
    import pytest

    from napari_a2i3dem.core.choices import DEVICE_CHOICES
    from napari_a2i3dem.core.devices import select_device
    from napari_a2i3dem.core.errors import InputError

    assert select_device("auto").type in DEVICE_CHOICES
    assert select_device("cpu").type == "cpu"
    with pytest.raises(InputError, match="unknown device"):
        select_device("tpu")
