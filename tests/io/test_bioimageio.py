"""BioImage Model Zoo packages: exported, validated by bioimageio.spec, reproduced by
bioimageio.core, and read back by our own reconstruction."""

from __future__ import annotations

import io
import json
import sys
import zipfile

import numpy as np
import pytest
import torch

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.inference.reconstruction import reconstruct_volume
from napari_a2i3dem.core.io import bioimageio as bmz
from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.model import A2I3DEMNet, load_model, preset, save_model
from napari_a2i3dem.core.physics.sample import SAMPLE_SPACING, make_sample_stack

pytest.importorskip("bioimageio.spec")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bmz")
    torch.manual_seed(0)
    net = A2I3DEMNet(preset("tiny"))
    with torch.no_grad():  # a visible correction, so the network is not the identity
        net.output_projection.weight.mul_(20.0)
    stack, _ = make_sample_stack()
    model = save_model(folder / "model.pt", net, degradation={"profile": {"kind": "box"}},
                       spacing=SAMPLE_SPACING, ratio=3.0,
                       intensity={"low": 10.0, "high": 240.0}, extra={"steps": 5})
    package = bmz.export_bioimageio(model, folder / "model.zip", stack, author="tests")
    return folder, model, package, stack


def test_package_validates_and_carries_what_the_model_knows(trained):
    from bioimageio.spec import load_description

    folder, _, package, _ = trained
    descr = load_description(package)
    assert descr.validation_summary.status == "valid-format", descr.validation_summary
    record = descr.config.model_extra[bmz.CONFIG_KEY]
    assert record["ratio"] == 3.0 and record["spacing_nm"] == list(SAMPLE_SPACING)
    assert record["degradation"] == {"profile": {"kind": "box"}}
    assert [str(axis.id) for axis in descr.inputs[0].axes] == ["batch", "channel", "y", "x"]
    (scaling,) = [step for step in descr.inputs[0].preprocessing if step.id == "scale_linear"]
    assert scaling.kwargs.gain == pytest.approx(1 / 230.0)  # IntensityScale(10, 240)
    assert scaling.kwargs.offset == pytest.approx(-10 / 230.0)
    # the preset's network also takes the section map: a second input of the plane's size
    assert [str(t.id) for t in descr.inputs] == ["input", "sections"]
    assert [str(axis.id) for axis in descr.inputs[1].axes] == ["batch", "channel", "y", "x"]
    names = set(zipfile.ZipFile(package).namelist())
    assert {"weights.pt", "test_input.npy", "test_sections.npy", "test_output.npy", "cover.png",
            "README.md"} <= names
    sections = np.load(io.BytesIO(zipfile.ZipFile(package).read("test_sections.npy")))
    assert sections.shape == np.load(
        io.BytesIO(zipfile.ZipFile(package).read("test_input.npy"))).shape
    assert sections.max() == pytest.approx(1.0) and sections.min() >= 0.0
    assert not [p for p in folder.iterdir() if p.name.startswith(".a2i3dem-bmz")]  # no leftovers


def test_bioimageio_core_reproduces_the_test_output(trained):
    core = pytest.importorskip("bioimageio.core")
    _, _, package, _ = trained
    summary = core.test_model(package)
    assert summary.status == "passed", summary.format()


def test_package_reconstructs_exactly_like_the_model_file(trained):
    _, model, package, stack = trained
    from_package, from_file = load_model(package), load_model(model)
    assert from_package.ratio == 3.0 and from_package.intensity == from_file.intensity
    small = stack[:, :64, :64]
    a, _ = reconstruct_volume(small, from_package, 3.0, tile=64, overlap=16, device="cpu")
    b, _ = reconstruct_volume(small, from_file, 3.0, tile=64, overlap=16, device="cpu")
    np.testing.assert_array_equal(a, b)


def test_cli_exports_and_reconstructs_from_the_package(trained, tmp_path, capsys):
    _, model, _, stack = trained
    stack_file = write_stack(tmp_path / "stack.tif", stack[:, :64, :64], SAMPLE_SPACING)
    package = tmp_path / "shared.zip"
    assert main(["export", str(model), "--stack", str(stack_file), "--out", str(package)]) == 0
    assert "validated" in capsys.readouterr().out
    out = tmp_path / "iso.tif"
    assert main(["reconstruct", str(stack_file), "--model", str(package), "--out", str(out),
                 "--tile", "64", "--overlap", "16", "--device", "cpu"]) == 0
    assert out.exists()


def test_bad_packages_get_one_clear_line(trained, tmp_path, monkeypatch, capsys):
    _, model, _, stack = trained
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a readable BioImage Model Zoo package"):
        load_model(corrupt)
    assert main(["reconstruct", str(tmp_path / "x.tif"), "--model", str(corrupt),
                 "--out", str(tmp_path / "o.tif")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    # a valid package of some other network: refused by name
    monkeypatch.setattr(bmz, "CONFIG_KEY", "another_tool")
    other = bmz.export_bioimageio(model, tmp_path / "other.zip", stack)
    monkeypatch.undo()
    with pytest.raises(InputError, match="another network"):
        load_model(other)
    with pytest.raises(InputError, match=r"must end in \.zip"):
        bmz.export_bioimageio(model, tmp_path / "model.tar", stack)
    with pytest.raises(InputError, match="3-D"):
        bmz.export_bioimageio(model, tmp_path / "flat.zip", stack[0])
    assert not (tmp_path / "flat.zip").exists()


def test_without_the_extra_the_message_says_what_to_install(trained, monkeypatch):
    _, model, _, stack = trained
    monkeypatch.setitem(sys.modules, "bioimageio.spec", None)
    with pytest.raises(InputError, match=r"napari-a2i3dem\[bioimageio\]"):
        bmz.export_bioimageio(model, model.with_suffix(".zip"), stack)


def test_documentation_explains_the_pipeline(trained):
    _, _, package, _ = trained
    readme = zipfile.ZipFile(package).read("README.md").decode()
    assert "every xz plane" in readme and "Average the two" in readme
    rdf = zipfile.ZipFile(package).read("rdf.yaml").decode()
    assert "2309.10646" in rdf and json is not None
