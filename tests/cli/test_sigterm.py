"""SIGTERM (a batch scheduler's stop) cleans up like Ctrl-C: no partial output, no temporaries,
and a training keeps a checkpoint to resume from."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.model import A2I3DEMNet, preset, save_model


def _start(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "napari_a2i3dem.cli", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(condition, timeout=120.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail("the condition was not met in time")
        time.sleep(0.05)


@pytest.fixture
def inputs(tmp_path, rng):
    stack = rng.integers(0, 256, (24, 192, 192), dtype=np.uint8)
    write_stack(tmp_path / "stack.tif", stack, (30.0, 10.0, 10.0))
    torch.manual_seed(0)
    save_model(tmp_path / "m.pt", A2I3DEMNet(preset("tiny")), degradation={},
               spacing=(30.0, 10.0, 10.0), ratio=3.0, intensity={"low": 0.0, "high": 255.0})
    return tmp_path


def test_sigterm_during_reconstruction_leaves_nothing_behind(inputs):
    process = _start(["reconstruct", "stack.tif", "--model", "m.pt", "--out", "iso.tif",
                      "--tile", "64", "--overlap", "16", "--batch", "1"], inputs)
    _wait_for(lambda: any(".part" in p.name for p in inputs.iterdir())
              or process.poll() is not None)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    assert sorted(p.name for p in inputs.iterdir()) == ["m.pt", "stack.tif"]


def test_sigterm_during_training_keeps_a_checkpoint(inputs):
    process = _start(["train", "stack.tif", "--out", "model.pt", "--preset", "tiny",
                      "--steps", "100000", "--batch", "2", "--patch", "64", "--quiet"], inputs)
    time.sleep(15)  # past the set-up (calibration, validation pairs) and some steps
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (130, 143), err
    assert "Traceback" not in err
    names = sorted(p.name for p in inputs.iterdir())
    assert "model.ckpt.pt" in names and not [n for n in names if ".tmp" in n or ".part" in n]
