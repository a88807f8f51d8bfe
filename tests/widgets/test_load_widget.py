"""The Load widget in a real viewer: layer list, spacing, rho, output shape, publishing, errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.physics.sample import make_sample_stack
from napari_a2i3dem.widgets._shared import plugin_state
from napari_a2i3dem.widgets.load import LoadStackWidget

PLUGIN = "napari-a2i3dem"


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def widget(viewer) -> LoadStackWidget:
    return LoadStackWidget(viewer)


def add_sample(viewer, name="sample"):
    data, spacing = make_sample_stack()
    return viewer.add_image(data, scale=spacing, name=name, metadata={"spacing": spacing})


def test_widget_docks_from_the_plugin_menu(viewer):
    _, dock = viewer.window.add_plugin_dock_widget(PLUGIN, "Load anisotropic stack")
    assert dock.ready  # its module is imported already: built at once
    widget = dock.widget
    assert isinstance(widget, LoadStackWidget)
    add_sample(viewer)
    assert widget.layer_combo.currentText() == "sample"


def test_layer_list_follows_the_viewer(viewer, widget):
    add_sample(viewer, "a")
    viewer.add_points(np.zeros((1, 3)), name="points")  # not an image: not listed
    add_sample(viewer, "b")
    items = [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]
    assert items == ["a", "b"]
    assert widget.layer_combo.currentText() == "b"  # the newest image is chosen
    viewer.layers["a"].name = "renamed"
    items = [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]
    assert items == ["renamed", "b"]
    viewer.layers.remove("b")
    assert widget.layer_combo.currentText() == "renamed"
    viewer.layers.remove("renamed")
    assert widget.layer_combo.count() == 0
    assert "No image layer" in widget.info_label.text()
    assert not widget.apply_button.isEnabled()


def test_shows_shape_dtype_spacing_ratio_and_output_shape(viewer, widget):
    add_sample(viewer)
    text = widget.info_label.text()
    assert "32 × 256 × 256" in text and "uint8" in text and "in memory" in text
    assert "45 × 15 × 15 nm" in text
    assert widget.lateral_spin.value() == pytest.approx(15.0)
    assert widget.axial_spin.value() == pytest.approx(45.0)
    assert widget.ratio_label.text() == "3"
    assert widget.output_label.text() == "96 × 256 × 256"
    assert widget.apply_button.isEnabled()


def test_spacing_correction_updates_ratio_and_shape_and_is_applied(viewer, widget):
    layer = add_sample(viewer)
    published = []
    plugin_state(viewer).stack_changed.connect(published.append)
    widget.lateral_spin.setValue(4.6)
    widget.axial_spin.setValue(50.0)
    assert widget.ratio() == pytest.approx(50 / 4.6)
    assert widget.ratio_label.text() == f"{50 / 4.6:.4g}"
    assert widget.output_shape() == (round(32 * 50 / 4.6), 256, 256)
    assert tuple(layer.scale) == (45.0, 15.0, 15.0)  # nothing changes before applying
    settings = widget.apply()
    np.testing.assert_allclose(layer.scale, (50.0, 4.6, 4.6))
    assert settings.layer_name == "sample"
    np.testing.assert_allclose(settings.spacing, (50.0, 4.6, 4.6))
    assert plugin_state(viewer).stack is settings and published == [settings]
    assert layer.metadata["spacing_source"] == "user"
    assert "this widget" in widget.info_label.text()


def test_non_integer_ratio_is_fine(viewer, widget):
    add_sample(viewer)
    widget.lateral_spin.setValue(20.0)
    assert widget.ratio() == pytest.approx(2.25)
    assert widget.output_label.text() == "72 × 256 × 256"
    assert widget.message_label.text() == ""
    assert widget.apply().ratio == pytest.approx(2.25)


def test_ratio_below_one_is_rejected_inline(viewer, widget):
    layer = add_sample(viewer)
    widget.axial_spin.setValue(10.0)
    assert widget.ratio_label.text() == "0.6667"
    assert "< 1" in widget.message_label.text()
    assert "color" in widget.message_label.styleSheet()
    assert widget.output_label.text() == "–"
    assert not widget.apply_button.isEnabled()
    assert widget.apply() is None
    assert tuple(layer.scale) == (45.0, 15.0, 15.0)
    assert plugin_state(viewer).stack is None


@pytest.mark.parametrize(("data", "kwargs", "message"), [
    (np.zeros((64, 64), np.uint8), {}, "2-D image"),
    (np.zeros((64, 64, 3), np.uint8), {"rgb": True}, "RGB"),
    (np.zeros((2, 4, 64, 64), np.uint8), {}, "4-D"),
])
def test_layers_that_are_not_volumes_get_a_message(viewer, widget, data, kwargs, message):
    viewer.add_image(data, name="bad", **kwargs)
    assert message in widget.message_label.text()
    assert not widget.apply_button.isEnabled()
    assert widget.apply() is None
    assert plugin_state(viewer).stack is None


def test_nan_values_are_caught_when_applying(viewer, widget):
    data = np.ones((4, 32, 32), np.float32)
    data[1, 2, 3] = np.nan
    viewer.add_image(data, name="holes", scale=(30.0, 10.0, 10.0))
    assert widget.apply() is None
    assert "NaN" in widget.message_label.text()


def test_uncalibrated_layer_asks_for_spacing(viewer, widget):
    viewer.add_image(np.zeros((4, 32, 32), np.uint8), name="raw")
    assert "carries no voxel spacing" in widget.message_label.text()
    widget.lateral_spin.setValue(5.0)
    widget.axial_spin.setValue(40.0)
    assert widget.apply().spacing == pytest.approx((40.0, 5.0, 5.0))


def test_lazy_layers_stay_lazy(viewer, widget):
    planes_read = []

    def count(block):
        planes_read.append(block.shape[0])
        return block

    lazy = da.zeros((20, 64, 64), dtype=np.uint8, chunks=(1, 64, 64)).map_blocks(
        count, dtype=np.uint8, meta=np.empty((0, 0, 0), np.uint8))
    layer = viewer.add_image(lazy, name="lazy", scale=(50.0, 5.0, 5.0),
                             contrast_limits=(0, 255))
    assert "lazy (dask)" in widget.info_label.text()
    widget.axial_spin.setValue(60.0)
    settings = widget.apply()
    assert settings.spacing == pytest.approx((60.0, 5.0, 5.0))
    assert layer.data is lazy
    # napari draws the current plane; nothing reads the stack as a whole
    assert sum(planes_read) <= 3


def test_lateral_y_and_x_keep_their_ratio(viewer, widget):
    viewer.add_image(np.zeros((4, 32, 32), np.uint8), name="rect", scale=(40.0, 4.0, 6.0))
    assert widget.lateral_spin.value() == pytest.approx(5.0)
    widget.lateral_spin.setValue(10.0)
    assert widget.apply().spacing == pytest.approx((40.0, 8.0, 12.0))


def test_removing_the_published_layer_clears_the_state(viewer, widget):
    add_sample(viewer)
    widget.apply()
    assert plugin_state(viewer).stack is not None
    viewer.layers.remove("sample")
    assert plugin_state(viewer).stack is None


def test_open_file_reads_in_the_background_and_selects_it(viewer, widget, tmp_path, qtbot):
    path = write_stack(tmp_path / "em.tif", make_sample_stack()[0][:10], (50.0, 4.6, 4.6))
    widget.open_file(path)
    qtbot.waitUntil(lambda: "em" in viewer.layers, timeout=10_000)
    assert widget.layer_combo.currentText() == "em"
    np.testing.assert_allclose(viewer.layers["em"].scale, (50.0, 4.6, 4.6))
    assert "ImageJ header" in widget.info_label.text()
    assert widget.ratio_label.text() == f"{50 / 4.6:.4g}"
    qtbot.waitUntil(widget.open_button.isEnabled, timeout=5_000)


def test_file_notes_are_shown(viewer, widget, tmp_path, qtbot):
    import tifffile

    path = tmp_path / "frames.tif"  # ImageJ "frames" (time): opened as z with a note
    tifffile.imwrite(path, np.zeros((6, 32, 32), np.uint8), imagej=True,
                     metadata={"axes": "TYX"})
    widget.open_file(path)
    qtbot.waitUntil(lambda: "frames" in viewer.layers, timeout=10_000)
    assert "Note: the file labels the first axis 'T' (time)" in widget.info_label.text()


def test_open_file_error_is_shown_inline(viewer, widget, tmp_path, qtbot):
    broken = tmp_path / "broken.tif"
    broken.write_text("no image here")
    widget.open_file(broken)
    qtbot.waitUntil(lambda: "not a valid TIFF" in widget.message_label.text(), timeout=10_000)
    assert len(viewer.layers) == 0


def test_follows_new_layers_only_until_a_stack_is_confirmed(viewer, widget):
    add_sample(viewer, "first")
    assert widget.layer_combo.currentText() == "first"
    widget.apply()
    add_sample(viewer, "second")  # e.g. a layer the user opens for comparison
    assert widget.layer_combo.currentText() == "first"
    viewer.add_image(np.zeros((4, 16, 16), np.uint8), name="preview",
                     metadata={"a2i3dem_role": "helper"})
    items = [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]
    assert "preview" not in items and widget.layer_combo.currentText() == "first"
