"""GLEN: the gated, locally-enhanced feed-forward network of the ViT block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GLEN(nn.Module):
    """Linear expansion into two paths, depth-wise 3x3 conv, gate ``GELU(a) * b``, projection.

    Works on channels-last ``(B, H, W, C)`` maps. The depth-wise conv gives each token its 3x3
    neighbourhood (local context that window attention lacks); the element-wise product of the
    two paths is the gate.
    """

    def __init__(self, dim: int, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        hidden = max(1, round(dim * mlp_ratio))
        self.hidden = hidden
        self.expand = nn.Linear(dim, 2 * hidden)
        self.local = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden)
        self.project = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x).permute(0, 3, 1, 2)  # (B, 2h, H, W)
        y = self.local(y).permute(0, 2, 3, 1)  # back to channels-last
        content, gate = y.chunk(2, dim=-1)
        return self.project(F.gelu(content) * gate)
