"""Patch sampling and the PatchPairDataset: shapes, flat patches skipped, determinism by index,
DataLoader workers on NumPy and dask stacks."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.utils.data import DataLoader

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.normalization import IntensityScale
from napari_a2i3dem.core.physics.degradations import DegradationConfig
from napari_a2i3dem.core.training.pairs import (
    PatchPairDataset,
    PatchSampler,
    dihedral,
    is_flat,
    make_validation_pairs,
)


def em_like_stack(rng, shape=(10, 96, 96), blank_planes=(3,)) -> np.ndarray:
    volume = ndimage.gaussian_filter(rng.random(shape), (0.5, 1.5, 1.5))
    stack = (255 * (volume - volume.min()) / np.ptp(volume)).astype(np.uint8)
    for z in blank_planes:
        stack[z] = 0
    return stack


def test_items_are_float32_tensors_of_one_channel(rng):
    dataset = PatchPairDataset(em_like_stack(rng), 4.0, patch_size=64, length=5)
    inputs, target = dataset[0]
    assert inputs.shape == target.shape == (1, 64, 64)
    assert inputs.dtype == target.dtype == torch.float32
    assert len(dataset) == 5
    with pytest.raises(IndexError):
        dataset[5]


def test_targets_are_network_units_of_the_given_scale(rng):
    stack = em_like_stack(rng, blank_planes=())
    scale = IntensityScale(0.0, 255.0)
    dataset = PatchPairDataset(stack, 3.0, patch_size=32, scale=scale, length=3, augment=False)
    _, target, loc = dataset.pair(1)
    raw = stack[loc.z, loc.y:loc.y + 32, loc.x:loc.x + 32] / 255.0
    assert raw.shape == target.shape
    # without augmentation the target is exactly the raw patch in network units
    np.testing.assert_allclose(target, raw, atol=1e-6)


def test_item_is_a_pure_function_of_seed_and_index(rng):
    stack = em_like_stack(rng)
    a = PatchPairDataset(stack, 5.0, patch_size=48, seed=3, length=10)
    b = PatchPairDataset(stack, 5.0, patch_size=48, seed=3, length=10)
    for i in (7, 2, 7):  # any order, repeated
        torch.testing.assert_close(a[i], b[i])
    assert not torch.equal(a[2][0], a[3][0])
    other_seed = PatchPairDataset(stack, 5.0, patch_size=48, seed=4, length=10)
    assert not torch.equal(a[2][1], other_seed[2][1])


def test_flat_patches_and_blank_planes_are_skipped(rng):
    stack = em_like_stack(rng, shape=(6, 64, 64), blank_planes=(0, 1, 2, 3, 4))
    dataset = PatchPairDataset(stack, 2.0, patch_size=32, length=20)
    assert {dataset.pair(i)[2].z for i in range(20)} == {5}
    for i in range(20):
        assert dataset.pair(i)[1].std() > 0.02


def test_is_flat_detects_constant_and_padded_patches(rng):
    texture = rng.random((32, 32)).astype(np.float32)
    assert not is_flat(texture, min_std=0.02)
    assert is_flat(np.full((32, 32), 0.3, np.float32), min_std=0.02)
    padded = texture.copy()
    padded[:, :20] = 0.0  # more than half of the patch stuck at one value
    assert is_flat(padded, min_std=0.02)


def test_blank_stack_gives_a_clear_error(rng):
    blank = np.zeros((4, 32, 32), dtype=np.uint8)
    dataset = PatchPairDataset(blank, 2.0, patch_size=16, length=2, scale=IntensityScale(0, 1))
    with pytest.raises(InputError, match="no patch with structure"):
        dataset[0]


@pytest.mark.parametrize("kwargs, message", [
    ({"patch_size": 8}, "patch size must be between"),
    ({"patch_size": 128}, "larger than the xy planes"),
    ({"length": 0}, "length must be positive"),
    ({"axes": (2,)}, "axes must be"),
])
def test_bad_dataset_settings_are_refused(rng, kwargs, message):
    stack = em_like_stack(rng, shape=(4, 64, 64))
    with pytest.raises(InputError, match=message):
        PatchPairDataset(stack, 2.0, **{"patch_size": 32, **kwargs})


def test_two_dimensional_stack_is_refused(rng):
    with pytest.raises(InputError, match="3-D"):
        PatchSampler(rng.random((64, 64)), 32)


def test_both_section_orientations_are_used(rng):
    """Pairs degraded along rows and along columns both occur; with augmentation off and a single
    axis only that orientation appears (stripes reveal the orientation)."""
    stack = em_like_stack(rng, blank_planes=())
    config = DegradationConfig.clean().with_artefact("stripes", enabled=True, probability=1.0,
                                                     strength=(0.2, 0.2))

    def orientation(inputs, target):
        residual = (inputs - target)[0].numpy()
        return "rows" if residual.mean(axis=1).std() > residual.mean(axis=0).std() else "cols"

    mixed = PatchPairDataset(stack, 4.0, config, patch_size=48, length=24)
    assert {orientation(*mixed[i]) for i in range(24)} == {"rows", "cols"}
    rows_only = PatchPairDataset(stack, 4.0, config, patch_size=48, length=12, axes=(0,))
    assert {orientation(*rows_only[i]) for i in range(12)} == {"rows"}


def test_dihedral_gives_eight_distinct_transforms(rng):
    patch = rng.random((8, 8))
    variants = [dihedral(patch, k) for k in range(8)]
    assert len({v.tobytes() for v in variants}) == 8
    assert all(v.flags.c_contiguous for v in variants)


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_dataloader_with_two_workers_matches_the_dataset(rng, lazy):
    stack = em_like_stack(rng, shape=(8, 80, 80))
    if lazy:
        stack = da.from_array(stack, chunks=(1, 80, 80))
    scale = IntensityScale(0.0, 255.0)
    dataset = PatchPairDataset(stack, 3.0, patch_size=32, scale=scale, seed=5, length=8)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    assert len(batches) == 2
    inputs, targets = batches[1]
    assert inputs.shape == (4, 1, 32, 32)
    expected_inputs, expected_targets = dataset[5]
    torch.testing.assert_close(inputs[1], expected_inputs)
    torch.testing.assert_close(targets[1], expected_targets)


def test_dask_and_numpy_stacks_give_identical_items(rng):
    stack = em_like_stack(rng, shape=(6, 64, 64))
    scale = IntensityScale(0.0, 255.0)
    eager = PatchPairDataset(stack, 2.5, patch_size=32, scale=scale, seed=1, length=4)
    lazy = PatchPairDataset(da.from_array(stack, chunks=(2, 32, 32)), 2.5, patch_size=32,
                            scale=scale, seed=1, length=4)
    for i in range(4):
        torch.testing.assert_close(eager[i], lazy[i])


def test_validation_pairs_are_stacked_and_reproducible(rng):
    stack = em_like_stack(rng)
    inputs, targets = make_validation_pairs(stack, 4.0, patch_size=32, count=6, seed=9)
    assert inputs.shape == targets.shape == (6, 1, 32, 32)
    again, _ = make_validation_pairs(stack, 4.0, patch_size=32, count=6, seed=9)
    torch.testing.assert_close(inputs, again)
    assert (inputs - targets).abs().mean() > 1e-3  # the inputs are degraded


@pytest.fixture
def lazy_tiff(tmp_path, rng, monkeypatch):
    import tifffile

    from napari_a2i3dem.core.io import tiff as io

    monkeypatch.setattr(io, "LAZY_CHUNK_BYTES", 1)  # one page per chunk: many small file reads
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, em_like_stack(rng, shape=(8, 96, 96)), imagej=True)
    return io.read_stack(path, lazy=True)


def test_forked_workers_reading_one_lazy_tiff_get_the_right_pixels(lazy_tiff):
    """Forked workers share the lazy TIFF's open file (and its offset); without the dataset's
    read lock some patches came back with pixels from the wrong place."""
    assert lazy_tiff.lazy
    dataset = PatchPairDataset(lazy_tiff.data, 3.0, DegradationConfig.clean(), patch_size=32,
                               scale=IntensityScale(0.0, 255.0), seed=2, length=400)
    expected = [dataset[i][1] for i in range(400)]
    loaded = [t for _, targets in DataLoader(dataset, batch_size=4, num_workers=2)
              for t in targets]
    wrong = sum(not torch.equal(a, b) for a, b in zip(expected, loaded, strict=True))
    assert wrong == 0


def test_dataset_on_a_lazy_tiff_pickles_for_spawned_workers(lazy_tiff):
    import pickle

    dataset = PatchPairDataset(lazy_tiff.data, 3.0, patch_size=32, seed=4, length=6,
                               scale=IntensityScale(0.0, 255.0))
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy.sampler.stack is not lazy_tiff.data  # reopened from the file, not shared
    for i in range(6):
        torch.testing.assert_close(copy[i], dataset[i])
    derived = PatchPairDataset(lazy_tiff.data[:, :64, :64], 3.0, patch_size=32, length=2,
                               scale=IntensityScale(0.0, 255.0))
    with pytest.raises(InputError, match="spawn"):
        pickle.dumps(derived)
