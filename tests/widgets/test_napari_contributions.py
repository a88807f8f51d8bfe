"""The npe2 manifest, reader, writer and sample data work in a real napari viewer."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import tifffile

import napari_a2i3dem
from napari_a2i3dem import _reader
from napari_a2i3dem.core.io.tiff import read_stack
from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.physics.sample import make_sample_stack

PLUGIN = "napari-a2i3dem"
OWN_COMMANDS = {
    "napari-a2i3dem.get_reader": "napari_a2i3dem._reader:get_reader",
    "napari-a2i3dem.write_image": "napari_a2i3dem._writer:write_image",
    "napari-a2i3dem.make_sample_stack": "napari_a2i3dem._sample_data:make_sample_stack",
    "napari-a2i3dem.workflow_widget": "napari_a2i3dem.widgets.workflow:WorkflowWidget",
    "napari-a2i3dem.load_widget": "napari_a2i3dem.widgets._deferred:LoadDock",
    "napari-a2i3dem.train_widget": "napari_a2i3dem.widgets._deferred:TrainDock",
}


@pytest.fixture
def notes(monkeypatch) -> list[str]:
    """Notifications the reader shows (info and warning)."""
    shown: list[str] = []
    monkeypatch.setattr(_reader, "show_info", lambda text: shown.append(text))
    monkeypatch.setattr(_reader, "show_warning", lambda text: shown.append(text))
    return shown


# ------------------------------------------------------------------------------ manifest

def test_installed_entry_point_serves_the_package_manifest():
    (point,) = [p for p in entry_points(group="napari.manifest") if p.name == PLUGIN]
    assert point.value == "napari_a2i3dem:napari.yaml"
    packaged = Path(napari_a2i3dem.__file__).with_name("napari.yaml")
    assert packaged.is_file()
    root = Path(__file__).resolve().parents[2] / "napari.yaml"
    if root.exists():  # repository checkout: the root file is the same manifest
        assert root.read_text() == packaged.read_text()


def test_manifest_is_valid_and_our_commands_import():
    from npe2 import PluginManifest
    from npe2.manifest.utils import import_python_name

    manifest = PluginManifest.from_distribution(PLUGIN)  # pydantic-validated on load
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    for command, python_name in OWN_COMMANDS.items():
        assert commands[command] == python_name
        assert callable(import_python_name(python_name))
    assert [r.command for r in manifest.contributions.readers] == ["napari-a2i3dem.get_reader"]
    assert manifest.contributions.sample_data[0].key == "anisotropic_em"


def test_widget_commands_import_neither_torch_nor_matplotlib():
    """npe2 imports a widget's module on the GUI thread: it must be light (the heavy modules
    are imported in a worker by the deferred docks)."""
    code = ("import sys, napari_a2i3dem.widgets.workflow, napari_a2i3dem.widgets._deferred; "
            "print(sorted(m for m in ('torch', 'matplotlib', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_npe2_validate_command_line_passes():
    npe2 = Path(sys.executable).with_name("npe2")
    if not npe2.exists():
        pytest.skip("npe2 command line not installed next to this Python")
    result = subprocess.run([str(npe2), "validate", PLUGIN], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout.lower()


# ------------------------------------------------------------------------------ reader

def test_viewer_opens_stack_with_spacing_as_scale(make_napari_viewer, tmp_path, notes):
    data = make_sample_stack()[0][:8]
    path = write_stack(tmp_path / "em.tif", data, (50.0, 4.6, 4.6))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.name == "em"
    np.testing.assert_allclose(layer.scale, (50.0, 4.6, 4.6), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(layer.data), data)
    assert layer.metadata["source_path"] == str(path)
    np.testing.assert_allclose(layer.metadata["spacing"], (50.0, 4.6, 4.6), rtol=1e-6)
    assert notes == []  # nothing to warn about


def test_large_file_opens_lazily_in_the_viewer(make_napari_viewer, tmp_path, monkeypatch):
    path = write_stack(tmp_path / "big.tif", make_sample_stack()[0], (45.0, 15.0, 15.0))
    monkeypatch.setenv("A2I3DEM_LAZY_FRACTION", "1e-12")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert isinstance(layer.data, da.Array) and layer.metadata["lazy"]
    np.testing.assert_allclose(layer.scale, (45.0, 15.0, 15.0))


def test_non_volumes_open_unchanged_with_a_notification(make_napari_viewer, tmp_path, notes):
    viewer = make_napari_viewer()
    plane = tmp_path / "plane.tif"
    write_stack(plane, np.arange(64 * 48, dtype=np.uint16).reshape(64, 48), (1.0, 5.0, 5.0))
    (layer,) = viewer.open(plane, plugin=PLUGIN)
    assert layer.ndim == 2 and layer.data.shape == (64, 48)
    np.testing.assert_allclose(layer.scale, (5.0, 5.0))
    assert "2-D image" in notes[-1] and "ordinary layer" in notes[-1]

    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((32, 32, 3), np.uint8), photometric="rgb")
    (layer,) = viewer.open(rgb, plugin=PLUGIN)
    assert layer.rgb
    assert "RGB" in notes[-1]

    hyper = tmp_path / "hyper.tif"
    tifffile.imwrite(hyper, np.zeros((2, 3, 32, 32), np.uint8), photometric="minisblack")
    (layer,) = viewer.open(hyper, plugin=PLUGIN)
    assert layer.data.shape == (2, 3, 32, 32)
    assert "4-D" in notes[-1]


def test_stack_with_nan_keeps_its_spacing_and_gets_a_warning(make_napari_viewer, tmp_path,
                                                             notes):
    data = np.ones((4, 32, 32), np.float32)
    data[1, 1, 1] = np.nan
    path = write_stack(tmp_path / "holes.tif", data, (30.0, 10.0, 10.0))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    np.testing.assert_allclose(layer.scale, (30.0, 10.0, 10.0))
    assert "NaN" in notes[0] and "will refuse it" in notes[0]


def test_stack_with_tiny_planes_is_opened_with_what_is_wrong(make_napari_viewer, tmp_path,
                                                             notes):
    """Not NaN, so nothing to 'replace': the warning says what is wrong and what follows."""
    path = write_stack(tmp_path / "thin.tif", np.zeros((4, 4, 32), np.uint8), (30.0, 10.0, 10.0))
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert layer.data.shape == (4, 4, 32)
    assert "too small (4 x 32)" in notes[0] and "replace" not in notes[0]
    assert "opened for viewing" in notes[0]


def test_file_without_spacing_opens_and_says_so(make_napari_viewer, tmp_path, notes):
    path = write_stack(tmp_path / "bare.tif", np.zeros((4, 32, 32), np.uint8), None)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path, plugin=PLUGIN)
    assert tuple(layer.scale) == (1.0, 1.0, 1.0)
    assert "no voxel spacing" in notes[-1]


def test_unreadable_files_give_a_notification_not_a_traceback(make_napari_viewer, tmp_path,
                                                              notes):
    broken = tmp_path / "broken.tif"
    broken.write_text("not an image")
    reader = _reader.get_reader(str(broken))
    assert reader is not None and not notes  # claims the file, says why when asked to read it
    assert reader(str(broken)) == _reader.NO_LAYER  # napari's "nothing to add", no error
    assert "broken.tif" in notes[-1] and "not a valid TIFF" in notes[-1]
    assert _reader.read_tiff(str(tmp_path / "gone.tif")) == _reader.NO_LAYER
    assert "no such file" in notes[-1]
    # in a viewer: one notification, no layer, no "no reader" error raised
    viewer = make_napari_viewer()
    assert viewer.open(str(broken), plugin=PLUGIN) == []
    assert len(viewer.layers) == 0 and "not a valid TIFF" in notes[-1]


def test_reader_declines_other_files(tmp_path):
    assert _reader.get_reader(str(tmp_path / "image.png")) is None
    assert _reader.get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) is None


# ------------------------------------------------------------------------------ writer

def test_writer_round_trip_through_napari(make_napari_viewer, tmp_path):
    data = make_sample_stack()[0][:6]
    viewer = make_napari_viewer()
    layer = viewer.add_image(data, scale=(45.0, 15.0, 15.0), name="stack")
    out = tmp_path / "saved.tif"
    written = layer.save(str(out), plugin=PLUGIN)
    assert [Path(p) for p in written] == [out]
    loaded = read_stack(out)
    np.testing.assert_array_equal(loaded.data, data)
    assert loaded.spacing == pytest.approx((45.0, 15.0, 15.0), rel=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved.tif"]


def test_writer_keeps_lazy_layers_lazy_and_refuses_their_source(make_napari_viewer, tmp_path,
                                                                monkeypatch):
    from napari_a2i3dem import _writer

    refusals: list[str] = []
    monkeypatch.setattr(_writer, "show_warning", refusals.append)
    source = write_stack(tmp_path / "in.tif", make_sample_stack()[0][:5], (45.0, 15.0, 15.0))
    before = source.read_bytes()
    monkeypatch.setenv("A2I3DEM_LAZY_FRACTION", "1e-12")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(source, plugin=PLUGIN)
    with pytest.warns(UserWarning, match="did not return any written paths"):
        assert layer.save(str(source), plugin=PLUGIN) == []
    assert "not saved" in refusals[-1] and "refusing to write" in refusals[-1]
    assert source.read_bytes() == before
    layer.scale = (60.0, 15.0, 15.0)  # corrected in the viewer: the writer uses the scale
    out = tmp_path / "copy.tif"
    layer.save(str(out), plugin=PLUGIN)
    assert isinstance(layer.data, da.Array)
    assert read_stack(out).spacing == pytest.approx((60.0, 15.0, 15.0), rel=1e-6)


def test_writer_leaves_uncalibrated_layers_uncalibrated(tmp_path):
    from napari_a2i3dem._writer import write_image

    (path,) = write_image(str(tmp_path / "u.tif"), np.zeros((3, 16, 16), np.uint8),
                          {"scale": (1.0, 1.0, 1.0), "metadata": {}})
    assert read_stack(path).spacing is None


def test_writer_refuses_rgb_with_a_reason(tmp_path, monkeypatch):
    from napari_a2i3dem import _writer

    refusals: list[str] = []
    monkeypatch.setattr(_writer, "show_warning", refusals.append)
    assert _writer.write_image(str(tmp_path / "c.tif"), np.zeros((16, 16, 3), np.uint8),
                               {"rgb": True, "scale": (1.0, 1.0)}) == []
    assert "grey images only" in refusals[-1]
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ sample data

def test_sample_data_contribution(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "anisotropic_em")
    (layer,) = viewer.layers
    assert layer.data.shape == (32, 256, 256) and layer.data.dtype == np.uint8
    np.testing.assert_allclose(layer.scale, (45.0, 15.0, 15.0))
    assert layer.metadata["spacing"] == (45.0, 15.0, 15.0)
    np.testing.assert_array_equal(layer.data, make_sample_stack()[0])


def test_opening_a_small_tiff_imports_no_dask_array(tmp_path):
    """napari runs the reader on its GUI thread: a stack that fits in memory is read directly,
    without dask.array (0.5 s to import, with pandas and xarray behind it)."""
    from napari_a2i3dem.core.io.tiff_writer import write_stack

    path = tmp_path / "small.tif"
    write_stack(path, np.zeros((4, 32, 32), np.uint8), (40.0, 4.0, 4.0))
    code = ("import sys; from napari_a2i3dem._reader import get_reader; "
            f"layers = get_reader({str(path)!r})({str(path)!r}); "
            "print(layers[0][0].shape, 'dask.array' in sys.modules, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "(4, 32, 32) False False", result.stdout + result.stderr
