"""What a network is given besides its plane: the section map of networks built with it.

A network whose config has ``section_input`` takes ``(B, 2, H, W)``: the cubic-upsampled plane
and, as a second channel, :func:`~..physics.acquisition.section_map` of its section axis. Every
caller that runs such a network on planes (the reconstruction's tiles, the training preview, a
model check, a shared package's test tensor) builds its input here, so the map always follows
the acquisition's grid: acquired section ``k`` at fine coordinate ``k * rho`` of the plane's
section axis (axis 0: z along rows on the xz and yz planes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..physics.acquisition import section_closeness


def wants_section_map(module: torch.nn.Module) -> bool:
    """True for a network built with ``section_input`` (wrappers that expose the network's
    ``config`` count too)."""
    return bool(getattr(getattr(module, "config", None), "section_input", False))


def size_multiple(module: torch.nn.Module) -> int:
    """The multiple a network pads its planes' sides to (1 for a network that does not say):
    tiles of that size cost no padding."""
    return int(getattr(getattr(module, "config", None), "size_multiple", 1) or 1)


def with_section_map(planes: np.ndarray, ratio: float,
                     starts: int | Sequence[int] = 0) -> np.ndarray:
    """``(N, H, W)`` planes whose rows are fine z (plane ``i``'s row 0 at fine coordinate
    ``starts[i]``) as ``(N, 2, H, W)`` float32 network input: the plane, then its section map."""
    planes = np.asarray(planes, dtype=np.float32)
    n, h, w = planes.shape
    starts = np.broadcast_to(np.asarray(starts, dtype=np.int64), (n,))
    out = np.empty((n, 2, h, w), dtype=np.float32)
    out[:, 0] = planes
    out[:, 1] = np.stack([section_closeness(h, ratio, s) for s in starts.tolist()])[:, :, None]
    return out


def plane_input(plane: np.ndarray, module: torch.nn.Module, ratio: float,
                start: int = 0) -> torch.Tensor:
    """One ``(H, W)`` plane (network units, z along rows from fine coordinate ``start``) as the
    ``(1, C, H, W)`` tensor ``module`` takes."""
    plane = np.asarray(plane, dtype=np.float32)
    if wants_section_map(module):
        return torch.from_numpy(with_section_map(plane[None], ratio, start))
    return torch.from_numpy(np.ascontiguousarray(plane))[None, None]
