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
        # The two paths are computed apart (slices of the same weights: the result is the same
        # as expanding to 2h channels and splitting), so GELU and the gate see contiguous maps;
        # on a strided half they ran up to 2x slower (bf16 on CPU). The depth-wise conv works
        # per channel, so splitting it is exact.
        h = self.hidden
        weight, bias = self.expand.weight, self.expand.bias
        kernel, kernel_bias = self.local.weight, self.local.bias
        content = F.linear(x, weight[:h], bias[:h]).permute(0, 3, 1, 2)  # (B, h, H, W) view
        gate = F.linear(x, weight[h:], bias[h:]).permute(0, 3, 1, 2)
        content = F.gelu(F.conv2d(content, kernel[:h], kernel_bias[:h], padding=1, groups=h))
        gate = F.conv2d(gate, kernel[h:], kernel_bias[h:], padding=1, groups=h)
        # in place when no gradient is needed: one (B, h, H, W) temporary fewer
        gated = content.mul_(gate) if not torch.is_grad_enabled() else content * gate
        return self.project(gated.permute(0, 2, 3, 1))
