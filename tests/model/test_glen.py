"""GLEN computes its two paths apart; it must equal the textbook expand -> split -> gate."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from napari_a2i3dem.core.model import GLEN


def reference_glen(glen: GLEN, x: torch.Tensor) -> torch.Tensor:
    """Expand to 2h channels, depth-wise conv, split into content and gate, GELU(a) * b."""
    y = glen.expand(x).permute(0, 3, 1, 2)
    y = glen.local(y).permute(0, 2, 3, 1)
    content, gate = y.chunk(2, dim=-1)
    return glen.project(F.gelu(content) * gate)


@pytest.mark.parametrize("grad", [False, True])
def test_split_paths_equal_the_reference_forward(grad):
    torch.manual_seed(0)
    glen = GLEN(8, mlp_ratio=2.0)
    x = torch.randn(3, 12, 20, 8)
    with torch.set_grad_enabled(grad):
        fast, reference = glen(x), reference_glen(glen, x)
    assert fast.shape == x.shape
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-5)


def test_split_paths_give_the_reference_gradients():
    torch.manual_seed(1)
    glen = GLEN(6, mlp_ratio=2.0)
    x = torch.randn(2, 9, 9, 6, requires_grad=True)
    target = torch.randn(2, 9, 9, 6)

    def grads(forward):
        glen.zero_grad()
        x.grad = None
        ((forward(x) - target) ** 2).mean().backward()
        return [x.grad.clone()] + [p.grad.clone() for p in glen.parameters()]

    for fast, reference in zip(grads(glen), grads(lambda t: reference_glen(glen, t)),
                               strict=True):
        torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)
