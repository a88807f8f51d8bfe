"""The cubic operator along z: NumPy's product, computed without holding the GIL."""

from __future__ import annotations

import threading
import time

import numpy as np

from napari_a2i3dem.core.inference.along_z import apply_along_z


def test_equals_the_numpy_product(rng):
    matrix = rng.random((30, 12)).astype(np.float32)[:, 2:9]  # a strided slice, as the engine
    block = rng.integers(0, 256, size=(7, 5, 6)).astype(np.float32)
    out = apply_along_z(matrix, block)
    assert out.dtype == np.float32 and out.shape == (30, 5, 6)
    np.testing.assert_allclose(out, np.tensordot(matrix, block, axes=(1, 0)), rtol=1e-5)
    row = apply_along_z(matrix[:1], block[:, 0])  # one output plane of one row
    np.testing.assert_allclose(row, np.tensordot(matrix[:1], block[:, 0], axes=(1, 0)),
                               rtol=1e-5)


def _longest_pause_while(work) -> tuple[float, float]:
    """The longest time this thread could not run Python while ``work`` ran in another one."""
    worker = threading.Thread(target=work)
    started = last = time.perf_counter()
    longest = 0.0
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    return longest, time.perf_counter() - started


def test_other_threads_keep_running_during_the_product(rng):
    # np.tensordot allocated and zero-filled its 200 MB result holding the GIL: a napari window
    # froze for 0.4-0.6 s per slab of a reconstruction
    matrix = rng.random((200, 20)).astype(np.float32)
    block = rng.random((20, 256, 1024)).astype(np.float32)
    pauses = []
    for _ in range(3):
        pause, duration = _longest_pause_while(lambda: apply_along_z(matrix, block))
        pauses.append(pause / duration)
    assert min(pauses) < 0.2  # np.tensordot: 0.33-0.9 of its duration; this: about 0.03
