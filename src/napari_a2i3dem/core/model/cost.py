"""Size and cost of a network: parameters, FLOPs per plane."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import NetworkConfig
from .network import A2I3DEMNet, count_parameters


def estimate_flops(config: NetworkConfig, size: int | tuple[int, int] = 256) -> int:
    """FLOPs (multiply and add counted separately, i.e. 2 x MACs) of one forward pass on one plane.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` on the meta device (no memory, no
    compute): matrix products and convolutions, which dominate; element-wise ops are not counted.
    """
    h, w = (size, size) if isinstance(size, int) else size
    with torch.device("meta"):
        model = A2I3DEMNet(config)
        x = torch.empty(1, config.input_channels, h, w)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def estimate_gflops(config: NetworkConfig, size: int | tuple[int, int] = 256) -> float:
    """GFLOPs of one forward pass on one ``size`` x ``size`` plane (see :func:`estimate_flops`)."""
    return estimate_flops(config, size) / 1e9


def parameter_count(config: NetworkConfig) -> int:
    """Parameters of a network built from ``config`` (without allocating its weights)."""
    with torch.device("meta"):
        return count_parameters(A2I3DEMNet(config))
