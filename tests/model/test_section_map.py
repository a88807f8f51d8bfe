"""The section map: where the acquired sections lie, given to the network as a second channel,
the same in training pairs and in every tile of a reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _recon_models import SectionMapNet

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.inference.reconstruction import (
    PlaneRunner,
    reconstruct_volume,
    reconstruct_xz_plane,
)
from napari_a2i3dem.core.model import A2I3DEMNet, preset
from napari_a2i3dem.core.model.inputs import plane_input, wants_section_map, with_section_map
from napari_a2i3dem.core.normalization import IntensityScale
from napari_a2i3dem.core.physics.acquisition import (
    SliceProfile,
    section_closeness,
    section_map,
)
from napari_a2i3dem.core.physics.degradations import DegradationConfig
from napari_a2i3dem.core.training.pairs import PatchPairDataset, make_validation_pairs


def test_closeness_is_one_on_sections_and_zero_halfway():
    np.testing.assert_allclose(section_closeness(7, 3.0), [1, 1 / 3, 1 / 3, 1, 1 / 3, 1 / 3, 1],
                               atol=1e-6)
    np.testing.assert_allclose(section_closeness(6, 2.0), [1, 0, 1, 0, 1, 0])
    # rho 2.5: sections at 0, 2.5, 5 -> pixel 2 and 3 are 0.5 from one, pixel 5 on one
    np.testing.assert_allclose(section_closeness(6, 2.5), [1, 0.2, 0.6, 0.6, 0.2, 1], atol=1e-6)
    np.testing.assert_allclose(section_closeness(4, 3.0, start=5),
                               section_closeness(9, 3.0)[5:], atol=1e-7)
    plane = section_map((4, 5), 3.0, axis=1)
    assert plane.shape == (4, 5) and (plane == section_closeness(5, 3.0)[None]).all()


def test_network_input_stacks_the_plane_and_its_map():
    planes = np.arange(2 * 6 * 3, dtype=np.float32).reshape(2, 6, 3)
    both = with_section_map(planes, 3.0, [0, 1])
    assert both.shape == (2, 2, 6, 3)
    np.testing.assert_array_equal(both[:, 0], planes)
    np.testing.assert_allclose(both[1, 1, :, 0], section_closeness(6, 3.0, 1))
    net = A2I3DEMNet(preset("tiny"))
    assert wants_section_map(net) and not wants_section_map(torch.nn.Identity())
    assert plane_input(planes[0], net, 3.0).shape == (1, 2, 6, 3)
    assert plane_input(planes[0], torch.nn.Identity(), 3.0).shape == (1, 1, 6, 3)


@pytest.mark.parametrize("ratio", [3.0, 2.5])
def test_training_pairs_mark_the_rows_that_were_acquired(rng, ratio):
    """Point sampling leaves the acquired rows exact: exactly the rows the map puts at 1."""
    stack = (rng.random((4, 80, 80)) * 255).astype(np.float32)
    data = PatchPairDataset(stack, ratio, DegradationConfig.clean(SliceProfile("none")),
                            patch_size=32, scale=IntensityScale(0.0, 255.0), seed=3, length=12,
                            section_channel=True)
    axes = set()
    for i in range(len(data)):
        x, y = data[i]
        assert x.shape == (2, 32, 32) and y.shape == (1, 32, 32)
        exact = (x[0] - y[0]).abs() < 1e-5
        on_section = x[1] > 1 - 1e-6
        axis = 0 if bool((x[1][:, :1] == x[1]).all()) else 1
        axes.add(axis)
        lines = on_section.all(dim=1 - axis)  # the section rows (axis 0) or columns (axis 1)
        exact_lines = exact.all(dim=1 - axis)
        assert lines.any()
        assert torch.equal(exact_lines, lines)  # exact there, and only there
    assert axes == {0, 1}  # both section axes are drawn, each with its own map
    inputs, _ = make_validation_pairs(stack, ratio, patch_size=32, count=3, section_channel=True)
    assert inputs.shape == (3, 2, 32, 32)


@pytest.mark.parametrize("ratio", [3.0, 2.5])
def test_every_tile_gets_the_map_of_its_place_in_the_volume(rng, ratio):
    """Tiles, overlaps, z-bands and both passes: the map each tile got, blended, is the map
    of the whole output grid (sections at 0, rho, 2 rho, ... of the output's z)."""
    stack = rng.random((40, 20, 18)).astype(np.float32)
    volume, _ = reconstruct_volume(stack, SectionMapNet(), ratio, tile=32, overlap=8,
                                   scale=IntensityScale(0.0, 1.0), confidence=False,
                                   band_planes=40)
    expected = section_closeness(volume.shape[0], ratio)
    np.testing.assert_allclose(volume, np.broadcast_to(expected[:, None, None], volume.shape),
                               atol=1e-5)
    _, plane = reconstruct_xz_plane(stack, SectionMapNet(), ratio, 5, tile=32, overlap=8,
                                    scale=IntensityScale(0.0, 1.0))
    np.testing.assert_allclose(plane[:, 0], expected, atol=1e-5)


def test_a_runner_without_the_ratio_is_refused():
    with pytest.raises(InputError, match="needs the ratio"):
        PlaneRunner(SectionMapNet(), device="cpu")
