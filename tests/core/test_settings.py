"""Typed settings (core.settings): validation in one line, JSON round trip, and the same bounds,
defaults and choices on the command line and in the widgets."""

from __future__ import annotations

import argparse

import pytest

from napari_a2i3dem.cli import build_parser
from napari_a2i3dem.commands.reconstruct import ENGINE_FLAGS
from napari_a2i3dem.commands.train import TRAINING_FLAGS
from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.settings import ReconstructionSettings, TrainingSettings
from napari_a2i3dem.core.training.config import TrainConfig


@pytest.mark.parametrize("settings", [ReconstructionSettings, TrainingSettings])
def test_settings_round_trip_through_json(settings):
    changed = {"batch": 3} if settings is ReconstructionSettings else {"batch_size": 3,
                                                                      "lr": 1e-3}
    original = settings.parse(changed)
    again = settings.parse(original.to_json())
    assert again == original and again != settings()


@pytest.mark.parametrize(("values", "words"), [
    ({"tile": 4}, "setting tile = 4: Input should be greater than or equal to 8"),
    ({"tile": 64, "overlap": 40}, "overlap must be between 0 and half the tile size (64)"),
    ({"fusion": "median"}, "setting fusion = 'median'"),
    ({"batch": "eight"}, "setting batch = 'eight'"),
    ({"tiles": 3}, "unknown setting 'tiles'"),
])
def test_bad_reconstruction_settings_are_one_line(values, words):
    with pytest.raises(InputError) as caught:
        ReconstructionSettings.parse(values)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_bad_json_is_one_line():
    with pytest.raises(InputError, match="not valid JSON"):
        TrainingSettings.parse("{steps: 3")
    with pytest.raises(InputError, match="mapping"):
        TrainingSettings.parse("[1, 2]")


def test_training_settings_make_the_engine_config():
    config = TrainingSettings.parse(preset="base", steps=7).train_config(log_every=1)
    assert isinstance(config, TrainConfig)
    assert (config.preset, config.steps, config.log_every) == ("base", 7, 1)
    assert config.patch_size == 128  # the preset's recommended patch when none is given
    defaults = TrainConfig()
    settings = TrainingSettings()
    for name in TrainingSettings.model_fields:  # one set of defaults, not two
        if name != "patch_size":
            assert getattr(settings, name) == getattr(defaults, name), name


def _option(parser: argparse.ArgumentParser, command: str, flag: str) -> argparse.Action:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices[command]._actions if flag in a.option_strings)


@pytest.mark.parametrize(("command", "settings", "flags"), [
    ("reconstruct", ReconstructionSettings, ENGINE_FLAGS),
    ("train", TrainingSettings, TRAINING_FLAGS),
])
def test_command_line_options_come_from_the_settings(command, settings, flags):
    parser = build_parser()
    for name, flag in flags.items():
        info, action = settings.info(name), _option(parser, command, flag)
        assert action.dest == name
        if info.choices is not None:
            assert tuple(action.choices) == info.choices
        if name != "preset":  # train leaves it unset: a resumed run keeps the checkpoint's
            assert action.default == info.default
        assert info.help.split(" (")[0] in action.help


def test_command_line_refuses_out_of_bounds_values(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["reconstruct", "s.tif", "--model", "m.pt", "--out", "o.tif",
                                   "--tile", "5000"])
    assert "must be between 8 and 4096, got 5000" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "s.tif", "--out", "m.pt", "--steps", "2.5"])
    assert "expected a whole number" in capsys.readouterr().err


def test_widget_controls_come_from_the_settings(make_napari_viewer):
    from napari_a2i3dem.widgets.reconstruct import ReconstructWidget
    from napari_a2i3dem.widgets.train import TrainWidget

    viewer = make_napari_viewer()
    recon = ReconstructWidget(viewer)
    info = ReconstructionSettings.info("tile")
    assert (recon.tile_spin.minimum(), recon.tile_spin.maximum()) == (info.minimum,
                                                                      info.maximum)
    assert recon.tile_spin.value() == info.default and recon.tile_spin.toolTip() == info.help
    fusion = ReconstructionSettings.info("fusion").choices
    assert [recon.fusion_combo.itemText(i) for i in range(recon.fusion_combo.count())] == \
        list(fusion)
    assert recon.engine_settings().threads is None  # "all" is the unset value
    recon.threads_spin.setValue(2)
    assert recon.engine_settings().threads == 2
    recon.overlap_spin.setValue(200)
    with pytest.raises(InputError, match="overlap"):
        recon.engine_settings()

    train = TrainWidget(viewer)
    steps = TrainingSettings.info("steps")
    assert train.steps_spin.value() == steps.default and train.steps_spin.minimum() == 1
    train.steps_spin.setValue(12)
    assert train._config().steps == 12 and train._config().threads is None
