"""Feeding the network: pipelined batches (equal to one batch after another), the batch that fits
in free GPU memory, staging buffers and cuDNN's autotuner (CPU-testable parts)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _recon_models import small_conv_net

from napari_a2i3dem.core.errors import Cancelled
from napari_a2i3dem.core.inference import reconstruction
from napari_a2i3dem.core.inference.gpu_feed import (
    StagingBuffers,
    batch_that_fits,
    cudnn_autotune,
    free_memory,
    measure_tile_bytes,
)
from napari_a2i3dem.core.inference.reconstruction import PlaneRunner
from napari_a2i3dem.core.inference.tiling import axis_tiles, tile_window


def sequential_blend(module, planes, rows, cols, batch):
    """The reference: one batch after another, each finished before the next is cut out."""
    n, h, w = planes.shape
    total = np.zeros((n, h, w), np.float32)
    jobs = [(i, r, c) for i in range(n) for r in rows for c in cols]
    for begin in range(0, len(jobs), batch):
        chunk = jobs[begin:begin + batch]
        tiles = torch.from_numpy(np.stack([planes[i, r.slice, c.slice] for i, r, c in chunk]))
        with torch.inference_mode():
            out = module(tiles[:, None])[:, 0].numpy()
        for (i, r, c), tile in zip(chunk, out, strict=True):
            total[i, r.slice, c.slice] += tile * tile_window(r, c)
    return total


@pytest.mark.parametrize("batch", [1, 3, 8, 100])
def test_pipelined_batches_equal_one_after_another(rng, batch):
    module = small_conv_net().eval()
    planes = rng.random((5, 70, 52)).astype(np.float32)
    rows, cols = axis_tiles(70, 32, 8), axis_tiles(52, 32, 8)
    counted = []
    runner = PlaneRunner(module, device="cpu", batch=batch, amp=False, on_tiles=counted.append)
    total, weight = runner.run(planes, rows, cols)
    np.testing.assert_allclose(total, sequential_blend(module, planes, rows, cols, batch),
                               rtol=1e-6, atol=1e-6)
    assert sum(counted) == 5 * len(rows) * len(cols)          # every tile reported once
    assert max(counted) <= batch
    assert weight.shape == (70, 52) and weight.min() > 0


def test_a_cancel_stops_before_the_next_batch(rng):
    launched = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            launched.append(len(x))
            return x

    state = {"cancel": False}
    runner = PlaneRunner(Counting(), device="cpu", batch=2, amp=False,
                         cancel=lambda: state["cancel"],
                         on_tiles=lambda n: state.update(cancel=True))
    planes = rng.random((6, 16, 16)).astype(np.float32)
    with pytest.raises(Cancelled):
        runner.run(planes, axis_tiles(16, 16, 0), axis_tiles(16, 16, 0))
    # the first batch finished and asked to stop; the pipeline had started at most one more
    assert 1 <= len(launched) <= 2


def test_batches_never_mix_tile_shapes():
    runner = PlaneRunner(torch.nn.Identity(), device="cpu", batch=4, amp=False)
    rows = axis_tiles(40, 32, 8)
    jobs = [(0, r, c) for r in rows for c in axis_tiles(20, 32, 8)]
    jobs += [(1, r, c) for r in rows for c in axis_tiles(33, 32, 8)]
    for chunk in runner._chunks(jobs):
        assert len(chunk) <= 4
        assert len({(r.stop - r.start, c.stop - c.start) for _, r, c in chunk}) == 1
    assert sum(len(c) for c in runner._chunks(jobs)) == len(jobs)


@pytest.mark.parametrize(("requested", "free", "per_tile", "expected"), [
    (8, 10_000, 100, 8),     # fits: unchanged (never raised)
    (64, 10_000, 1_000, 7),  # 70 % of 10 000 holds 7 tiles of 1 000
    (8, 500, 1_000, 1),      # not even one: still 1 (the run may then fail loudly, not hang)
    (8, 0, 0, 8),            # nothing measured (CPU): the request
])
def test_batch_that_fits(requested, free, per_tile, expected):
    assert batch_that_fits(requested, free, per_tile) == expected


def test_a_gpu_batch_is_lowered_to_the_free_memory(monkeypatch):
    runner = PlaneRunner(torch.nn.Identity(), device="cpu", batch=32, amp=False)
    runner.device = torch.device("cuda")  # only the sizing rule is exercised here
    measured = []
    monkeypatch.setattr(reconstruction, "measure_tile_bytes",
                        lambda forward, device, shape, channels: measured.append(shape) or 2**30)
    monkeypatch.setattr(reconstruction, "free_memory", lambda device: 10 * 2**30)
    assert runner.batch_for((256, 256)) == 7
    assert runner.batch_for((256, 256)) == 7 and measured == [(256, 256)]  # measured once
    assert runner.batch_for((128, 256)) == 7 and len(measured) == 2        # per tile shape


def test_cpu_helpers_are_no_ops():
    cpu = torch.device("cpu")
    assert free_memory(cpu) == 0
    assert measure_tile_bytes(lambda x: x, cpu, (8, 8)) == 0
    tiles = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    staged = StagingBuffers(cpu).to_device(tiles)
    assert staged.shape == (2, 1, 3, 4) and staged.dtype == torch.float32
    np.testing.assert_array_equal(staged[:, 0].numpy(), tiles)


def test_cudnn_autotune_is_switched_on_for_cuda_only_and_restored():
    previous = torch.backends.cudnn.benchmark
    with cudnn_autotune(torch.device("cpu")):
        assert torch.backends.cudnn.benchmark == previous
    torch.backends.cudnn.benchmark = False
    try:
        with cudnn_autotune(torch.device("cuda")):
            assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = previous
