"""The Train widget: background training with live progress, Stop / Pause, clean shutdown."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import QTimer

from napari_a2i3dem.core.physics.degradations import DegradationConfig
from napari_a2i3dem.core.physics.sample import make_sample_stack
from napari_a2i3dem.core.training.config import TrainConfig
from napari_a2i3dem.widgets._shared import StackSettings, plugin_state
from napari_a2i3dem.widgets.train import PREVIEW_LAYER, TrainWidget, format_duration

LONG_RUN = dict(preset="tiny", steps=100_000, batch_size=2, patch_size=32, validation_count=4,
                validation_every=2, preview_every=2, checkpoint_every=1000, device="cpu",
                preview_max_size=64, threads=1)
TIMEOUT_MS = 120_000


@pytest.fixture
def viewer_with_stack(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    stack, spacing = make_sample_stack()
    viewer.add_image(np.ascontiguousarray(stack[:, :96, :96]), name="em", scale=spacing)
    plugin_state(viewer).set_stack(StackSettings("em", spacing))
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget.output_edit.setText(str(tmp_path))
    yield viewer, widget
    widget.shutdown(timeout=60)


def test_defaults_come_from_the_chosen_stack(viewer_with_stack):
    viewer, widget = viewer_with_stack
    assert widget.layer_combo.currentText() == "em"
    assert widget.ratio_spin.value() == pytest.approx(3.0)
    viewer.add_image(np.zeros((5, 64, 64), np.uint8), name="other", scale=(50, 10, 10))
    widget.layer_combo.setCurrentText("other")
    assert widget.ratio_spin.value() == pytest.approx(5.0)


def test_degradation_comes_from_the_training_pairs_widget(viewer_with_stack):
    viewer, widget = viewer_with_stack
    # Nothing published by Training pairs: the trainer calibrates to the stack when it starts.
    assert widget.make_trainer(TrainConfig(**LONG_RUN)).degradation is None
    assert "calibrated to the stack" in widget.degradation_label.text()
    clean = DegradationConfig.clean()
    plugin_state(viewer).extra["degradation"] = clean.to_dict()
    assert widget.make_trainer(TrainConfig(**LONG_RUN)).degradation == clean
    assert "(Training pairs)" in widget.degradation_label.text()
    plugin_state(viewer).extra["degradation"] = {"noise": {"kind": "sparkles"}}
    assert not widget.start(TrainConfig(**LONG_RUN))
    assert "Training pairs settings cannot be used" in widget.status_label.text()
    assert widget._run is None


def test_training_runs_in_the_background_and_stops(viewer_with_stack, qtbot, tmp_path):
    viewer, widget = viewer_with_stack
    assert widget.start(TrainConfig(**LONG_RUN))
    assert not widget.start_button.isEnabled() and widget.stop_button.isEnabled()

    # the GUI thread keeps processing events while the worker trains
    seen = {}

    def change_dims() -> None:
        viewer.dims.set_current_step(0, 5)
        seen["while_training"] = widget.is_running

    QTimer.singleShot(0, change_dims)
    qtbot.waitUntil(lambda: widget.progress.value() >= 4, timeout=TIMEOUT_MS)
    assert seen == {"while_training": True}
    assert viewer.dims.current_step[0] == 5
    assert "ETA" in widget.progress.format()
    # the preview is shown in the widget (cubic | network), not as a layer, by default
    qtbot.waitUntil(lambda: widget.preview_strip.images[1] is not None, timeout=TIMEOUT_MS)
    assert PREVIEW_LAYER not in viewer.layers
    cubic, network = widget.preview_strip.images
    assert cubic.shape == network.shape == (64, 64)
    widget.preview_as_layer.setChecked(True)
    qtbot.waitUntil(lambda: len(widget.plot.validation) >= 1 and PREVIEW_LAYER in viewer.layers,
                    timeout=TIMEOUT_MS)
    assert len(widget.plot.losses) >= 4
    qtbot.waitUntil(lambda: widget.plot.renders >= 2, timeout=TIMEOUT_MS)
    # drawn in the plot's worker thread; read its lines once no update is pending (at 20 steps/s
    # the plot is almost never idle while training runs, so pause it for the look)
    widget.pause_button.click()
    qtbot.waitUntil(lambda: "paused" in widget.progress.format() and not widget.plot.busy,
                    timeout=TIMEOUT_MS)
    assert widget.plot.loss_line.get_xdata()[0] == 1
    widget.pause_button.click()
    preview = viewer.layers[PREVIEW_LAYER]
    assert preview.data.shape == (64, 64)
    # isotropic pixels at the stack's x spacing, just below the stack (seen with it)
    assert tuple(preview.scale) == (15.0, 15.0)
    assert preview.translate[-2] > 96 * 15.0 and preview.translate[-1] == 0.0
    assert preview.metadata["a2i3dem_role"] == "helper"
    assert viewer.layers.selection.active.name == "em"
    first = preview.data.copy()
    qtbot.waitUntil(lambda: not np.array_equal(viewer.layers[PREVIEW_LAYER].data, first),
                    timeout=TIMEOUT_MS)
    assert viewer.layers[PREVIEW_LAYER] is preview  # updated in place, not re-added

    widget.stop()
    qtbot.waitUntil(lambda: widget.start_button.isEnabled(), timeout=TIMEOUT_MS)
    assert not widget.is_running
    assert widget.model_path is not None and widget.model_path.exists()
    assert widget.model_path.parent == tmp_path
    assert plugin_state(viewer).model_path == widget.model_path
    assert "stopped at step" in widget.status_label.text()
    assert widget.model_path.with_name(widget.model_path.stem + ".ckpt.pt").exists()
    # The no-truth check of the saved model is shown (red when it warns) and kept in the file.
    assert widget.check_label.text().startswith("no-truth check:")
    from napari_a2i3dem.core.model import load_model

    record = load_model(widget.model_path).extra["model_check"]
    assert ("WARNING" in widget.check_label.text()) == (not record["passed"])
    # It started calibrated to the stack: the label shows the estimate.
    assert "slice profile" in widget.degradation_label.text()
    # The trained model leaves as a BioImage Model Zoo package, in the background.
    pytest.importorskip("bioimageio.spec")
    assert widget.export_button.isEnabled()
    package = tmp_path / "shared.zip"
    assert widget.export_model(package) is not None
    qtbot.waitUntil(lambda: widget.export_label.text().startswith(("wrote", "export failed")),
                    timeout=TIMEOUT_MS)
    assert widget.export_label.text().startswith("wrote shared.zip"), widget.export_label.text()
    assert load_model(package).ratio == pytest.approx(load_model(widget.model_path).ratio)


def test_pause_and_resume(viewer_with_stack, qtbot):
    _, widget = viewer_with_stack
    assert widget.start(TrainConfig(**LONG_RUN))
    qtbot.waitUntil(lambda: widget.progress.value() >= 2, timeout=TIMEOUT_MS)
    widget.pause_button.click()
    qtbot.waitUntil(lambda: "paused" in widget.progress.format(), timeout=TIMEOUT_MS)
    held = widget.progress.value()
    qtbot.wait(300)
    assert widget.progress.value() == held
    assert widget.pause_button.text() == "Resume"
    widget.pause_button.click()
    qtbot.waitUntil(lambda: widget.progress.value() > held, timeout=TIMEOUT_MS)
    widget.stop_button.click()
    qtbot.waitUntil(lambda: widget.start_button.isEnabled(), timeout=TIMEOUT_MS)


def test_resume_from_a_checkpoint_continues_the_curve(viewer_with_stack, qtbot, tmp_path):
    viewer, widget = viewer_with_stack
    short = TrainConfig(**{**LONG_RUN, "steps": 3})
    assert widget.start(short)
    qtbot.waitUntil(lambda: widget.start_button.isEnabled(), timeout=TIMEOUT_MS)
    first_model = widget.model_path
    assert "finished at step 3" in widget.status_label.text()
    (checkpoint,) = tmp_path.glob("*.ckpt.pt")

    assert not widget.start(TrainConfig(**{**LONG_RUN, "steps": 3}), resume_from=checkpoint)
    assert "already holds 3 steps" in widget.status_label.text()

    assert widget.start(TrainConfig(**{**LONG_RUN, "steps": 5}), resume_from=checkpoint)
    qtbot.waitUntil(lambda: widget.start_button.isEnabled(), timeout=TIMEOUT_MS)
    assert widget.plot.loss_steps == [1, 2, 3, 4, 5]
    assert widget.progress.value() == 5
    assert widget.model_path == first_model
    assert plugin_state(viewer).model_path == first_model


def test_closing_the_viewer_finishes_the_run(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    stack, spacing = make_sample_stack()
    viewer.add_image(np.ascontiguousarray(stack[:, :96, :96]), name="em", scale=spacing)
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget.output_edit.setText(str(tmp_path))
    assert widget.start(TrainConfig(**LONG_RUN))
    run = widget._run
    qtbot.waitUntil(lambda: widget.progress.value() >= 2, timeout=TIMEOUT_MS)
    viewer.close()
    assert run.done.wait(60)
    assert run.trainer.cancel_requested
    assert list(tmp_path.glob("*.ckpt.pt")) and list(tmp_path.glob("em-tiny-*.pt"))


@pytest.mark.parametrize(
    ("data", "ratio", "message"),
    [
        (np.zeros((64, 64), np.uint8), 3.0, "2-D"),
        (np.zeros((6, 64, 64), np.uint8), 0.5, "at least 1"),
        (np.full((6, 64, 64), np.nan, np.float32), 3.0, "NaN"),
    ],
)
def test_bad_input_gets_a_message_before_any_thread(make_napari_viewer, tmp_path, data, ratio,
                                                    message):
    viewer = make_napari_viewer()
    viewer.add_image(data, name="bad")
    widget = TrainWidget(viewer)
    widget.output_edit.setText(str(tmp_path))
    widget.layer_combo.setCurrentText("bad")
    widget.ratio_spin.setValue(ratio)
    assert not widget.start(TrainConfig(**LONG_RUN))
    assert message in widget.status_label.text()
    assert widget._worker is None and widget._run is None
    assert widget.start_button.isEnabled()


def test_no_layer_gets_a_message(make_napari_viewer):
    widget = TrainWidget(make_napari_viewer())
    widget.start_button.click()
    assert "choose a stack to train on" in widget.status_label.text()


def test_format_duration():
    assert format_duration(75) == "1:15"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(float("inf")) == "--"
