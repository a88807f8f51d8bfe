"""Tiny torch modules for reconstruction tests (plumbing, not quality)."""

from __future__ import annotations

import torch


class IdentityNet(torch.nn.Module):
    """Returns its input: reconstruction must then equal plain cubic interpolation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


class OffsetNet(torch.nn.Module):
    """Adds a constant (in network units)."""

    def __init__(self, offset: float) -> None:
        super().__init__()
        self.offset = offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.offset


def small_conv_net(seed: int = 0) -> torch.nn.Module:
    """A random two-layer conv net: non-trivial, with a 5-pixel receptive field."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, 1, 3, padding=1),
    ).eval()


class SectionMapNet(torch.nn.Module):
    """Takes the section map (like the presets) and returns it: a reconstruction then shows
    the map the engine gave each tile, on the output grid."""

    class config:
        section_input = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == 2, "the section map must come as the second channel"
        return x[:, 1:2].clone()
