"""Use cases shared by the command line and the widgets (core.jobs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_a2i3dem.core.jobs import make_trainer
from napari_a2i3dem.core.settings import TrainingSettings
from napari_a2i3dem.core.training.checkpoint import checkpoint_path_for, model_path_for


@pytest.mark.parametrize("name", ["model.pt", "em-tiny-20261203-101010-2.pt", "a.b.pt"])
def test_model_and_checkpoint_names_are_inverse(name):
    model = Path("/data") / name
    assert model_path_for(checkpoint_path_for(model)) == model
    assert checkpoint_path_for(model).name.endswith(".ckpt.pt")


def test_a_new_run_puts_its_checkpoint_next_to_the_model(tmp_path, rng):
    stack = rng.integers(0, 255, (6, 64, 64), dtype=np.uint8)
    config = TrainingSettings.parse(steps=2).train_config()
    trainer = make_trainer(stack, ratio=3.0, spacing=(30.0, 10.0, 10.0), config=config,
                           model_path=tmp_path / "m.pt")
    assert trainer.model_path == tmp_path / "m.pt"
    assert trainer.checkpoint_path == tmp_path / "m.ckpt.pt"
    with pytest.raises(ValueError, match="model_path or a checkpoint"):
        make_trainer(stack, ratio=3.0, spacing=None, config=config)
