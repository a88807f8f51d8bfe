"""Feeding a GPU: the batch that fits in free memory, page-locked staging buffers and
cuDNN's autotuner for the fixed tile shapes of a reconstruction. On a CPU (or MPS) every piece
is a no-op, so the same code path runs everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

#: share of the free GPU memory a reconstruction batch may use (the rest: the allocator's
#: fragmentation, the other pass's buffers, a desktop on the same card)
MEMORY_HEADROOM = 0.7


def batch_that_fits(requested: int, free_bytes: int, per_tile_bytes: int,
                    headroom: float = MEMORY_HEADROOM) -> int:
    """``requested`` tiles per batch, lowered (never raised) to what ``headroom`` of
    ``free_bytes`` holds at ``per_tile_bytes`` each; at least 1."""
    if per_tile_bytes <= 0:
        return max(1, int(requested))
    return max(1, min(int(requested), int(free_bytes * headroom) // int(per_tile_bytes)))


def measure_tile_bytes(forward: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                       tile_shape: tuple[int, int], channels: int = 1) -> int:
    """Peak GPU memory one tile of ``tile_shape`` (``channels`` input channels) needs through
    ``forward`` (0 off CUDA)."""
    if device.type != "cuda":
        return 0
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    forward(torch.zeros((1, channels, *tile_shape), device=device))
    torch.cuda.synchronize(device)
    return max(0, torch.cuda.max_memory_allocated(device) - before)


def free_memory(device: torch.device) -> int:
    """Free bytes on a CUDA device (0 elsewhere)."""
    if device.type != "cuda":
        return 0
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """cuDNN picks the fastest convolution algorithms for the (few, fixed) tile shapes while
    the block runs on CUDA; the global setting is restored afterwards."""
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


class StagingBuffers:
    """Host -> device copies of tile batches: through two alternating page-locked buffers per
    batch shape on CUDA (``non_blocking``, so the copy overlaps the previous batch's kernels);
    a plain conversion elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._buffers: dict[tuple[int, ...], list[torch.Tensor]] = {}
        self._turn = 0

    def to_device(self, tiles: np.ndarray) -> torch.Tensor:
        """``(N, H, W)`` tiles (one channel) or ``(N, C, H, W)`` as a device tensor."""
        tiles = np.ascontiguousarray(tiles, dtype=np.float32)
        host = torch.from_numpy(tiles[:, None] if tiles.ndim == 3 else tiles)
        if self.device.type != "cuda":
            return host.to(self.device)
        shape = tuple(host.shape)
        if shape not in self._buffers:
            self._buffers[shape] = [torch.empty(shape, pin_memory=True) for _ in range(2)]
        self._turn ^= 1
        staged = self._buffers[shape][self._turn]
        staged.copy_(host)
        return staged.to(self.device, non_blocking=True)
