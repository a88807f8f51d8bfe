"""The Assess widget measures a layer in a worker thread and tabulates the result."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import fft as sp_fft

from napari_a2i3dem.widgets._shared import StackSettings, plugin_state
from napari_a2i3dem.widgets.assess import AssessWidget


def band_limited_volume(rng, shape, cutoff):
    spectrum = sp_fft.fftn(rng.standard_normal(shape))
    grids = np.meshgrid(*[sp_fft.fftfreq(n) for n in shape], indexing="ij")
    volume = sp_fft.ifftn(spectrum * (np.sqrt(sum(g**2 for g in grids)) <= cutoff)).real
    return (volume / volume.std() + 0.02 * rng.standard_normal(shape)).astype(np.float32)


@pytest.fixture
def widget(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = AssessWidget(viewer)
    qtbot.addWidget(w)
    yield w
    if w.worker is not None:
        w.worker.quit()
        qtbot.waitUntil(lambda: w.worker is None, timeout=10_000)


def test_lists_only_3d_grey_image_layers(widget, rng):
    viewer = widget.viewer
    viewer.add_image(rng.random((16, 32, 32)), name="stack")
    viewer.add_image(rng.random((32, 32)), name="flat")
    viewer.add_labels(np.zeros((16, 32, 32), dtype=np.uint8), name="labels")
    items = [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())]
    assert items == ["stack"]
    viewer.layers.remove("stack")
    assert widget.layer_combo.count() == 0
    assert not widget.measure_button.isEnabled()


def test_spacing_comes_from_the_load_widget_state_or_the_layer_scale(widget, rng):
    viewer = widget.viewer
    viewer.add_image(rng.random((8, 32, 32)), name="scaled", scale=(40.0, 4.0, 4.0))
    assert widget.spacing() == pytest.approx((40.0, 4.0, 4.0))
    plugin_state(viewer).set_stack(StackSettings("chosen", (45.0, 15.0, 15.0)))
    viewer.add_image(rng.random((8, 32, 32)), name="chosen")
    widget.layer_combo.setCurrentText("chosen")
    assert widget.spacing() == pytest.approx((45.0, 15.0, 15.0))


def test_measure_reports_axial_loss_of_a_coarse_stack(widget, qtbot, rng):
    iso = band_limited_volume(rng, (96, 96, 96), 0.35)
    widget.viewer.add_image(iso[::4], name="coarse", scale=(40.0, 10.0, 10.0))
    widget.viewer.add_image(iso, name="isotropic", scale=(10.0, 10.0, 10.0))
    results = {}
    for name in ("coarse", "isotropic"):
        widget.layer_combo.setCurrentText(name)
        widget.planes_box.setValue(3)
        widget.measure()
        assert not widget.measure_button.isEnabled()
        qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
        results[name] = widget.last_result
    assert widget.table.rowCount() == 2
    assert widget.table.item(0, 0).text() == "coarse"
    assert results["isotropic"].anisotropy == pytest.approx(1.0, abs=0.15)
    assert results["coarse"].anisotropy > 1.8
    assert float(widget.table.item(0, 2).text()) == pytest.approx(results["coarse"].xz, abs=0.06)
    assert widget.progress.value() == widget.progress.maximum() == 9
    assert widget.measure_button.isEnabled()


def test_bad_layer_gives_a_message_not_a_crash(widget, qtbot, rng):
    widget.viewer.add_image(np.zeros((8, 32, 32), dtype=np.float32), name="empty")
    widget.measure()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=10_000)
    assert "failed" in widget.status.text() and "signal" in widget.status.text()
    assert widget.table.rowCount() == 0


def test_cancel_stops_the_worker(widget, qtbot, rng):
    widget.viewer.add_image(band_limited_volume(rng, (64, 256, 256), 0.3), name="big")
    widget.planes_box.setValue(40)
    widget.measure()
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)
    assert widget.table.rowCount() == 0
    assert "cancelled" in widget.status.text()
