"""A2I-3DEM network: shapes, position index, gradients, near-identity start, overfitting."""

from __future__ import annotations

import pytest
import torch

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.model import (
    PRESETS,
    A2I3DEMNet,
    NetworkConfig,
    WindowAttention,
    count_parameters,
    estimate_gflops,
    pad_to_multiple,
    parameter_count,
    preset,
    relative_position_index,
    set_attention_backend,
)
from napari_a2i3dem.core.model.attention import shift_mask, window_merge, window_partition

MICRO = NetworkConfig(channels=8, depths=(1, 1), heads=(1, 2), bottleneck_depth=2,
                      bottleneck_heads=2, window=4, mlp_ratio=2.0, shift_windows=True)


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (33, 17), (64, 64), (70, 129)])
def test_output_shape_equals_input_for_any_plane(size):
    torch.manual_seed(0)
    net = A2I3DEMNet(MICRO).eval()
    x = torch.rand(2, 1, *size)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_pad_to_multiple_reflects_then_crops_back():
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 3, 5)
    padded, (h, w) = pad_to_multiple(x, 4)
    assert padded.shape[-2:] == (4, 8) and (h, w) == (3, 5)
    assert padded[0, 0, 0, 5:].tolist() == [3.0, 2.0, 1.0]  # reflect, not zeros
    tiny, _ = pad_to_multiple(torch.ones(1, 1, 2, 2), 8)  # more padding than reflect allows
    assert tiny.shape[-2:] == (8, 8) and bool((tiny == 1).all())


def test_relative_position_index_window_2_by_hand():
    # Positions in a 2x2 window, row-major: 0=(0,0) 1=(0,1) 2=(1,0) 3=(1,1).
    # index = (dy + 1) * 3 + (dx + 1) with (dy, dx) = pos_i - pos_j.
    expected = torch.tensor([
        [4, 3, 1, 0],
        [5, 4, 2, 1],
        [7, 6, 4, 3],
        [8, 7, 5, 4],
    ])
    assert torch.equal(relative_position_index(2), expected)


def test_relative_position_index_window_3_properties():
    index = relative_position_index(3)
    assert index.shape == (9, 9)
    assert bool((index.diagonal() == 12).all())  # zero offset is the centre of the 5x5 table
    assert index[0, 8].item() == 0 and index[8, 0].item() == 24  # extreme offsets
    assert sorted(set(index.flatten().tolist())) == list(range(25))


def test_position_bias_gathers_the_table():
    attention = WindowAttention(dim=4, heads=2, window=2)
    with torch.no_grad():
        attention.bias_table.copy_(torch.arange(18.0).view(9, 2))
    bias = attention.position_bias()
    assert bias.shape == (2, 4, 4)
    # pair (0, 3): offset (-1, -1) -> row 0; pair (3, 0): offset (1, 1) -> row 8
    assert bias[1, 0, 3].item() == 1.0 and bias[0, 3, 0].item() == 16.0


def test_window_partition_round_trip():
    x = torch.randn(2, 8, 12, 3)
    windows = window_partition(x, 4)
    assert windows.shape == (2 * 2 * 3, 16, 3)
    assert torch.equal(windows[0].view(4, 4, 3), x[0, :4, :4])
    assert torch.equal(window_merge(windows, 4, 8, 12), x)


def test_shift_mask_blocks_wrapped_neighbours_only():
    mask = shift_mask(8, 8, 4, 2, torch.device("cpu"))
    assert mask.shape == (4, 16, 16)
    assert bool((mask[0] == 0).all())  # the top-left window never wraps
    assert bool((mask[3] < 0).any())  # the bottom-right window holds 4 wrapped regions


def test_attention_backends_agree():
    torch.manual_seed(0)
    attention = WindowAttention(dim=8, heads=2, window=4, shift=2)
    x = torch.randn(2, 8, 12, 8)
    try:
        set_attention_backend("manual")
        manual = attention(x)
        set_attention_backend("sdpa")
        fused = attention(x)
    finally:
        set_attention_backend("auto")
    torch.testing.assert_close(manual, fused, atol=1e-5, rtol=1e-4)


def test_shifted_windows_mix_information_across_window_borders():
    torch.manual_seed(0)
    plain = WindowAttention(dim=4, heads=1, window=4, shift=0)
    shifted = WindowAttention(dim=4, heads=1, window=4, shift=2)
    shifted.load_state_dict(plain.state_dict())
    x = torch.randn(1, 8, 8, 4)
    bumped = x.clone()
    bumped[0, 3, 3] += 5.0  # last pixel of the top-left window
    # Without shift the pixel at (4, 4) sits in another window and cannot see the change.
    assert torch.equal(plain(x)[0, 4, 4], plain(bumped)[0, 4, 4])
    assert not torch.allclose(shifted(x)[0, 4, 4], shifted(bumped)[0, 4, 4])


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = A2I3DEMNet(MICRO)
    x = torch.rand(2, 1, 24, 20)
    loss = (net(x) - torch.rand_like(x)).abs().mean()
    loss.backward()
    starved = [name for name, p in net.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert starved == []


@pytest.mark.parametrize("name", list(PRESETS))
def test_untrained_network_is_near_identity(name):
    torch.manual_seed(0)
    net = A2I3DEMNet(preset(name)).eval()
    x = torch.rand(1, preset(name).input_channels, 48, 40)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (1, 1, 48, 40)
    assert (y - x[:, :1]).abs().mean().item() < 0.01  # input varies over [0, 1]
    assert not torch.equal(y, x[:, :1])  # ... but the correction is not zero


def test_presets_grow_and_report_cost():
    sizes = [parameter_count(preset(n)) for n in ("tiny", "small", "base")]
    assert sizes == sorted(sizes) and sizes[0] < 500_000 < sizes[2]
    assert parameter_count(preset("tiny")) == count_parameters(A2I3DEMNet(preset("tiny")))
    flops = estimate_gflops(preset("tiny"), 256)
    assert 0.5 < flops < estimate_gflops(preset("small"), 256)
    assert estimate_gflops(preset("tiny"), 512) == pytest.approx(4 * flops, rel=0.05)


def test_unknown_preset_lists_the_valid_names():
    with pytest.raises(InputError, match="tiny, small, base"):
        preset("huge")
    assert preset(" Tiny ") is PRESETS["tiny"]


def test_config_round_trip_and_validation():
    config = PRESETS["small"]
    assert NetworkConfig.from_dict(config.to_dict()) == config
    with pytest.raises(InputError, match="cannot be split into 3 heads"):
        NetworkConfig(channels=16, depths=(1,), heads=(3,))
    with pytest.raises(InputError, match="heads has 1 entries but depths has 2"):
        NetworkConfig(depths=(1, 1), heads=(1,))
    with pytest.raises(InputError, match="unknown network configuration keys: colour"):
        NetworkConfig.from_dict({**config.to_dict(), "colour": 1})


def test_wrong_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"expected input \(B, 1, H, W\)"):
        A2I3DEMNet(MICRO)(torch.rand(1, 2, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\) \(the plane and its section map\)"):
        A2I3DEMNet(preset("tiny"))(torch.rand(1, 1, 16, 16))


def test_section_map_is_a_second_channel_that_changes_the_answer():
    """Presets take the section map; files from before it (no key) load without it."""
    assert all(p.section_input and p.input_channels == 2 for p in PRESETS.values())
    old = {k: v for k, v in preset("tiny").to_dict().items() if k != "section_input"}
    assert NetworkConfig.from_dict(old).input_channels == 1
    torch.manual_seed(0)
    net = A2I3DEMNet(MICRO.with_changes(section_input=True, output_init_scale=1.0)).eval()
    plane = torch.rand(1, 1, 24, 16)
    on, off = torch.ones_like(plane), torch.zeros_like(plane)
    with torch.no_grad():
        a, b = net(torch.cat([plane, on], 1)), net(torch.cat([plane, off], 1))
    assert a.shape == b.shape == plane.shape
    assert (a - b).abs().mean() > 1e-4


def test_tiny_preset_overfits_one_pair():
    torch.manual_seed(0)
    net = A2I3DEMNet(preset("tiny").with_changes(section_input=False))
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    target = (0.5 + 0.4 * torch.sin(12 * xx) * torch.cos(9 * yy)).view(1, 1, 32, 32)
    blurred = torch.nn.functional.avg_pool2d(target, (4, 1), stride=(4, 1))
    degraded = torch.nn.functional.interpolate(blurred, size=(32, 32), mode="bicubic",
                                               align_corners=False)
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    start = (degraded - target).abs().mean().item()
    for _ in range(250):
        optimiser.zero_grad()
        loss = (net(degraded) - target).abs().mean()
        loss.backward()
        optimiser.step()
    assert loss.item() < start / 8


def test_auto_backend_uses_sdpa_for_cpu_inference_only(monkeypatch):
    """CPU inference takes the fused path (faster with torch 2.13), CPU training the plain one
    (its backward is faster); the whole network's output is the reference's to 1e-5."""
    from napari_a2i3dem.core.model import attention as attention_module

    calls = []
    fused = attention_module.F.scaled_dot_product_attention
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or fused(*a, **k))
    torch.manual_seed(0)
    net = A2I3DEMNet(preset("tiny")).eval()
    x = torch.rand(2, 2, 64, 64)
    net(x).sum().backward()
    assert not calls  # training (grad enabled): the plain path
    with torch.inference_mode():
        auto = net(x)
    assert calls  # inference: SDPA
    try:
        set_attention_backend("manual")
        with torch.inference_mode():
            reference = net(x)
    finally:
        set_attention_backend("auto")
    torch.testing.assert_close(auto, reference, atol=1e-5, rtol=0)


def test_every_stage_sees_a_contiguous_channels_last_map():
    """The low-level features are kept in channels-last memory, so the encoder's first stage
    (layer norms, residual adds) does not run on a channel stride of H * W; the output equals
    the one computed on the channels-first layout it had before, to float noise."""
    torch.manual_seed(0)
    net = A2I3DEMNet(preset("tiny")).eval()
    layouts = []
    stages = (*net.encoders, net.bottleneck, *net.decoders)
    hooks = [stage.register_forward_pre_hook(
        lambda _m, args: layouts.append(args[0].is_contiguous())) for stage in stages]
    x = torch.rand(2, 2, 64, 64)
    with torch.inference_mode():
        fast = net(x)
    assert layouts == [True] * 5
    for hook in hooks:
        hook.remove()
    net.encoders[0].register_forward_pre_hook(  # the layout of before: channels-first memory
        lambda _m, args: (args[0].permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1),))
    with torch.inference_mode():
        reference = net(x)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=0)
