"""The xz / yz views follow the main viewer and can be opened and closed repeatedly."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_a2i3dem.widgets.orthoviews import OrthoViewsWidget, ortho_order


@pytest.fixture
def volume(rng) -> np.ndarray:
    return rng.integers(0, 255, size=(24, 40, 32), dtype=np.uint8)


def _close(widget, qtbot) -> None:
    widget.close()
    widget.deleteLater()
    qtbot.wait(50)


def test_ortho_order_rolls_the_sliced_axis():
    assert ortho_order((0, 1, 2), 2) == (1, 0, 2)  # xz: slices y, z vertical
    assert ortho_order((0, 1, 2), 1) == (2, 0, 1)  # yz: slices x, z vertical
    assert ortho_order((3, 0, 1, 2), 2) == (3, 1, 0, 2)
    assert ortho_order((0, 1), 2) == (0, 1)


def test_views_follow_a_dims_change(make_napari_viewer, qtbot, volume):
    viewer = make_napari_viewer()
    layer = viewer.add_image(volume, name="iso", scale=(15, 15, 15))
    widget = OrthoViewsWidget(viewer)
    views = widget.views
    xz, yz = views.models["xz"], views.models["yz"]
    assert xz.dims.order == (1, 0, 2) and yz.dims.order == (2, 0, 1)
    assert xz.dims.displayed == (0, 2) and yz.dims.displayed == (0, 1)

    viewer.dims.set_current_step(1, 17)
    viewer.dims.set_current_step(2, 5)
    copies = views.copies_of(layer)
    assert xz.dims.current_step[1] == 17 and yz.dims.current_step[2] == 5
    np.testing.assert_array_equal(copies["xz"]._slice.image.raw, volume[:, 17, :])
    np.testing.assert_array_equal(copies["yz"]._slice.image.raw, volume[:, :, 5])

    # both ways: scrolling the xz view moves the main viewer
    xz.dims.set_current_step(1, 30)
    assert viewer.dims.current_step[1] == 30 and yz.dims.current_step[1] == 30

    # display properties and in-place data updates reach the copies
    layer.contrast_limits = (10, 100)
    assert copies["xz"].contrast_limits == [10, 100]
    volume[:, 30, :] = 7
    layer.refresh()
    qtbot.waitUntil(lambda: (copies["xz"]._slice.image.raw == 7).all(), timeout=2000)

    # the crosshair marks the focus point in the xz view
    cross = views._crosses["xz"]
    assert cross.data.shape == (2, 2, 3)
    np.testing.assert_allclose(cross.data[0, 0, 1] * cross.scale[1], viewer.dims.point[1])
    # an update that leaves the lines where they are does not set them again (each setting
    # re-slices the view: opening the views drew the crosshair eleven times)
    redrawn = []
    cross.events.data.connect(lambda event: redrawn.append(event))
    views._on_main_order()
    assert redrawn == []
    viewer.dims.set_current_step(1, 11)
    assert redrawn and cross.data[0, 0, 1] * cross.scale[1] == pytest.approx(
        viewer.dims.point[1])
    _close(widget, qtbot)


def test_follow_cursor_slices_at_the_mouse(make_napari_viewer, qtbot, volume):
    viewer = make_napari_viewer()
    viewer.add_image(volume, scale=(1, 1, 1))
    widget = OrthoViewsWidget(viewer)
    widget.follow_cursor.setChecked(True)
    viewer.cursor.position = (3.0, 12.0, 21.0)
    widget.views._on_mouse_move(viewer, None)
    assert widget.views.models["xz"].dims.point[1] == 12.0
    assert widget.views.models["yz"].dims.point[2] == 21.0
    assert viewer.dims.point[1] != 12.0 or viewer.dims.point[2] != 21.0
    widget.follow_cursor.setChecked(False)
    assert widget.views.models["xz"].dims.point[1] == viewer.dims.point[1]
    _close(widget, qtbot)


def test_layers_added_and_removed_are_mirrored(make_napari_viewer, qtbot, volume):
    viewer = make_napari_viewer()
    widget = OrthoViewsWidget(viewer)
    first = viewer.add_image(volume, name="first")
    viewer.add_image(volume[::-1].copy(), name="second")
    names = [lay.name for lay in widget.views.models["xz"].layers]
    assert names == ["first", "second", "crosshair"]
    viewer.layers.move(1, 0)
    assert [lay.name for lay in widget.views.models["yz"].layers][:2] == ["second", "first"]
    first.name = "renamed"
    viewer.layers.remove("second")
    assert [lay.name for lay in widget.views.models["yz"].layers] == ["renamed", "crosshair"]
    # a 2-D layer (like the training preview) has no xz / yz view and is left out
    viewer.add_image(volume[0], name="flat")
    viewer.layers.move(viewer.layers.index("flat"), 0)
    assert [lay.name for lay in widget.views.models["xz"].layers] == ["renamed", "crosshair"]
    viewer.layers.remove("flat")
    assert [lay.name for lay in widget.views.models["xz"].layers] == ["renamed", "crosshair"]
    _close(widget, qtbot)


def test_open_close_repeatedly_as_a_dock(make_napari_viewer, qtbot, volume):
    viewer = make_napari_viewer()
    viewer.add_image(volume)
    for _ in range(3):
        widget = OrthoViewsWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Orthogonal views")
        viewer.dims.set_current_step(1, 3)
        viewer.window.remove_dock_widget(widget)
        assert widget.views._closed and not widget.views.canvases
        widget.deleteLater()
        qtbot.wait(20)
    assert viewer.mouse_move_callbacks == []
    viewer.dims.set_current_step(1, 9)  # nothing left listening breaks the viewer
    keep = OrthoViewsWidget(viewer)
    viewer.window.add_dock_widget(keep, name="Orthogonal views")
    viewer.dims.set_current_step(0, 4)
    assert keep.views.models["xz"].dims.current_step[0] == 4


def test_views_frame_the_volume_when_shown_and_on_fit(make_napari_viewer, qtbot, volume):
    viewer = make_napari_viewer()
    widget = OrthoViewsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Orthogonal views", area="right")
    xz = widget.views.models["xz"]
    camera = xz.scene.camera if hasattr(xz, "scene") else xz.camera   # napari 0.9 moved it
    viewer.add_image(volume, name="iso", scale=(15, 15, 15))   # first layer: framed at once

    def centred_on_volume() -> bool:
        z_center, x_center = camera.center[-2:]
        return abs(z_center - 23 * 15 / 2) < 15 and abs(x_center - 31 * 15 / 2) < 15

    qtbot.waitUntil(centred_on_volume, timeout=2000)
    framed_zoom = camera.zoom
    camera.center = (0.0, 5000.0, 5000.0)                   # the user pans away and zooms
    camera.zoom = framed_zoom * 8
    assert not centred_on_volume()
    qtbot.mouseClick(widget.fit_button, Qt.MouseButton.LeftButton)
    assert centred_on_volume()
    np.testing.assert_allclose(camera.zoom, framed_zoom, rtol=0.05)
    _close(widget, qtbot)


def test_staged_views_open_through_the_middle_and_follow_only_inside(make_napari_viewer,
                                                                     qtbot, volume):
    viewer = make_napari_viewer()
    viewer.add_image(volume, scale=(1, 1, 1))   # 24 x 40 x 32
    viewer.dims.point = (0.0, 39.0, 31.0)      # napari leaves displayed axes at a range end
    widget = OrthoViewsWidget(viewer, staged=True)
    assert not widget.ready                    # built over several event-loop turns
    qtbot.waitUntil(lambda: widget.ready, timeout=10_000)
    views = widget.views
    assert 19.0 <= views.models["xz"].dims.point[1] <= 20.0  # the middle row (snapped)
    assert 15.0 <= views.models["yz"].dims.point[2] <= 16.0
    widget.follow_cursor.setChecked(True)
    viewer.cursor.position = (3.0, 12.0, 21.0)
    views._on_mouse_move(viewer, None)
    assert views.models["xz"].dims.point[1] == 12.0
    viewer.cursor.position = (3.0, 500.0, -80.0)  # off the volume: keep the last position
    views._on_mouse_move(viewer, None)
    assert views.models["xz"].dims.point[1] == 12.0
    assert views.models["yz"].dims.point[2] == 21.0
    assert views.models["xz"].dims.range[1][1] <= 40  # no range stretched by the cursor
    _close(widget, qtbot)


def test_the_crosshair_follows_a_change_of_the_main_order(make_napari_viewer, qtbot, volume):
    """After the main viewer's axes are reordered, each view's crosshair runs along the axes
    that view now displays (before, the xz view kept a line along an axis it no longer showed,
    which collapsed to a point: only one line of the cross was visible)."""
    viewer = make_napari_viewer()
    viewer.add_image(volume, name="iso", scale=(15, 15, 15))
    viewer.dims.order = (1, 0, 2)            # the user looks at an xz plane when opening them
    viewer.dims.current_step = (11, 17, 5)
    widget = OrthoViewsWidget(viewer)
    views = widget.views
    step = viewer.dims.current_step
    # opening centres the views on the data, but keeps the plane the main viewer shows
    assert step[1] == 17
    for order in ((0, 1, 2), (1, 0, 2), (2, 1, 0)):
        viewer.dims.order = order
        assert viewer.dims.current_step == step, order
        for name, model in views.models.items():
            assert model.dims.current_step == step, (order, name)
            directions = views._crosses[name].data[:, 1]            # (2 lines, ndim)
            along = sorted(int(np.flatnonzero(d)[0]) for d in directions)
            assert along == sorted(model.dims.displayed), (order, name)
            assert all(np.count_nonzero(d) == 1 for d in directions)
    _close(widget, qtbot)


def test_the_crosshair_lines_are_equally_thin_on_an_anisotropic_stack(make_napari_viewer, qtbot,
                                                                      volume):
    """On the raw stack (z spacing 3x the lateral one) the crosshair layer keeps one scale on
    every axis, so its width (in data units) is the same across and along z; its lines still
    run through the focus point over the whole extent of the data, in world units."""
    viewer = make_napari_viewer()
    viewer.add_image(volume, name="raw", scale=(45, 15, 15))
    widget = OrthoViewsWidget(viewer)
    views = widget.views
    viewer.dims.set_current_step(1, 11)
    for name, model in views.models.items():
        cross = views._crosses[name]
        np.testing.assert_array_equal(cross.scale, [15.0, 15.0, 15.0])
        world = cross.data * cross.scale  # (line, start / direction, axis)
        for line, axis in zip(world, model.dims.displayed, strict=True):
            start, direction = line
            extent = viewer.layers.extent.world
            assert start[axis] == pytest.approx(extent[0][axis])
            assert start[axis] + direction[axis] == pytest.approx(extent[1][axis])
            others = [a for a in range(3) if a != axis]
            np.testing.assert_allclose(start[others], np.asarray(viewer.dims.point)[others])
    _close(widget, qtbot)
