"""The Training-pairs widget shows a clean patch, its synthetic input and a real axial plane as
three layers that it updates in place when a control changes."""

from __future__ import annotations

import numpy as np
import pytest
from _fields import membrane_field
from scipy import ndimage

from napari_a2i3dem.core.physics.degradations import DegradationConfig
from napari_a2i3dem.widgets._shared import StackSettings, plugin_state
from napari_a2i3dem.widgets.pairs import LAYER_NAMES, TrainingPairsWidget


def textured_stack(rng, shape=(12, 96, 96)) -> np.ndarray:
    volume = ndimage.gaussian_filter(rng.random(shape), (0.5, 2.0, 2.0))
    return (255 * (volume - volume.min()) / np.ptp(volume)).astype(np.uint8)


@pytest.fixture
def widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = TrainingPairsWidget(viewer)
    qtbot.addWidget(w)
    yield w
    w._closing = True
    # A worker still running is waited for; one whose start is only queued (superqt queues the
    # start with a timer when called from a running event loop) never started and is dropped.
    if w._worker is not None and w._worker.is_running:
        qtbot.waitUntil(lambda: w._worker is None, timeout=60_000)


def wait_for_update(widget, qtbot, previous: int) -> None:
    qtbot.waitUntil(lambda: widget.update_count > previous and widget._worker is None,
                    timeout=20_000)


def test_pairs_show_in_the_panel_and_as_layers_on_request(widget, qtbot, rng):
    viewer = widget.viewer
    viewer.add_image(textured_stack(rng), name="stack", scale=(40.0, 4.0, 4.0))
    assert widget.layer_combo.currentText() == "stack"
    assert widget.ratio.value() == pytest.approx(10.0)
    widget.patch.setValue(64)
    wait_for_update(widget, qtbot, 0)
    clean, degraded, real = (image.copy() for image in widget.strip.images)
    assert clean.shape == degraded.shape == (64, 64)
    assert real.shape == (64, 64)  # 12 sections x rho 10 = 120 fine rows, cropped to 64
    assert all(view.pixmap() is not None and not view.pixmap().isNull()
               for view in widget.strip.views)
    assert [layer.name for layer in viewer.layers] == ["stack"]  # no layers pile up

    count = widget.update_count
    widget.noise_sigma.setValue((0.25, 0.3))
    wait_for_update(widget, qtbot, count)
    np.testing.assert_array_equal(widget.strip.images[0], clean)  # same seed: same patch
    extra_noise = np.std(widget.strip.images[1] - degraded)
    assert extra_noise > 0.05  # the stronger noise shows in the synthetic input
    assert "dB" in widget.agreement_label.text()
    assert widget.last_preview.seconds < 10.0

    # on request, as layers: side by side just below the stack, marked as helpers
    widget.as_layers.setChecked(True)
    layers = [viewer.layers[name] for name in LAYER_NAMES]
    assert all(layer.metadata["a2i3dem_role"] == "helper" for layer in layers)
    tops = {layer.translate[-2] for layer in layers}
    starts = [layer.translate[-1] for layer in layers]
    assert len(tops) == 1 and tops.pop() > 96 * 4.0  # below the 96-row stack
    assert starts[0] == 0.0 and starts[0] < starts[1] < starts[2]
    count = widget.update_count
    widget.new_sample.click()
    wait_for_update(widget, qtbot, count)
    assert [viewer.layers[name] for name in LAYER_NAMES] == layers  # updated in place
    assert widget.layer_combo.findText(LAYER_NAMES[0]) < 0  # never offered as the stack
    widget.remove_layers_button.click()  # one click removes them all
    assert [layer.name for layer in viewer.layers] == ["stack"]
    assert not widget.as_layers.isChecked()


def test_new_sample_changes_the_patch_and_settings_are_published(widget, qtbot, rng):
    viewer = widget.viewer
    viewer.add_image(textured_stack(rng), name="stack", scale=(30.0, 10.0, 10.0))
    widget.patch.setValue(64)
    wait_for_update(widget, qtbot, 0)
    first = widget.strip.images[0].copy()
    count = widget.update_count
    widget.new_sample.click()
    wait_for_update(widget, qtbot, count)
    assert widget.seed.value() == 1
    assert not np.array_equal(widget.strip.images[0], first)
    state = plugin_state(viewer)
    qtbot.waitUntil(lambda: widget.estimate is not None and state.extra.get("degradation")
                    == widget.estimate.config().to_dict(), timeout=30_000)
    assert DegradationConfig.from_dict(state.extra["degradation"]) == widget.config()


def test_controls_round_trip_a_config_and_disable_artefacts(widget):
    config = DegradationConfig().with_artefact("dust", enabled=False).with_artefact(
        "drift", strength=(0.05, 0.2), probability=0.9)
    widget.set_config(config)
    got = widget.config()
    assert not got.artefacts["dust"].enabled
    assert got.artefacts["drift"].strength == pytest.approx((0.05, 0.2), abs=1e-3)
    assert got.artefacts["drift"].probability == pytest.approx(0.9)
    assert got.profile.kind == config.profile.kind
    assert got.noise.sigma == pytest.approx(config.noise.sigma, abs=1e-3)


def test_ratio_follows_the_load_widget_state(widget, rng):
    viewer = widget.viewer
    viewer.add_image(textured_stack(rng), name="loaded")
    plugin_state(viewer).set_stack(StackSettings("loaded", (50.0, 4.0, 4.0)))
    assert widget.layer_combo.currentText() == "loaded"
    assert widget.ratio.value() == pytest.approx(12.5)


def test_multiscale_layer_previews_its_full_resolution_level(widget, qtbot, rng):
    full = textured_stack(rng, shape=(12, 128, 128))
    widget.viewer.add_image([full, full[:, ::2, ::2]], name="pyramid", multiscale=True,
                            scale=(30.0, 10.0, 10.0))
    widget.patch.setValue(96)
    wait_for_update(widget, qtbot, 0)
    assert widget.strip.images[0].shape == (96, 96)
    assert widget.ratio.value() == pytest.approx(3.0)


def test_choosing_a_stack_calibrates_the_controls_to_it(widget, qtbot, rng):
    sections = membrane_field((96, 96, 96), seed=1)[::4]
    sections = sections + rng.normal(0, 0.04, sections.shape)
    assert "degradation" not in plugin_state(widget.viewer).extra  # Train calibrates itself
    widget.viewer.add_image(sections.astype(np.float32), name="sections",
                            scale=(40.0, 10.0, 10.0))
    qtbot.waitUntil(lambda: widget.estimate is not None, timeout=30_000)
    estimate = widget.estimate
    assert estimate.ratio == pytest.approx(4.0)
    assert estimate.profile.kind == "none"   # every fourth plane: point sampling
    assert "estimated slice profile: point sampling" in widget.calibration_label.text()
    # The controls now describe the calibrated degradation, and it round-trips exactly.
    assert widget.config() == estimate.config()
    qtbot.waitUntil(lambda: plugin_state(widget.viewer).extra.get("degradation")
                    == estimate.config().to_dict(), timeout=30_000)
    # The calibrated preview arrives (its worker ends before the widget goes).
    qtbot.waitUntil(lambda: widget._worker is None and widget.status.text().startswith("patch"),
                    timeout=60_000)
    # The evidence is drawn (in the plot's worker): the measured spectrum and two synthetic ones.
    qtbot.waitUntil(lambda: widget.estimate_canvas.renders >= 2
                    and not widget.estimate_canvas.busy, timeout=30_000)
    assert len(widget.estimate_canvas.axes.get_lines()) == 3
