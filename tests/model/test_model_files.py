"""Model files: round trip, weights_only loading, and a clear error for every bad file."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_a2i3dem import __version__
from napari_a2i3dem.core.errors import InputError, ModelFileError
from napari_a2i3dem.core.model import (
    FORMAT_VERSION,
    A2I3DEMNet,
    LoadedModel,
    NetworkConfig,
    load_model,
    save_model,
)

CONFIG = NetworkConfig(channels=8, depths=(1,), heads=(1,), bottleneck_depth=1,
                       bottleneck_heads=2, window=4)
DEGRADATION = {"profile": {"kind": "gaussian", "width": 1.0, "kernel": None}, "noise_std": 0.02}
INTENSITY = {"low": 12.0, "high": 240.0}


@pytest.fixture
def trained_net() -> A2I3DEMNet:
    torch.manual_seed(0)
    net = A2I3DEMNet(CONFIG)
    with torch.no_grad():  # move away from the near-identity start so outputs are distinctive
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


@pytest.fixture
def model_file(tmp_path, trained_net):
    return save_model(tmp_path / "model.pt", trained_net, degradation=DEGRADATION,
                      spacing=(45.0, 15.0, 15.0), ratio=3.0, intensity=INTENSITY,
                      extra={"steps": 10, "history": [0.5, 0.25]})


def test_round_trip_gives_identical_outputs_and_metadata(model_file, trained_net):
    loaded = load_model(model_file)
    assert isinstance(loaded, LoadedModel)
    assert not loaded.model.training
    x = torch.rand(1, 1, 21, 30)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), trained_net(x))
    assert loaded.network_config == CONFIG
    assert loaded.degradation == DEGRADATION
    assert loaded.spacing == (45.0, 15.0, 15.0) and loaded.ratio == 3.0
    assert loaded.intensity == INTENSITY
    assert loaded.version == __version__
    assert loaded.extra == {"steps": 10, "history": [0.5, 0.25]}


def test_file_is_plain_data_for_weights_only_load(model_file):
    payload = torch.load(model_file, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION
    assert payload["network"] == CONFIG.to_dict()
    assert set(payload) >= {"state_dict", "degradation", "spacing", "ratio", "intensity"}


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, trained_net, model_file):
    before = model_file.read_bytes()
    with pytest.raises(InputError, match="plain data"):
        save_model(model_file, trained_net, degradation={"x": object()}, spacing=(1, 1, 1),
                   ratio=1.0, intensity=INTENSITY)
    assert model_file.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_save_unwraps_and_refuses_non_networks(tmp_path, trained_net):
    with pytest.raises(InputError, match="needs an A2I3DEMNet"):
        save_model(tmp_path / "m.pt", torch.nn.Linear(2, 2), degradation={}, spacing=(1, 1, 1),
                   ratio=1.0, intensity=INTENSITY)
    with pytest.raises(InputError, match="ratio must be"):
        save_model(tmp_path / "m.pt", trained_net, degradation={}, spacing=(1, 1, 1),
                   ratio=0.5, intensity=INTENSITY)
    with pytest.raises(InputError, match="spacing must be three positive"):
        save_model(tmp_path / "m.pt", trained_net, degradation={}, spacing=(1, -1, 1),
                   ratio=1.0, intensity=INTENSITY)


def _payload(model_file) -> dict:
    return torch.load(model_file, weights_only=True)


def _write(path, obj):
    torch.save(obj, path)
    return path


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a napari-a2i3dem model file"):
        load_model(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError, match="not a napari-a2i3dem model file"):
        load_model(path)


def test_tiff_file(tmp_path):
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.zeros((3, 8, 8), np.uint8))
    with pytest.raises(ModelFileError, match="is a TIFF image, not a napari-a2i3dem model"):
        load_model(path)


def test_plain_tensor(tmp_path):
    path = _write(tmp_path / "t.pt", torch.zeros(3))
    with pytest.raises(ModelFileError, match="holds a Tensor, not a napari-a2i3dem model"):
        load_model(path)


def test_bare_state_dict(tmp_path, trained_net):
    path = _write(tmp_path / "sd.pt", trained_net.state_dict())
    with pytest.raises(ModelFileError, match="bare state_dict"):
        load_model(path)


def test_pickled_module_is_refused(tmp_path, trained_net):
    path = tmp_path / "pickled.pt"
    torch.save(trained_net, path)  # a whole pickled class: weights_only refuses it
    with pytest.raises(ModelFileError, match="not a napari-a2i3dem model file"):
        load_model(path)


def test_newer_format_version(tmp_path, model_file):
    payload = _payload(model_file)
    payload["format_version"] = FORMAT_VERSION + 1
    payload["package_version"] = "9.0.0"
    path = _write(tmp_path / "future.pt", payload)
    with pytest.raises(ModelFileError, match=r"newer napari-a2i3dem \(9\.0\.0.*please upgrade"):
        load_model(path)


def test_damaged_format_version(tmp_path, model_file):
    payload = _payload(model_file)
    payload["format_version"] = "one"
    with pytest.raises(ModelFileError, match="no valid format_version"):
        load_model(_write(tmp_path / "bad.pt", payload))


def test_checkpoint_like_dict_with_missing_keys(tmp_path, model_file):
    payload = _payload(model_file)
    del payload["intensity"], payload["ratio"]
    with pytest.raises(ModelFileError, match="missing ratio, intensity"):
        load_model(_write(tmp_path / "ckpt.pt", payload))


def test_mismatched_weights(tmp_path, model_file):
    payload = _payload(model_file)
    payload["network"] = {**payload["network"], "channels": 16, "bottleneck_heads": 4}
    with pytest.raises(ModelFileError, match=r"weights do not match.*wrong shape"):
        load_model(_write(tmp_path / "mismatch.pt", payload))
    payload = _payload(model_file)
    payload["state_dict"].pop("output_projection.bias")
    with pytest.raises(ModelFileError, match=r"missing: output_projection\.bias"):
        load_model(_write(tmp_path / "missing.pt", payload))


def test_invalid_network_config(tmp_path, model_file):
    payload = _payload(model_file)
    payload["network"] = {**payload["network"], "heads": [3]}
    with pytest.raises(ModelFileError, match="cannot be split into 3 heads"):
        load_model(_write(tmp_path / "cfg.pt", payload))


def test_invalid_settings(tmp_path, model_file):
    payload = _payload(model_file)
    payload["ratio"] = 0.2
    payload["intensity"] = {"low": 5.0, "high": 5.0}
    payload["spacing"] = [1.0, 2.0]
    with pytest.raises(ModelFileError, match=r"invalid settings: spacing.*ratio.*intensity"):
        load_model(_write(tmp_path / "settings.pt", payload))


def test_non_finite_weights(tmp_path, model_file):
    payload = _payload(model_file)
    payload["state_dict"]["output_projection.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(ModelFileError, match=r"NaN or infinite.*diverged"):
        load_model(_write(tmp_path / "nan.pt", payload))


def test_description_says_when_a_model_predates_the_section_map(tmp_path, model_file):
    from napari_a2i3dem.core.model import describe_model

    old = describe_model(load_model(model_file))  # CONFIG: no section map, like files before it
    assert "ρ = 3" in old and "trained without the section map" in old
    torch.manual_seed(0)
    current = save_model(tmp_path / "new.pt", A2I3DEMNet(CONFIG.with_changes(section_input=True)),
                         degradation=DEGRADATION, spacing=(45.0, 15.0, 15.0), ratio=3.0,
                         intensity=INTENSITY)
    assert "section map" not in describe_model(load_model(current))
