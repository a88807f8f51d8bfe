"""Optional ``torch.compile`` of the network."""

from __future__ import annotations

import warnings

import torch
from torch import nn


def compile_default(device: torch.device) -> bool:
    """Whether compiling pays off by default: only on CUDA (slow to compile, small gain on CPU)."""
    return torch.device(device).type == "cuda"


def maybe_compile(model: nn.Module, device: torch.device, enabled: bool | None = None) -> nn.Module:
    """``torch.compile(model)`` when ``enabled`` (default: :func:`compile_default`), else ``model``.

    Planes of varying size are handled with ``dynamic=True``. If compilation is unavailable the
    model is returned unchanged with a warning. Save the *uncompiled* module, or pass the
    compiled one to :func:`save_model`, which unwraps it.
    """
    if enabled is None:
        enabled = compile_default(device)
    if not enabled:
        return model
    try:
        return torch.compile(model, dynamic=True)
    except Exception as exc:  # e.g. unsupported platform / missing compiler
        warnings.warn(f"torch.compile unavailable ({exc}); running uncompiled", stacklevel=2)
        return model
