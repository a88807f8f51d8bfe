"""CPU fast paths: the allocator setting and bf16 inference change no result beyond float noise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from napari_a2i3dem.core import allocator

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from napari_a2i3dem.core.allocator import tune_allocator
    from napari_a2i3dem.core.model import A2I3DEMNet, preset
    from napari_a2i3dem.core.inference.reconstruction import reconstruct_volume

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = A2I3DEMNet(preset("tiny")).eval()
    stack = np.random.default_rng(0).random((6, 40, 40)).astype(np.float32)
    volume, _ = reconstruct_volume(stack, model, 3.0, tile=32, overlap=8, confidence=False)
    print(tune_allocator())
    np.save(sys.argv[1], volume)
""")


def run(tmp_path, name: str, switch: str | None):
    env = dict(os.environ)
    env.pop(allocator.ENV_SWITCH, None)
    if switch is not None:
        env[allocator.ENV_SWITCH] = switch
    out = tmp_path / f"{name}.npy"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(out)], env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    return result.stdout.strip().splitlines()[-1], np.load(out)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_and_untuned_reconstructions_are_identical(tmp_path):
    tuned, a = run(tmp_path, "tuned", None)
    untuned, b = run(tmp_path, "untuned", "0")
    assert (tuned, untuned) == ("True", "False")
    np.testing.assert_array_equal(a, b)


def test_release_memory_is_safe_to_call():
    allocator.tune_allocator()
    allocator.release_memory()  # no error, whether or not the allocator is glibc's


def test_bf16_switch_and_inference_quality(monkeypatch):
    """The CPU bf16 path (used where bf16 is natively fast) is forced on and off by
    A2I3DEM_CPU_BF16 and stays within float noise of fp32 on a network with a real correction."""
    import torch

    from napari_a2i3dem.core import devices
    from napari_a2i3dem.core.analysis.metrics import psnr
    from napari_a2i3dem.core.inference.reconstruction import reconstruct_volume
    from napari_a2i3dem.core.model import A2I3DEMNet, preset

    torch.manual_seed(0)
    model = A2I3DEMNet(preset("tiny")).eval()
    with torch.no_grad():
        model.output_projection.weight.mul_(20.0)  # a correction far from zero
    stack = np.random.default_rng(1).random((8, 48, 48)).astype(np.float32)
    volumes = {}
    for mode in ("0", "1"):
        monkeypatch.setenv(devices.CPU_BF16_SWITCH, mode)
        devices.cpu_bf16_is_fast.cache_clear()
        assert devices.cpu_bf16_is_fast() is (mode == "1")
        dtype = devices.autocast_dtype(torch.device("cpu"))
        assert dtype == (torch.bfloat16 if mode == "1" else None)
        # training and inference share the choice: the trainer's autocast is the same context
        with devices.autocast(torch.device("cpu")):
            assert torch.is_autocast_enabled("cpu") is (mode == "1")
        with devices.autocast(torch.device("cpu"), enabled=False):
            assert not torch.is_autocast_enabled("cpu")
        volumes[mode], _ = reconstruct_volume(stack, model, 3.0, confidence=False)
    devices.cpu_bf16_is_fast.cache_clear()
    cubic_like = psnr(volumes["0"], stack.repeat(3, axis=0)[:len(volumes["0"])], data_range=1.0)
    agreement = psnr(volumes["0"], volumes["1"], data_range=1.0)
    assert agreement > 40.0 and agreement > cubic_like + 20.0
