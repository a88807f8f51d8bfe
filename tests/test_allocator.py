"""The allocator setting: on where glibc is, off on request, and it changes no result."""

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
    from napari_a2i3dem.core.reconstruction import reconstruct_volume

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
