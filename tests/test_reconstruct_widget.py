"""The Reconstruct widget streams the volume into napari and compares it with cubic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_a2i3dem.core.model import A2I3DEMNet, load_model, preset, save_model
from napari_a2i3dem.core.reconstruction import cubic_upsample_stack, reconstruct_volume
from napari_a2i3dem.widgets._shared import StackSettings, plugin_state
from napari_a2i3dem.widgets.reconstruct import FILE_TARGET, ReconstructWidget, viewer_grid

SETTINGS = {"tile": 32, "overlap": 8, "batch": 16}


@pytest.fixture
def model_file(tmp_path):
    torch.manual_seed(0)
    net = A2I3DEMNet(preset("tiny"))
    with torch.no_grad():  # a visible correction, so the output differs from cubic
        net.output_projection.weight.mul_(50.0)
    return save_model(tmp_path / "model.pt", net, degradation={}, spacing=(30.0, 10.0, 10.0),
                      ratio=3.0, intensity={"low": 0.0, "high": 255.0})


@pytest.fixture
def stack(rng) -> np.ndarray:
    return rng.integers(0, 256, size=(4, 64, 32), dtype=np.uint8)


def _widget(viewer, stack, model_file) -> ReconstructWidget:
    viewer.add_image(stack, name="em", scale=(30.0, 10.0, 10.0))
    widget = ReconstructWidget(viewer)
    plugin_state(viewer).set_stack(StackSettings("em", (30.0, 10.0, 10.0)))
    plugin_state(viewer).set_model(model_file)
    widget.tile_spin.setValue(SETTINGS["tile"])
    widget.overlap_spin.setValue(SETTINGS["overlap"])
    widget.batch_spin.setValue(SETTINGS["batch"])
    widget.device_combo.setCurrentText("cpu")
    return widget


def _run(widget, qtbot, timeout=60_000) -> None:
    assert widget.run(), widget.status.text()
    qtbot.waitUntil(lambda: not widget.is_running, timeout=timeout)


def test_volume_streams_into_the_layer(make_napari_viewer, qtbot, stack, model_file):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    assert widget.model_edit.text() == str(model_file)
    assert widget.layer_combo.currentText() == "em"
    assert widget.ratio_spin.value() == pytest.approx(3.0)
    viewer.dims.ndisplay = 3  # every slab is visible: each one must refresh the layer

    snapshots = []

    def snapshot(rows):
        data = widget.output_layer.data
        snapshots.append((rows, bool(data[:, rows].any()), bool(data[:, rows.stop:].any())))

    assert widget.run(), widget.status.text()
    widget.worker.yielded.connect(snapshot)
    layer = widget.output_layer
    assert layer.data.shape == (12, 64, 32) and not layer.data.any()  # there from the start
    qtbot.waitUntil(lambda: not widget.is_running, timeout=60_000)

    assert widget.status.text().startswith("done"), widget.status.text()
    assert widget.output_layer is layer and widget.refreshes == len(snapshots) > 1
    assert snapshots[0][1] and not snapshots[0][2]  # filled up to the slab, empty after it
    np.testing.assert_allclose(layer.scale, (10.0, 10.0, 10.0))
    expected, _ = reconstruct_volume(stack, load_model(model_file), 3.0, **SETTINGS)
    assert np.abs(layer.data.astype(int) - expected).max() <= 1
    cubic = widget.cubic_layer
    np.testing.assert_array_equal(cubic.data, cubic_upsample_stack(stack, 3.0))
    np.testing.assert_allclose(cubic.scale, layer.scale)
    assert np.abs(layer.data.astype(int) - cubic.data).mean() > 0.5
    assert widget.confidence_layer.data.max() > 0


def test_compare_lays_layers_side_by_side(make_napari_viewer, qtbot, stack, model_file):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    _run(widget, qtbot)
    source = viewer.layers["em"]
    widget.compare_button.setChecked(True)
    out, cubic = widget.output_layer, widget.cubic_layer
    grid = viewer_grid(viewer)
    assert grid.enabled and tuple(grid.shape) == (1, 2)
    assert out.visible and cubic.visible and not source.visible
    layers = list(viewer.layers)
    positions = {grid.position(layers.index(lay), layers) for lay in (cubic, out)}
    assert positions == {(0, 0), (0, 1)}
    assert grid.position(layers.index(cubic), layers) == (0, 0)
    out.contrast_limits = (20.0, 120.0)
    assert tuple(cubic.contrast_limits) == (20.0, 120.0)
    cubic.gamma = 0.7
    assert out.gamma == pytest.approx(0.7)

    widget.compare_button.setChecked(False)
    assert not grid.enabled and source.visible
    out.contrast_limits = (0.0, 255.0)
    assert tuple(cubic.contrast_limits) == (20.0, 120.0)  # unlinked again

    widget.show_confidence.setChecked(True)
    widget.compare_button.setChecked(True)
    assert tuple(grid.shape) == (1, 3) and widget.confidence_layer.visible
    widget.compare_button.setChecked(False)

    ortho = widget.open_orthoviews()
    assert widget.open_orthoviews() is ortho
    assert [lay.name for lay in ortho.views.models["xz"].layers][:-1] == [
        lay.name for lay in viewer.layers]


def test_stop_keeps_a_partial_layer(make_napari_viewer, qtbot, stack, model_file):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    widget.batch_spin.setValue(1)
    assert widget.run()
    widget.worker.yielded.connect(lambda _rows: widget.stop())
    qtbot.waitUntil(lambda: not widget.is_running, timeout=60_000)
    assert widget.status.text() == "stopped"
    assert widget.output_layer.name.endswith("(partial)")
    assert not widget.output_layer.data[:, -8:].any()


def test_zarr_target_becomes_the_layer(make_napari_viewer, qtbot, stack, model_file, tmp_path):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    widget.target_combo.setCurrentText(FILE_TARGET)
    widget.path_edit.setText(str(tmp_path / "iso.zarr"))
    _run(widget, qtbot)
    assert widget.status.text().startswith("done"), widget.status.text()
    assert (tmp_path / "iso.zarr" / "zarr.json").exists()
    assert type(widget.output_layer.data).__module__.startswith("zarr")
    assert np.asarray(widget.output_layer.data[:]).any()


def test_bad_inputs_are_reported(make_napari_viewer, stack, model_file, tmp_path):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    widget.model_edit.setText("")
    assert not widget.run() and "no model" in widget.status.text()
    widget.model_edit.setText(str(tmp_path / "missing.pt"))
    assert not widget.run() and "cannot run" in widget.status.text()
    widget.model_edit.setText(str(model_file))
    widget.target_combo.setCurrentText(FILE_TARGET)
    widget.path_edit.setText(str(tmp_path / "iso.png"))
    assert not widget.run() and ".zarr" in widget.status.text()
    assert widget.output_layer is None and len(viewer.layers) == 1
