"""Synthetic volumes shared by the tests."""

from __future__ import annotations

import numpy as np


def membrane_field(shape=(96, 96, 96), seed: int = 1) -> np.ndarray:
    """An isotropic random field with membrane-like sharp edges (tanh of a 1/f^1.5 field):
    tissue without a preferred direction, for tests of the slice-profile estimate."""
    rng = np.random.default_rng(seed)
    freq = np.sqrt(sum(np.meshgrid(*[np.fft.fftfreq(n) ** 2 for n in shape], indexing="ij",
                                   sparse=True)))
    field = np.fft.ifftn(np.fft.fftn(rng.standard_normal(shape)) / (freq + 0.02) ** 1.5).real
    return np.tanh(3.0 * field / field.std()).astype(np.float32)
