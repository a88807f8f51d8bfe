"""The "Orthogonal views" dock: xz and yz canvases that follow the main viewer.

Two extra :class:`~napari.components.ViewerModel` + :class:`~napari.qt.QtViewer` canvases mirror the
main viewer's 3-D layers (copies that share the same data arrays, with their display properties
kept in sync) and roll ``dims.order`` so that the xz view slices y and the yz view slices x, with
z drawn vertically in both. Their slice position follows the main viewer's dims (both ways) or, with
"Follow cursor", the mouse over the main canvas; a crosshair marks the focus point. Streaming
refreshes of a layer (``layer.refresh()`` while a reconstruction fills it) reach the copies too.

Everything the views hold is released by :meth:`OrthoViews.close`, called when the widget is
closed, removed from its dock, or destroyed with the viewer, so the dock can be opened and closed
repeatedly.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np
from napari.components import ViewerModel
from napari.layers import Layer, Vectors
from napari.qt import QtViewer
from qtpy.QtCore import QEvent, Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ._shared import watch_removals

SYNCED_PROPERTIES = (
    "contrast_limits", "colormap", "gamma", "opacity", "visible", "blending", "scale",
    "translate", "interpolation2d",
)
CROSS_NAME = "crosshair"


def ortho_order(order: tuple[int, ...], sliced_axis_from_end: int) -> tuple[int, ...]:
    """Roll the main ``dims.order`` so that the view slices another axis, z drawn vertically.

    With the main order ``(..., z, y, x)``: ``sliced_axis_from_end=2`` gives ``(..., y, z, x)``
    (the xz view), ``1`` gives ``(..., x, z, y)`` (the yz view).
    """
    order = list(order)
    if len(order) < 3:
        return tuple(order)
    z, y, x = order[-3:]
    tail = (y, z, x) if sliced_axis_from_end == 2 else (x, z, y)
    return (*order[:-3], *tail)


def _copy_layer(layer: Layer) -> Layer:
    """A new layer of the same type sharing ``layer``'s data and display state."""
    copy = Layer.create(*layer.as_layer_data_tuple())
    copy.metadata = {**copy.metadata, "ortho_source": layer.unique_id}
    return copy


class OrthoViews:
    """The xz / yz viewer models, their canvases and every link to the main viewer."""

    def __init__(self, viewer, parent: QWidget, *, staged: bool = False) -> None:
        self.viewer = viewer
        self.parent = parent
        self.models = {"xz": ViewerModel(title="xz"), "yz": ViewerModel(title="yz")}
        for model in self.models.values():
            watch_removals(model)  # mirrored layers frozen with the heap are freed when removed
        self.canvases: dict[str, QtViewer] = {}
        self.follow_cursor = False
        self._cursor_point: tuple[float, ...] | None = None
        self._copies: dict[object, dict[str, Layer]] = {}
        self._crosses: dict[str, Vectors] = {}
        self._syncing = False
        self._closed = False
        self._connected = False
        self._ready = False
        self._updating_cross = False
        self._refresh_pending: set[object] = set()
        self._refresh_timer = QTimer()
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(50)
        self._refresh_timer.timeout.connect(self._flush_refresh)
        if not staged:
            for step in self.build_steps():
                step()

    def build_steps(self) -> list:
        """The set-up as small steps (each well under 200 ms), to run one per event-loop turn
        so that opening the views never freezes the window: the two canvases, one step per
        layer copy, the crosshairs, the links to the main viewer, the views' axes, the
        centring on the data, the framing."""
        steps = [functools.partial(self._make_canvas, name) for name in self.models]
        steps += [functools.partial(self._copy_existing, layer) for layer in self.viewer.layers]
        steps += [functools.partial(self._add_cross, name) for name in self.models]
        steps += [self._connect, self._orient, self._centre, self._frame]
        return steps

    def _make_canvas(self, name: str) -> None:
        if self._closed:
            return
        canvas = QtViewer(self.models[name], show_welcome_screen=False)
        canvas.setParent(self.parent)
        self.canvases[name] = canvas

    def _copy_existing(self, layer: Layer) -> None:
        if not self._closed and layer in self.viewer.layers and layer.unique_id not in self._copies:
            self._add_copies(layer, self.viewer.layers.index(layer))

    def _add_cross(self, name: str) -> None:
        if not self._closed:
            self._crosses[name] = self._make_cross(self.models[name])

    def _connect(self) -> None:
        """Link to the main viewer: layers added meanwhile are copied now."""
        if self._closed or self._connected:
            return
        viewer = self.viewer
        for layer in viewer.layers:
            self._copy_existing(layer)
        self._connected = True
        layers = viewer.layers.events
        layers.inserted.connect(self._on_inserted)
        layers.removed.connect(self._on_removed)
        layers.moved.connect(self._on_moved)
        viewer.dims.events.point.connect(self._on_main_point)
        viewer.dims.events.order.connect(self._on_main_order)
        viewer.dims.events.ndim.connect(self._on_main_order)
        for model in self.models.values():
            model.dims.events.point.connect(self._on_view_point)
        viewer.mouse_move_callbacks.append(self._on_mouse_move)

    def _orient(self) -> None:
        """The views' axes and point from the main viewer (the crosshair's lines are set only
        when they move, so the several redraws this triggers cost one)."""
        if not self._closed:
            self._on_main_order()

    def _centre(self) -> None:
        if not self._closed:
            self.centre_on_data()

    def _frame(self) -> None:
        if not self._closed:
            self.fit()
            self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    def centre_on_data(self) -> None:
        """Slice the views through the middle of the mirrored layers when the main viewer's
        point for an axis it displays lies outside them (napari leaves it at a range end)."""
        layers = [lay for lay in self.viewer.layers if lay.unique_id in self._copies]
        if not layers:
            return
        lower, upper = np.asarray(self.viewer.layers.get_extent(layers).world, dtype=float)
        point = list(self.viewer.dims.point)
        if len(point) != lower.size:
            return
        for axis in self.viewer.dims.displayed:
            point[axis] = (lower[axis] + upper[axis]) / 2.0
        self.viewer.dims.point = tuple(point)

    # ------------------------------------------------------------------ layers
    def _add_copies(self, layer: Layer, index: int) -> None:
        if layer.ndim < 3:        # a 2-D layer (e.g. the training preview) has no xz / yz view
            return
        copies = {}
        for name, model in self.models.items():
            copy = _copy_layer(layer)
            model.layers.insert(min(index, self._n_mirrored(model)), copy)
            copies[name] = copy
        self._copies[layer.unique_id] = copies
        for prop in SYNCED_PROPERTIES:
            emitter = getattr(layer.events, prop, None)
            if emitter is not None:
                emitter.connect(self._on_property)
        layer.events.data.connect(self._on_data)
        layer.events.set_data.connect(self._on_refreshed)
        layer.events.name.connect(self._on_name)

    def _disconnect_layer(self, layer: Layer) -> None:
        for prop in SYNCED_PROPERTIES:
            emitter = getattr(layer.events, prop, None)
            if emitter is not None:
                emitter.disconnect(self._on_property)
        layer.events.data.disconnect(self._on_data)
        layer.events.set_data.disconnect(self._on_refreshed)
        layer.events.name.disconnect(self._on_name)

    def _n_mirrored(self, model: ViewerModel) -> int:
        return sum(1 for lay in model.layers if lay.name != CROSS_NAME)

    def _on_inserted(self, event) -> None:
        first = not self._copies
        self._add_copies(event.value, event.index)
        self._on_main_order()
        self._update_cross()
        if first and self._copies:    # nothing was framed before: frame the new layer
            self.fit()

    def fit(self) -> None:
        """Frame every layer in both views (after the canvases got their size)."""
        if self._closed:
            return
        for model in self.models.values():
            model.reset_view()

    def _on_removed(self, event) -> None:
        layer = event.value
        copies = self._copies.pop(layer.unique_id, None)
        if copies is None:          # a 2-D layer: never mirrored
            return
        self._disconnect_layer(layer)
        for name, copy in copies.items():
            if copy in self.models[name].layers:
                self.models[name].layers.remove(copy)
        self._update_cross()

    def _on_moved(self, event) -> None:
        order = [layer.unique_id for layer in self.viewer.layers if layer.unique_id in self._copies]
        for name, model in self.models.items():
            for position, key in enumerate(order):
                copy = self._copies.get(key, {}).get(name)
                if copy is not None and model.layers.index(copy) != position:
                    model.layers.move(model.layers.index(copy), position)

    def _on_property(self, event) -> None:
        source = event.source
        name = event.type
        for copy in self._copies.get(source.unique_id, {}).values():
            value = getattr(source, name)
            if name == "colormap":
                copy.colormap = source.colormap
            elif not np.array_equal(np.asarray(getattr(copy, name), dtype=object),
                                    np.asarray(value, dtype=object)):
                setattr(copy, name, value)
        if name in ("scale", "translate"):
            self._update_cross()

    def _on_data(self, event) -> None:
        for copy in self._copies.get(event.source.unique_id, {}).values():
            copy.data = event.source.data

    def _on_name(self, event) -> None:
        for copy in self._copies.get(event.source.unique_id, {}).values():
            copy.name = event.source.name

    def _on_refreshed(self, event) -> None:
        self._refresh_pending.add(event.source.unique_id)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _flush_refresh(self) -> None:
        pending, self._refresh_pending = self._refresh_pending, set()
        for key in pending:
            for copy in self._copies.get(key, {}).values():
                copy.refresh(extent=False, thumbnail=False)

    def copies_of(self, layer: Layer) -> dict[str, Layer]:
        """The xz / yz copies of a main-viewer layer."""
        return dict(self._copies.get(layer.unique_id, {}))

    # ------------------------------------------------------------------ dims
    def _on_main_order(self, event=None) -> None:
        order = tuple(self.viewer.dims.order)
        for name, model in self.models.items():
            if model.dims.ndim != self.viewer.dims.ndim:
                continue
            model.dims.order = ortho_order(order, 2 if name == "xz" else 1)
        # The views now display other axes: the crosshair's lines must run along them (before,
        # a line along an axis no longer displayed collapsed to a point and vanished). Drawing
        # it can re-create a view's cross layer, which resets that view's dims; the main
        # viewer's point is then given to the views again, never taken from them.
        self._syncing = True
        try:
            self._update_cross()
        finally:
            self._syncing = False
        self._on_main_point()

    def sliced_axis(self, name: str) -> int | None:
        """The main-viewer axis the view ``name`` slices (y for xz, x for yz)."""
        order = self.viewer.dims.order
        if len(order) < 3:
            return None
        return order[-2] if name == "xz" else order[-1]

    def _on_main_point(self, event=None) -> None:
        if self._syncing:
            return
        point = list(self.viewer.dims.point)
        self._syncing = True
        try:
            for name, model in self.models.items():
                if model.dims.ndim != len(point):
                    continue
                target = list(point)
                axis = self.sliced_axis(name)
                if self.follow_cursor and self._cursor_point is not None and axis is not None:
                    target[axis] = self._cursor_point[axis]
                model.dims.point = tuple(target)
        finally:
            self._syncing = False
        self._update_cross()

    def _on_view_point(self, event) -> None:
        if self._syncing or self.follow_cursor:
            self._update_cross()
            return
        source = next((m for m in self.models.values() if m.dims is event.source), None)
        if source is None or source.dims.ndim != self.viewer.dims.ndim:
            return
        self._syncing = True
        try:
            self.viewer.dims.point = source.dims.point
            for model in self.models.values():
                if model is not source and model.dims.ndim == source.dims.ndim:
                    model.dims.point = source.dims.point
        finally:
            self._syncing = False
        self._update_cross()

    def _on_mouse_move(self, viewer, event) -> None:
        if not self.follow_cursor or self._closed:
            return
        position = tuple(viewer.cursor.position)
        if len(position) != viewer.dims.ndim or not self._inside(position):
            return  # outside the volume: keep the last position inside it
        self._cursor_point = position
        self._on_main_point()

    def _inside(self, position: tuple[float, ...]) -> bool:
        layers = [lay for lay in self.viewer.layers if lay.unique_id in self._copies]
        if not layers:
            return False
        lower, upper = np.asarray(self.viewer.layers.get_extent(layers).world, dtype=float)
        displayed = self.viewer.dims.displayed
        return all(lower[axis] <= position[axis] <= upper[axis] for axis in displayed)

    def set_follow_cursor(self, follow: bool) -> None:
        self.follow_cursor = bool(follow)
        if not follow:
            self._cursor_point = None
        self._on_main_point()

    # ------------------------------------------------------------------ crosshair
    def _make_cross(self, model: ViewerModel, ndim: int | None = None) -> Vectors:
        ndim = max(2, model.dims.ndim if ndim is None else ndim)
        cross = Vectors(name=CROSS_NAME, ndim=ndim, vector_style="line",
                        edge_color="yellow", edge_width=1.0, opacity=0.7)
        model.layers.append(cross)
        return cross

    def focus_point(self) -> tuple[float, ...]:
        """The world point the crosshair marks: the cursor (when followed) or the dims point."""
        point = list(self.viewer.dims.point)
        if self.follow_cursor and self._cursor_point is not None:
            for name in self.models:
                axis = self.sliced_axis(name)
                if axis is not None:
                    point[axis] = self._cursor_point[axis]
        return tuple(point)

    def _update_cross(self) -> None:
        if self._closed or self._updating_cross:
            return
        self._updating_cross = True
        try:
            self._draw_cross()
        finally:
            self._updating_cross = False

    def _draw_cross(self) -> None:
        layers = [lay for lay in self.viewer.layers if lay.unique_id in self._copies]
        if not layers:
            return
        extent = self.viewer.layers.get_extent(layers)
        step = np.asarray(extent.step, dtype=float)
        lower, upper = np.asarray(extent.world, dtype=float)
        point = np.asarray(self.focus_point(), dtype=float)
        if point.size != step.size:
            return
        for name, model in self.models.items():
            cross = self._crosses.get(name)
            if cross is None:
                continue
            if cross.ndim != step.size:
                model.layers.remove(cross)
                cross = self._crosses[name] = self._make_cross(model, step.size)
            displayed = model.dims.displayed
            # one scale on every axis: a line's width is in data units, so on the raw stack's
            # scale (z coarser than y and x) the line along x was drawn rho times thicker
            unit = float(step.min())
            vectors = []
            for axis in displayed:
                start = point / unit
                start[axis] = lower[axis] / unit
                direction = np.zeros_like(start)
                direction[axis] = (upper[axis] - lower[axis]) / unit
                vectors.append((start, direction))
            scale = np.full_like(step, unit)
            if not np.array_equal(cross.scale, scale):
                cross.scale = scale
            vectors = np.asarray(vectors, dtype=float)
            if cross.data.shape != vectors.shape or not np.array_equal(cross.data, vectors):
                cross.data = vectors  # unchanged lines are not set again (a re-slice each)
            if model.layers.index(cross) != len(model.layers) - 1:
                model.layers.move(model.layers.index(cross), len(model.layers))

    # ------------------------------------------------------------------ teardown
    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Disconnect from the main viewer and release both canvases (idempotent)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RuntimeError):  # the timer may already be deleted with Qt
            self._refresh_timer.stop()
        viewer = self.viewer
        with contextlib.suppress(ValueError):
            viewer.mouse_move_callbacks.remove(self._on_mouse_move)
        links = (
            (viewer.layers.events.inserted, self._on_inserted),
            (viewer.layers.events.removed, self._on_removed),
            (viewer.layers.events.moved, self._on_moved),
            (viewer.dims.events.point, self._on_main_point),
            (viewer.dims.events.order, self._on_main_order),
            (viewer.dims.events.ndim, self._on_main_order),
        ) if self._connected else ()
        for emitter, slot in links:
            emitter.disconnect(slot)
        for layer in viewer.layers:
            if layer.unique_id in self._copies:
                self._disconnect_layer(layer)
        self._copies.clear()
        for canvas in self.canvases.values():
            canvas.close()
            canvas.deleteLater()
        for model in self.models.values():
            model.layers.clear()
        self.canvases.clear()
        self.models.clear()
        self._crosses.clear()


def _close_views(views: OrthoViews) -> None:
    views.close()


class OrthoViewsWidget(QWidget):
    """Dock with the xz and yz views of the main viewer's layers."""

    def __init__(self, napari_viewer, parent: QWidget | None = None, *,
                 staged: bool = False) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.views = OrthoViews(napari_viewer, self, staged=True)
        self._was_docked = False

        splitter = QSplitter(Qt.Orientation.Horizontal)  # xz | yz, docked below the canvas
        self._boxes: dict[str, QVBoxLayout] = {}
        for name in self.views.models:
            box = QWidget()
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 0, 0, 0)
            box_layout.addWidget(QLabel(f"{name} view (z vertical)"))
            splitter.addWidget(box)
            splitter.setStretchFactor(splitter.count() - 1, 1)
            self._boxes[name] = box_layout
        self.splitter = splitter
        self.follow_cursor = QCheckBox("Follow cursor")
        self.follow_cursor.setToolTip(
            "Slice the xz / yz views at the mouse position over the main canvas while it is "
            "inside the volume (otherwise at the viewer's current position)")
        self.follow_cursor.toggled.connect(self.views.set_follow_cursor)

        self.fit_button = QPushButton("Fit views")
        self.fit_button.setToolTip("Frame the whole volume in the xz and yz views")
        self.fit_button.clicked.connect(self.views.fit)

        controls = QHBoxLayout()
        controls.addWidget(self.follow_cursor)
        controls.addStretch(1)
        controls.addWidget(self.fit_button)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(splitter, 1)
        self.setMinimumSize(420, 300)
        self.destroyed.connect(functools.partial(_close_views, self.views))
        self._steps = self.views.build_steps()
        if staged:
            QTimer.singleShot(0, self._next_step)
        else:
            while self._steps:
                self._next_step(chain=False)

    @property
    def ready(self) -> bool:
        """True once both views are built and linked to the main viewer."""
        return self.views.ready

    def _next_step(self, chain: bool = True) -> None:
        if self.views.closed or not self._steps:
            return
        self._steps.pop(0)()
        for name, canvas in self.views.canvases.items():
            box = self._boxes[name]
            if box.indexOf(canvas) < 0:
                box.addWidget(canvas, 1)
                canvas.setMinimumSize(200, 220)
        if not self._steps:
            self.splitter.setSizes([10_000] * self.splitter.count())  # xz and yz equally wide
        if chain and self._steps:
            QTimer.singleShot(0, self._next_step)
        elif not self._steps and self.isVisible():
            QTimer.singleShot(0, self.views.fit)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.Show:
            # The canvases only know their size once shown: frame the views then.
            QTimer.singleShot(0, self.views.fit)
        elif event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._was_docked = True
            elif self._was_docked:  # removed from its dock: release the canvases
                self.views.close()
        return super().event(event)

    def closeEvent(self, event) -> None:
        self.views.close()
        super().closeEvent(event)
