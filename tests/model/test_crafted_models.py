"""Model files crafted to hurt: refused with one line before anything large is built."""

from __future__ import annotations

import pickle

import pytest
import torch

from napari_a2i3dem.core.errors import A2IError, InputError
from napari_a2i3dem.core.model import A2I3DEMNet, NetworkConfig, load_model, preset, save_model
from napari_a2i3dem.core.training.checkpoint import load_checkpoint


@pytest.fixture
def model_file(tmp_path):
    net = A2I3DEMNet(preset("tiny"))
    return save_model(tmp_path / "m.pt", net, degradation={}, spacing=(30.0, 10.0, 10.0),
                      ratio=3.0, intensity={"low": 0.0, "high": 255.0})


def _tamper(path, **network):
    payload = torch.load(path, weights_only=True)
    payload["network"] = {**payload["network"], **network}
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(("network", "words"), [
    ({"channels": 65536}, "channels 65536 > 256"),
    ({"depths": [1] * 28, "heads": [1] * 28}, "28 encoder stages > 6"),
    ({"window": 4096}, "window 4096 > 64"),
    ({"bottleneck_depth": 10_000}, "more than 32 blocks"),
    ({"channels": "eight"}, "wrong type for channels"),
    ({"mlp_ratio": "4"}, "wrong type for mlp_ratio"),
    ({"depths": "11"}, "wrong type for depths"),
    ({"shift_windows": "yes"}, "wrong type for shift_windows"),
])
def test_absurd_or_mistyped_architecture_is_refused_before_building(model_file, network, words):
    _tamper(model_file, **network)
    with pytest.raises(A2IError, match=words):
        load_model(model_file)


def test_the_presets_are_within_the_limits():
    for name in ("tiny", "small", "base"):
        assert NetworkConfig.from_dict(preset(name).to_dict()) == preset(name)


def test_pickled_objects_are_refused_without_advising_an_unsafe_load(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": "napari-a2i3dem-model", "payload": object()}, handle)
    for load in (load_model, load_checkpoint):
        with pytest.raises(A2IError) as info:
            load(path)
        assert "weights_only" not in str(info.value)
        assert "never unpickled" in str(info.value)


def test_wrong_config_type_is_an_input_error_not_a_traceback():
    with pytest.raises(InputError, match="must be a dict"):
        NetworkConfig.from_dict(["channels", 16])
