"""The A2I-3DEM network: a U-shaped vision transformer of W-MSA + GLEN blocks.

``input (B,1,H,W)`` -> reflect-pad to a multiple of ``window * 2^(K-1)`` -> 3x3 conv to C channels
(low-level features) -> encoder stages (ViT blocks, then a stride-2 conv that doubles channels) ->
bottleneck -> decoder stages (transposed conv that halves channels, skip connection from the
encoder, ViT blocks) -> + low-level features -> 3x3 conv to 1 channel -> + input (global residual)
-> crop. The network therefore predicts a correction to its cubic-interpolated input, and with
its small output initialisation an untrained network is close to the identity.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import WindowAttention
from .config import NetworkConfig
from .glen import GLEN


class ViTBlock(nn.Module):
    """``X' = W-MSA(LN(X)) + X``;  ``X'' = GLEN(LN(X')) + X'`` on channels-last maps."""

    def __init__(self, dim: int, heads: int, window: int, *, shift: int = 0,
                 mlp_ratio: float = 2.0, qkv_bias: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = WindowAttention(dim, heads, window, shift=shift, qkv_bias=qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.feed_forward = GLEN(dim, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.feed_forward(self.norm2(x))


class Stage(nn.Module):
    """A stack of ViT blocks; with shifted windows every second block uses shift ``M // 2``.

    ``start_shifted`` makes the first block the shifted one, so that single-block stages
    still alternate along the depth of the U (odd scales shifted, even scales not).
    """

    def __init__(self, dim: int, depth: int, heads: int, config: NetworkConfig, *,
                 start_shifted: bool = False) -> None:
        super().__init__()
        shift = config.window // 2 if config.shift_windows else 0
        self.blocks = nn.ModuleList(
            ViTBlock(dim, heads, config.window, shift=shift if (i + start_shifted) % 2 else 0,
                     mlp_ratio=config.mlp_ratio, qkv_bias=config.qkv_bias)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def _to_channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def _to_channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` at the bottom/right to multiples of ``multiple``.

    Reflect padding where the plane is large enough, replicate padding for what remains.
    Returns the padded tensor and the original ``(H, W)``.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    reflect_h, reflect_w = min(pad_h, h - 1), min(pad_w, w - 1)
    if reflect_h or reflect_w:
        x = F.pad(x, (0, reflect_w, 0, reflect_h), mode="reflect")
    if pad_h > reflect_h or pad_w > reflect_w:
        x = F.pad(x, (0, pad_w - reflect_w, 0, pad_h - reflect_h), mode="replicate")
    return x, (h, w)


class A2I3DEMNet(nn.Module):
    """U-shaped window-attention transformer mapping a cubic-interpolated plane to a clean one."""

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        config = config or NetworkConfig()
        self.config = config
        c, n_in = config.channels, config.in_channels
        widths = [c * 2**i for i in range(len(config.depths))]
        bottom = c * 2 ** len(config.depths)

        self.input_projection = nn.Sequential(
            nn.Conv2d(config.input_channels, c, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)
        )
        stage_args = list(zip(widths, config.depths, config.heads, strict=True))
        self.encoders = nn.ModuleList(
            Stage(w, d, h, config, start_shifted=bool(i % 2))
            for i, (w, d, h) in enumerate(stage_args)
        )
        self.downsamplers = nn.ModuleList(
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1) for w in widths
        )
        self.bottleneck = Stage(bottom, config.bottleneck_depth, config.bottleneck_heads, config,
                                start_shifted=bool(len(widths) % 2))
        self.upsamplers = nn.ModuleList(
            nn.ConvTranspose2d(2 * w, w, 2, stride=2) for w in widths
        )
        self.skip_fusions = nn.ModuleList(
            nn.Linear(2 * w, w) if config.skip == "concat" else nn.Identity() for w in widths
        )
        self.decoders = nn.ModuleList(
            Stage(w, d, h, config, start_shifted=bool(i % 2))
            for i, (w, d, h) in enumerate(stage_args)
        )
        self.output_projection = nn.Conv2d(c, n_in, 3, padding=1)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        # Near-identity start: the correction added to the input is tiny but not zero, so
        # gradients reach every layer from the first step.
        with torch.no_grad():
            self.output_projection.weight.mul_(self.config.output_init_scale)
            self.output_projection.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, input_channels, H, W), the image's channels then (with ``section_input``)
        the section map; returns the image's channels (B, in_channels, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.config.input_channels:
            what = " (the plane and its section map)" if self.config.section_input else ""
            raise ValueError(
                f"expected input (B, {self.config.input_channels}, H, W){what}, "
                f"got {tuple(x.shape)}"
            )
        padded, (h, w) = pad_to_multiple(x, self.config.size_multiple)
        # channels-last memory, so that the channels-last view of the encoder's first stage is
        # contiguous: its layer norms and residual adds ran on a channel stride of H*W (a
        # single-channel input gives the conv no layout to follow); tiny forward of 8 x 256^2,
        # bf16: 305 -> 277 ms
        low_level = self.input_projection(padded).contiguous(memory_format=torch.channels_last)

        skips = []
        y = _to_channels_last(low_level)
        for stage, down in zip(self.encoders, self.downsamplers, strict=True):
            y = stage(y)
            skips.append(y)
            y = _to_channels_last(down(_to_channels_first(y)))
        y = self.bottleneck(y)
        for i in reversed(range(len(self.decoders))):
            y = _to_channels_last(self.upsamplers[i](_to_channels_first(y)))
            if self.config.skip == "concat":
                y = self.skip_fusions[i](torch.cat([y, skips[i]], dim=-1))
            else:
                y = y + skips[i]
            y = self.decoders[i](y)

        features = _to_channels_first(y) + low_level
        out = self.output_projection(features) + padded[:, :self.config.in_channels]
        return out[..., :h, :w]


def count_parameters(model: nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
