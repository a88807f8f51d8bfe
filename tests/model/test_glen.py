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


def test_fused_conv_gelu_equals_the_two_calls_in_inference(monkeypatch):
    """The oneDNN conv + GELU post-op (CPU inference) equals conv2d then the erf GELU."""
    from napari_a2i3dem.core.model import glen as glen_module

    torch.manual_seed(2)
    x = torch.randn(2, 9, 10, 12).permute(0, 3, 1, 2)  # a channels-last (2, 12, 9, 10) view
    kernel, bias = torch.randn(12, 1, 3, 3), torch.randn(12)
    reference = F.gelu(F.conv2d(x, kernel, bias, padding=1, groups=12))
    monkeypatch.setattr(glen_module, "_fused_conv_gelu_works", None)
    with torch.inference_mode():
        out = glen_module.conv_gelu(x, kernel, bias)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    if torch.backends.mkldnn.is_available():  # x86 / ARM builds with oneDNN: the fused op ran
        assert glen_module._fused_conv_gelu_works is True
    with torch.inference_mode():  # bf16 (CPU autocast's dtype): within bf16 rounding
        low = glen_module.conv_gelu(x.bfloat16(), kernel, bias)
    torch.testing.assert_close(low.float(), reference, rtol=2e-2, atol=5e-2)


def test_conv_gelu_keeps_the_autograd_path_when_training():
    torch.manual_seed(3)
    from napari_a2i3dem.core.model.glen import conv_gelu

    x = torch.randn(1, 4, 6, 6, requires_grad=True)
    kernel = torch.randn(4, 1, 3, 3, requires_grad=True)
    bias = torch.randn(4, requires_grad=True)
    conv_gelu(x, kernel, bias).sum().backward()
    assert x.grad is not None and kernel.grad is not None and bias.grad is not None


def test_a_failing_fused_op_falls_back_for_good(monkeypatch):
    from napari_a2i3dem.core.model import glen as glen_module

    def broken(*args):
        raise RuntimeError("no such post-op in this oneDNN")

    monkeypatch.setattr(torch.ops.mkldnn, "_convolution_pointwise", broken, raising=False)
    monkeypatch.setattr(glen_module, "_fused_conv_gelu_works", None)
    x = torch.randn(1, 4, 5, 5)
    kernel, bias = torch.randn(4, 1, 3, 3), torch.randn(4)
    with torch.inference_mode():
        out = glen_module.conv_gelu(x, kernel, bias)
    torch.testing.assert_close(out, F.gelu(F.conv2d(x, kernel, bias, padding=1, groups=4)))
    assert glen_module._fused_conv_gelu_works is False
