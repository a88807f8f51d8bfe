"""The Reconstruct widget streams the volume into napari and compares it with cubic."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_a2i3dem.core.inference.reconstruction import cubic_upsample_stack, reconstruct_volume
from napari_a2i3dem.core.inference.upsampled_view import UpsampledView
from napari_a2i3dem.core.model import A2I3DEMNet, load_model, preset, save_model
from napari_a2i3dem.widgets import reconstruct as reconstruct_widget
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
    viewer.dims.ndisplay = 3  # every piece is visible: the layer must be refreshed
    added = []
    viewer.layers.events.inserted.connect(lambda event: added.append(event.value.name))
    messages = []
    layers_before_piece = []

    def record(message):
        if message[0] == "piece":
            layers_before_piece.append(widget.confidence_layer is not None)
            data = widget.output_layer.data
            _, planes, rows, final = message
            messages.append((rows, final, bool(data[planes, rows].any())))
        else:
            messages.append(message[0])

    assert widget.run(), widget.status.text()
    assert widget.output_layer is None  # everything slow happens in the worker
    widget.worker.yielded.connect(record)
    qtbot.waitUntil(lambda: widget.output_layer is not None, timeout=30_000)
    layer = widget.output_layer
    assert layer.colormap.name == "gray (unfinished transparent)"  # the cubic shows through
    assert widget.cubic_layer.opacity < 1.0
    qtbot.waitUntil(lambda: not widget.is_running, timeout=60_000)

    assert widget.status.text().startswith("done"), widget.status.text()
    # cubic first, the output before its hidden companion (one new layer per event-loop turn),
    # and the output on top of both
    assert added[:2] == ["em cubic", "em A2I-3DEM"]
    names = [layer.name for layer in viewer.layers]
    assert names[-1] == "em A2I-3DEM"
    assert names.index("em cubic") < names.index("em A2I-3DEM")
    assert messages[:2] == ["cubic", "target"]
    assert all(layers_before_piece)  # the network waited until napari had made both layers
    pieces = messages[2:]
    assert len(pieces) > 4 and all(filled for *_, filled in pieces)  # each one written
    final = [rows for rows, is_final, _ in pieces if is_final]
    assert max(rows.stop - rows.start for rows in final) <= SETTINGS["batch"]  # a few planes
    assert len(final) < len(pieces)  # early yz-only columns came first
    assert sorted(r for rows in final for r in range(rows.start, rows.stop)) == list(range(64))
    assert widget.output_layer is layer and widget.refreshes >= 1
    assert layer.colormap.name == "gray" and widget.cubic_layer.opacity == 1.0
    np.testing.assert_allclose(layer.scale, (10.0, 10.0, 10.0))
    expected, _ = reconstruct_volume(stack, load_model(model_file), 3.0, **SETTINGS)
    assert np.abs(layer.data.astype(int) - expected).max() <= 1
    cubic = widget.cubic_layer
    np.testing.assert_array_equal(cubic.data, cubic_upsample_stack(stack, 3.0))
    np.testing.assert_allclose(cubic.scale, layer.scale)
    assert np.abs(layer.data.astype(int) - cubic.data).mean() > 0.5
    assert widget.confidence_layer.data.max() > 0
    assert str(widget.worker_description) == "A2I-3DEM reconstruction of 'em'"


def test_large_cubic_reference_is_computed_per_plane_shown(make_napari_viewer, qtbot, stack,
                                                          model_file, monkeypatch):
    # above the in-memory limit the cubic layer computes only the plane napari shows: a dask
    # volume chunked in y/x computed every plane of its chunks on the GUI thread instead
    monkeypatch.setattr(reconstruct_widget, "EAGER_CUBIC_VOXELS", 0)
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    _run(widget, qtbot)
    cubic = widget.cubic_layer
    assert isinstance(cubic.data, UpsampledView)
    expected = cubic_upsample_stack(stack, 3.0)
    viewer.dims.set_point(0, cubic.data_to_world((5, 0, 0))[0])
    shown = np.asarray(cubic._slice.image.raw)
    assert shown.shape == expected.shape[1:]
    assert np.abs(shown.astype(int) - expected[5]).max() <= 1


def test_worker_waits_for_each_layer_to_be_shown(make_napari_viewer, stack, model_file):
    # one new layer per event-loop turn, made while the CPU is idle: on two cores the network's
    # threads tripled napari's set-up of a layer, and two layers in one turn froze the window
    from napari_a2i3dem.core.errors import Cancelled

    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    request = widget._request()
    request.pop("layer")
    shown = request["layers_shown"]
    job = reconstruct_widget._reconstruction_job(request, widget)
    assert next(job)[0] == "cubic"
    assert _next_after(job, shown)[0] == "target"  # not before the cubic layer is shown
    assert _next_after(job, shown)[0] == "piece"  # no network before the output layers exist
    job.close()

    request = widget._request()
    request.pop("layer")
    job = reconstruct_widget._reconstruction_job(request, widget)
    next(job)
    assert isinstance(_next_after(job, request["cancel"]), Cancelled)  # Stop ends the wait


def _next_after(job, event):
    """``next(job)``, checking that it waits until ``event`` is set."""
    import threading

    outcome = []

    def step():
        try:
            outcome.append(next(job))
        except Exception as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=step)
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive() and not outcome
    event.set()
    waiter.join(30)
    return outcome[0]


def test_preview_plane_matches_the_xz_pass(make_napari_viewer, qtbot, stack, model_file):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    assert widget.preview_row_spin.value() == 32  # the middle row
    widget.preview_row_spin.setValue(40)
    assert widget.preview_plane()
    qtbot.waitUntil(lambda: widget.preview_worker is None, timeout=30_000)
    cubic, network = widget.preview_strip.images
    expected, _ = reconstruct_volume(stack, load_model(model_file), 3.0, fusion="xz",
                                     **SETTINGS)
    np.testing.assert_array_equal(network, expected[:, 40])
    np.testing.assert_array_equal(cubic, cubic_upsample_stack(stack, 3.0)[:, 40])
    assert widget.preview_strip.isVisibleTo(widget)
    assert len(viewer.layers) == 1  # a preview adds no layer


def test_model_ratio_is_shown_and_checked(make_napari_viewer, qtbot, stack, model_file):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    qtbot.waitUntil(lambda: widget.model_ratio is not None, timeout=10_000)
    assert "trained for ρ = 3" in widget.model_info.text()
    assert "Warning" not in widget.model_info.text()
    plugin_state(viewer).set_stack(StackSettings("em", (50.0, 10.0, 10.0)))  # now rho = 5
    assert widget.ratio_spin.value() == pytest.approx(5.0)
    assert "Warning: the stack's spacing gives ρ = 5" in widget.model_info.text()
    assert "learned ρ = 3" in widget.model_info.text()
    assert "e0504d" in widget.model_info.styleSheet()


def test_compare_lays_layers_side_by_side(make_napari_viewer, qtbot, stack, model_file):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    _run(widget, qtbot)
    source = viewer.layers["em"]
    camera = (tuple(viewer.camera.center), viewer.camera.zoom)
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

    assert out.name_overlay.visible and cubic.name_overlay.visible  # labelled panels
    widget.compare_button.setChecked(False)
    assert not grid.enabled and source.visible
    assert not out.name_overlay.visible
    assert tuple(viewer.camera.center) == pytest.approx(camera[0]) and \
        viewer.camera.zoom == pytest.approx(camera[1])  # the camera is back
    out.contrast_limits = (0.0, 255.0)
    assert tuple(cubic.contrast_limits) == (20.0, 120.0)  # unlinked again

    widget.show_confidence.setChecked(True)
    widget.compare_button.setChecked(True)
    assert tuple(grid.shape) == (1, 3) and widget.confidence_layer.visible
    widget.compare_button.setChecked(False)

    ortho = widget.open_orthoviews()
    assert widget.open_orthoviews() is ortho
    qtbot.waitUntil(lambda: ortho.ready, timeout=10_000)  # built over several event-loop turns
    assert [lay.name for lay in ortho.views.models["xz"].layers][:-1] == [
        lay.name for lay in viewer.layers]


def test_stop_keeps_a_partial_layer(make_napari_viewer, qtbot, stack, model_file):
    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    widget.batch_spin.setValue(1)
    assert widget.run()
    widget.worker.yielded.connect(lambda message: message[0] == "piece" and widget.stop())
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
    assert not widget.run() and "does not exist" in widget.status.text()
    widget.model_edit.setText(str(model_file))
    widget.target_combo.setCurrentText(FILE_TARGET)
    widget.path_edit.setText(str(tmp_path / "iso.png"))
    assert not widget.run() and ".zarr" in widget.status.text()
    assert widget.output_layer is None and len(viewer.layers) == 1


def test_an_existing_output_is_replaced_only_when_the_user_says_so(make_napari_viewer, qtbot,
                                                                   stack, model_file, tmp_path,
                                                                   monkeypatch):
    from qtpy.QtWidgets import QMessageBox

    viewer = make_napari_viewer()
    widget = _widget(viewer, stack, model_file)
    existing = tmp_path / "iso.tif"
    existing.write_bytes(b"mine")
    widget.target_combo.setCurrentText(FILE_TARGET)
    widget.path_edit.setText(str(existing))
    asked = []

    def answer(choice):
        return lambda *args: asked.append(args[2]) or choice

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert not widget.run()
    assert str(existing) in asked[0] and "left as it is" in widget.status.text()
    assert existing.read_bytes() == b"mine" and widget.output_layer is None
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    _run(widget, qtbot)
    assert widget.status.text().startswith("done"), widget.status.text()
    assert len(asked) == 2 and existing.read_bytes() != b"mine"


def test_a_larger_tile_is_offered_when_the_default_wastes_work(make_napari_viewer, model_file):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((30, 512, 512), np.uint8), name="isbi", scale=(50.0, 4.0, 4.0))
    widget = ReconstructWidget(viewer)
    widget.layer_combo.setCurrentText("isbi")
    assert widget.ratio_spin.value() == pytest.approx(12.5)
    assert not widget.tile_hint_box.isHidden()
    assert "computes 1.34x this volume's voxels" in widget.tile_hint.text()
    assert "4.5x the memory per tile" in widget.tile_hint.text()  # 375 x 512 vs 224 x 192
    assert widget.tile_hint_button.text() == "Use tile 512"
    widget.tile_hint_button.click()
    assert widget.tile_spin.value() == 512
    assert widget.tile_hint_box.isHidden()  # one tile per axis now: nothing to offer
    viewer.add_image(np.zeros((8, 64, 64), np.uint8), name="small", scale=(30.0, 10.0, 10.0))
    widget.layer_combo.setCurrentText("small")
    assert widget.tile_hint_box.isHidden()
