"""The cubic operator's matrix applied along z, without holding Python's GIL.

``np.tensordot`` allocates and zero-fills its (often hundreds of MB) result inside NumPy's BLAS
wrapper while holding the GIL: on CREMI-sized slabs that held every other Python thread — the
napari GUI thread included — for 0.4-0.6 s per slab of a reconstruction. ``torch.matmul`` runs the
same product (float32) with the GIL released, allocation included.
"""

from __future__ import annotations

import numpy as np
import torch


def apply_along_z(matrix: np.ndarray, block: np.ndarray) -> np.ndarray:
    """``matrix`` (n_out x k) applied to axis 0 of ``block`` (k, ...): float32 (n_out, ...)."""
    weights = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
    values = np.ascontiguousarray(block, dtype=np.float32)
    flat = torch.from_numpy(values.reshape(values.shape[0], -1))
    return torch.matmul(weights, flat).numpy().reshape((matrix.shape[0], *values.shape[1:]))
