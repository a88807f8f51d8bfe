"""napari_a2i3dem.layers: the one rule for which layers may be a stack and what their spacing is."""

from __future__ import annotations

import numpy as np
import pytest

napari_layers = pytest.importorskip("napari.layers")

from napari_a2i3dem.layers import (  # noqa: E402
    HELPER_ROLE,
    OUTPUT_ROLE,
    ROLE_KEY,
    is_helper,
    layer_spacing,
    layer_volume,
    scale_spacing,
    stack_layers,
)
from napari_a2i3dem.widgets._shared import StackSettings  # noqa: E402

Image = napari_layers.Image


def test_scale_spacing_reads_calibrated_scales_only():
    assert scale_spacing((1.0, 1.0, 1.0)) is None                 # napari's default
    assert scale_spacing((1.0, 1.0, 1.0), {"spacing": (1, 1, 1)}) == (1.0, 1.0, 1.0)
    assert scale_spacing((30.0, 10.0, 10.0)) == (30.0, 10.0, 10.0)
    assert scale_spacing((4.0, 5.0)) == (1.0, 4.0, 5.0)
    assert scale_spacing((2.0, 30.0, 10.0, 10.0)) == (30.0, 10.0, 10.0)
    assert scale_spacing((), {"spacing": [40, 4, 4]}) == (40.0, 4.0, 4.0)
    assert scale_spacing(None) is None


def test_stack_layers_offer_grey_volumes_and_outputs_only_when_asked():
    stack = Image(np.zeros((4, 8, 8), np.uint8), name="stack", scale=(30, 10, 10))
    flat = Image(np.zeros((8, 8), np.uint8), name="flat")
    rgb = Image(np.zeros((4, 8, 8, 3), np.uint8), name="rgb", rgb=True)
    preview = Image(np.zeros((4, 8, 8)), name="preview", metadata={ROLE_KEY: HELPER_ROLE})
    output = Image(np.zeros((10, 8, 8)), name="iso", metadata={ROLE_KEY: OUTPUT_ROLE})
    layers = [stack, flat, rgb, preview, output]
    assert stack_layers(layers) == [stack]
    assert stack_layers(layers, include_outputs=True) == [stack, preview, output]
    assert stack_layers(layers, include_outputs=True, exclude=(output, None)) == [stack, preview]
    assert is_helper(preview) and is_helper(output) and not is_helper(stack)


def test_layer_volume_is_full_resolution_of_a_multiscale_layer():
    levels = [np.zeros((4, 16, 16)), np.zeros((4, 8, 8))]
    layer = Image(levels, multiscale=True)
    assert layer_volume(layer).shape == (4, 16, 16)
    plain = Image(np.ones((3, 5, 5)))
    assert layer_volume(plain) is plain.data


def test_confirmed_spacing_wins_for_its_layer_only():
    stack = Image(np.zeros((4, 8, 8)), name="stack", scale=(1, 1, 1))
    other = Image(np.zeros((4, 8, 8)), name="other", scale=(40, 4, 4))
    confirmed = StackSettings("stack", (45.0, 4.5, 4.5))
    assert layer_spacing(stack, confirmed) == (45.0, 4.5, 4.5)
    assert layer_spacing(stack, None) is None                 # uncalibrated: not rho = 1
    assert layer_spacing(other, confirmed) == (40.0, 4.0, 4.0)
