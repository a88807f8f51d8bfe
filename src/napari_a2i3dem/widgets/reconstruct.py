"""The "Reconstruct" dock widget: stream the isotropic volume into napari while it is computed.

A napari ``thread_worker`` runs :func:`~napari_a2i3dem.core.reconstruction.reconstruct`; each
finished y-slab is written into the output layer's own array (memory, or the memory map / zarr
array of a file target) and the layer is refreshed in place, so the volume fills in while the run
goes on. A plain cubic-interpolated layer is added beside it, and "Compare" lays both out side by
side (napari grid mode: one shared camera and dims; contrast linked with
``napari.experimental.link_layers``), optionally with the xz/yz disagreement map.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import weakref
from pathlib import Path

import numpy as np
from napari.experimental import link_layers, unlink_layers
from napari.layers import Image
from napari.qt.threading import create_worker
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.devices import available_devices
from ..core.errors import A2IError, Cancelled, InputError
from ..core.reconstruction import (
    FUSIONS,
    cubic_upsample_stack,
    isotropic_spacing,
    output_shape,
    reconstruct,
)
from ..core.stores import open_target
from ..core.tiling import validate_tiling
from ..core.validation import ratio_from_spacing, validate_ratio, validate_volume
from ._shared import plugin_state

MEMORY_TARGET = "in memory"
FILE_TARGET = "file (.tif / .zarr)"
LINKED_ATTRIBUTES = ("contrast_limits", "gamma")
#: Above this many output voxels the cubic layer stays a lazy dask array.
EAGER_CUBIC_VOXELS = 64 * 2**20


def _set_cancel(event: threading.Event, *_args) -> None:
    event.set()


class ReconstructWidget(QWidget):
    """Pick a model and a stack, run the reconstruction and compare it with cubic interpolation."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.state = plugin_state(napari_viewer)
        self.cancel_event = threading.Event()
        self.output_layer: Image | None = None
        self.cubic_layer: Image | None = None
        self.confidence_layer: Image | None = None
        self.worker = None
        self.refreshes = 0
        self._progress = None
        self._started = 0.0
        self._file_target = False
        self._comparison: dict | None = None
        self._ortho_dock = None
        self._build()
        self._refresh_layers()
        if self.state.model_path is not None:
            self.model_edit.setText(str(self.state.model_path))
        self.state.model_changed.connect(self._on_model_changed)
        self.state.stack_changed.connect(self._on_stack_changed)
        napari_viewer.layers.events.inserted.connect(self._refresh_layers)
        napari_viewer.layers.events.removed.connect(self._refresh_layers)
        self._timer = QTimer(self)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._show_progress)
        # Closing the viewer stops a run; the slot holds the event only, not the widget.
        self.destroyed.connect(functools.partial(_set_cancel, self.cancel_event))

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("the model trained in this session, or a file")
        model_browse = QPushButton("…")
        model_browse.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit)
        model_row.addWidget(model_browse)

        self.layer_combo = QComboBox()
        self.layer_combo.currentTextChanged.connect(self._on_layer_changed)
        self.ratio_spin = QDoubleSpinBox()
        self.ratio_spin.setRange(1.0, 100.0)
        self.ratio_spin.setDecimals(3)
        self.ratio_spin.setToolTip("up-sampling ratio z spacing / xy spacing (from the stack)")

        self.target_combo = QComboBox()
        self.target_combo.addItems([MEMORY_TARGET, FILE_TARGET])
        self.target_combo.currentTextChanged.connect(self._on_target_changed)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("iso.zarr (larger than memory) or iso.tif")
        path_browse = QPushButton("…")
        path_browse.clicked.connect(self._browse_output)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit)
        path_row.addWidget(path_browse)
        self._path_widgets = (self.path_edit, path_browse)

        self.tile_spin = self._spin(16, 4096, 256, "network tile (pixels); larger planes are tiled")
        self.tile_spin.setSingleStep(32)
        self.overlap_spin = self._spin(0, 512, 32, "tile overlap, blended smoothly")
        self.batch_spin = self._spin(1, 512, 8, "tiles per network batch")
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", *available_devices()])
        self.fusion_combo = QComboBox()
        self.fusion_combo.addItems(list(FUSIONS))
        self.fusion_combo.setToolTip("mean of the xz and yz passes, or one pass (twice as fast)")
        self.confidence_check = QCheckBox("keep the xz/yz disagreement map")
        self.confidence_check.setChecked(True)

        form = QFormLayout()
        form.addRow("model", model_row)
        form.addRow("stack", self.layer_combo)
        form.addRow("ratio ρ", self.ratio_spin)
        form.addRow("output", self.target_combo)
        form.addRow("path", path_row)
        form.addRow("tile", self.tile_spin)
        form.addRow("overlap", self.overlap_spin)
        form.addRow("batch", self.batch_spin)
        form.addRow("device", self.device_combo)
        form.addRow("fusion", self.fusion_combo)
        form.addRow("", self.confidence_check)

        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status = QLabel("")
        self.status.setWordWrap(True)

        self.compare_button = QPushButton("Compare with cubic")
        self.compare_button.setCheckable(True)
        self.compare_button.setEnabled(False)
        self.compare_button.setToolTip("cubic and A2I-3DEM side by side, linked view and contrast")
        self.compare_button.toggled.connect(self.compare)
        self.show_confidence = QCheckBox("with confidence map")
        self.ortho_button = QPushButton("Orthogonal views")
        self.ortho_button.clicked.connect(self.open_orthoviews)
        compare_row = QHBoxLayout()
        compare_row.addWidget(self.compare_button)
        compare_row.addWidget(self.show_confidence)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(compare_row)
        layout.addWidget(self.ortho_button)
        layout.addStretch(1)
        self._on_target_changed(self.target_combo.currentText())

    @staticmethod
    def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    # ----------------------------------------------------------------------------- inputs
    def _image_layers(self) -> list[Image]:
        ours = {self.output_layer, self.cubic_layer, self.confidence_layer}
        return [layer for layer in self.viewer.layers
                if isinstance(layer, Image) and layer.ndim == 3 and layer not in ours
                and not layer.multiscale and not layer.rgb]

    def _refresh_layers(self, *_args) -> None:
        current = self.layer_combo.currentText()
        names = [layer.name for layer in self._image_layers()]
        preferred = self.state.stack.layer_name if self.state.stack is not None else None
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        for choice in (preferred, current):
            if choice in names:
                self.layer_combo.setCurrentText(choice)
                break
        self.layer_combo.blockSignals(False)
        self._on_layer_changed(self.layer_combo.currentText())

    def _on_stack_changed(self, settings) -> None:
        if settings is not None:
            self._refresh_layers()

    def _on_model_changed(self, path) -> None:
        if path is not None:
            self.model_edit.setText(str(path))

    def spacing_for(self, name: str) -> tuple[float, float, float] | None:
        """The Load widget's spacing for its stack, else the layer's own (z, y, x) scale."""
        stack = self.state.stack
        if stack is not None and stack.layer_name == name:
            return tuple(stack.spacing)
        if name in self.viewer.layers:
            scale = tuple(float(s) for s in self.viewer.layers[name].scale[-3:])
            if len(scale) == 3:
                return scale
        return None

    def _on_layer_changed(self, name: str) -> None:
        spacing = self.spacing_for(name) if name else None
        if spacing is None:
            return
        try:
            self.ratio_spin.setValue(ratio_from_spacing(spacing))
        except InputError:
            self.ratio_spin.setValue(1.0)

    def _on_target_changed(self, text: str) -> None:
        for widget in self._path_widgets:
            widget.setEnabled(text == FILE_TARGET)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model file", "", "Model (*.pt)")
        if path:
            self.model_edit.setText(path)

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Output volume", "iso.zarr",
                                              "OME-Zarr (*.zarr);;TIFF (*.tif *.tiff)")
        if path:
            self.path_edit.setText(path)

    # ----------------------------------------------------------------------------- running
    @property
    def is_running(self) -> bool:
        return self.worker is not None

    def run(self) -> bool:
        """Start a reconstruction; False (with the reason in the status line) if inputs are bad."""
        if self.is_running:
            return False
        try:
            job = self._prepare()
        except A2IError as exc:
            self._show_status(f"cannot run: {exc}")
            return False
        self.cancel_event.clear()
        self._progress = None
        self.refreshes = 0
        self._started = time.perf_counter()
        self.worker = create_worker(
            _reconstruction_job, _start_thread=False,
            _connect={"yielded": self._on_piece, "returned": self._on_done,
                      "errored": self._on_error, "finished": self._on_finished},
            progress_box=self, **job)
        self._set_running(True)
        self._show_status("reconstructing…")
        self.worker.start()
        return True

    def _prepare(self) -> dict:
        from ..core.model import load_model

        name = self.layer_combo.currentText()
        if not name or name not in self.viewer.layers:
            raise InputError("choose a 3-D image layer as the stack")
        layer = self.viewer.layers[name]
        stack = layer.data
        validate_volume(stack, name=f"layer '{name}'")
        model_text = self.model_edit.text().strip()
        if not model_text:
            raise InputError("no model: train one in the Train widget or choose a model file")
        loaded = load_model(Path(model_text).expanduser())
        ratio = validate_ratio(self.ratio_spin.value())
        validate_tiling(self.tile_spin.value(), self.overlap_spin.value())
        spacing = self.spacing_for(name) or (ratio, 1.0, 1.0)
        iso = isotropic_spacing(spacing)
        shape = output_shape(stack.shape, ratio)
        path = None
        if self.target_combo.currentText() == FILE_TARGET:
            text = self.path_edit.text().strip()
            if not text:
                raise InputError("give an output path ending in .tif or .zarr")
            path = Path(text).expanduser()
        source = getattr(getattr(layer, "source", None), "path", None)
        target = open_target(path, shape, stack.dtype, iso, protect=(source,))
        self._file_target = path is not None
        confidence = (np.zeros(shape, np.float32)
                      if self.confidence_check.isChecked() and self.fusion_combo.currentText()
                      == "mean" else None)
        self._add_layers(layer, target.array, confidence, ratio, iso)
        return {
            "stack": stack, "model": loaded.model, "ratio": ratio, "target": target,
            "confidence": confidence, "cancel": self.cancel_event,
            "settings": {"tile": self.tile_spin.value(), "overlap": self.overlap_spin.value(),
                         "batch": self.batch_spin.value(),
                         "device": self.device_combo.currentText(),
                         "fusion": self.fusion_combo.currentText()},
        }

    def _add_layers(self, source: Image, volume, confidence, ratio: float, iso) -> None:
        """Cubic, output (and confidence) layers with the isotropic scale, replacing old ones."""
        if self.compare_button.isChecked():
            self.compare_button.setChecked(False)
        for layer in (self.output_layer, self.cubic_layer, self.confidence_layer):
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.output_layer = self.cubic_layer = self.confidence_layer = None
        stack = source.data
        n_out = int(np.prod(output_shape(stack.shape, ratio)))
        if n_out <= EAGER_CUBIC_VOXELS and not hasattr(stack, "compute"):
            cubic = cubic_upsample_stack(np.asarray(stack), ratio)
        else:
            import dask.array as da

            lazy = stack if hasattr(stack, "compute") else da.from_array(
                stack, chunks=(-1, 256, 256))
            cubic = cubic_upsample_stack(lazy, ratio)
        translate = tuple(source.translate[-3:])
        common = {"scale": iso, "translate": translate,
                  "contrast_limits": tuple(source.contrast_limits), "colormap": "gray"}
        self.cubic_layer = self.viewer.add_image(cubic, name=f"{source.name} cubic", **common)
        if confidence is not None:
            self.confidence_layer = self.viewer.add_image(
                confidence, name=f"{source.name} xz/yz disagreement", scale=iso,
                translate=translate, colormap="magma", contrast_limits=(0.0, 1.0),
                visible=False)
        self.output_layer = self.viewer.add_image(
            volume, name=f"{source.name} A2I-3DEM", metadata={"a2i3dem_ratio": ratio},
            **common)
        self.compare_button.setEnabled(True)

    def stop(self) -> None:
        """Stop the run within one network batch."""
        if self.is_running:
            self.cancel_event.set()
            self._show_status("stopping…")

    def _on_piece(self, rows: slice) -> None:
        """A slab of rows is final: refresh the layers in place (no re-upload of the volume)."""
        for layer in (self.output_layer, self.confidence_layer):
            if layer is None or layer not in self.viewer.layers:
                continue
            if layer is self.confidence_layer and not layer.visible:
                continue
            if self._slice_shows_rows(layer, rows):
                layer.refresh(extent=False, highlight=False)
                if layer is self.output_layer:
                    self.refreshes += 1
        if self.confidence_layer is not None and self.confidence_layer.visible:
            self._fit_confidence_contrast()
        self._show_progress()

    def _slice_shows_rows(self, layer: Image, rows: slice) -> bool:
        """False when the 2-D view slices y outside ``rows`` (nothing visible changed)."""
        dims = self.viewer.dims
        if dims.ndisplay != 2 or dims.ndim < 3:
            return True
        y_axis = dims.ndim - 2
        if y_axis in dims.displayed:
            return True
        y = (dims.point[y_axis] - layer.translate[-2]) / layer.scale[-2]
        return rows.start - 0.5 <= y < rows.stop - 0.5

    def _fit_confidence_contrast(self) -> None:
        data = self.confidence_layer.data
        high = float(np.percentile(data[:, ::4, ::4], 99.5)) if data.size else 1.0
        self.confidence_layer.contrast_limits = (0.0, max(high, 1e-6))

    def report_progress(self, progress) -> None:
        """Called from the worker thread: only stores the latest progress for the timer."""
        self._progress = progress

    def _show_progress(self) -> None:
        progress = self._progress
        if progress is None:
            return
        self.progress.setValue(int(1000 * progress.fraction))
        self.progress.setFormat(progress.describe())

    def _on_done(self, result) -> None:
        elapsed = time.perf_counter() - self._started
        if self._file_target and self.output_layer is not None and result is not None:
            self.output_layer.data = result  # the committed file, once
        if self.confidence_layer is not None:
            self._fit_confidence_contrast()
        self.progress.setValue(1000)
        self._show_status(f"done in {elapsed:.1f} s")

    def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, Cancelled):
            message = "stopped"
        elif isinstance(exc, A2IError):
            message = f"failed: {exc}"
        else:
            message = f"failed: {type(exc).__name__}: {exc}"
        if self._file_target:  # the partial file was discarded: drop its layer
            if self.output_layer is not None and self.output_layer in self.viewer.layers:
                self.viewer.layers.remove(self.output_layer)
            self.output_layer = None
        elif self.output_layer is not None:
            self.output_layer.name = f"{self.output_layer.name} (partial)"
        self._show_status(message)

    def _on_finished(self) -> None:
        self.worker = None
        self._set_running(False)
        self._show_progress()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if running:
            self._timer.start()
        else:
            self._timer.stop()

    def _show_status(self, text: str) -> None:
        self.status.setText(text)

    # ----------------------------------------------------------------------------- compare
    def compare(self, enabled: bool = True) -> None:
        """Lay the cubic and A2I-3DEM layers (and the confidence map) side by side, or undo it."""
        if enabled:
            layers = [self.cubic_layer, self.output_layer]
            if self.show_confidence.isChecked() and self.confidence_layer is not None:
                layers.append(self.confidence_layer)
            if any(layer is None or layer not in self.viewer.layers for layer in layers):
                self._show_status("run a reconstruction first")
                self.compare_button.setChecked(False)
                return
            grid = viewer_grid(self.viewer)
            self._comparison = {
                "visible": {id(layer): layer.visible for layer in self.viewer.layers},
                "grid": (grid.enabled, tuple(grid.shape), grid.stride),
                "linked": layers[:2],
            }
            for layer in self.viewer.layers:
                layer.visible = layer in layers
            # grid cells follow the layer order: cubic | A2I-3DEM | confidence
            for layer in layers:
                self.viewer.layers.move(self.viewer.layers.index(layer), len(self.viewer.layers))
            self._link(layers[:2])
            grid.stride = 1
            grid.shape = (1, len(layers))
            grid.enabled = True
            self.viewer.reset_view()
        elif self._comparison is not None:
            saved, self._comparison = self._comparison, None
            enabled_before, shape, stride = saved["grid"]
            grid = viewer_grid(self.viewer)
            grid.enabled = enabled_before
            grid.shape = shape
            grid.stride = stride
            self._unlink(saved["linked"])
            for layer in self.viewer.layers:
                layer.visible = saved["visible"].get(id(layer), layer.visible)
            if self.output_layer in self.viewer.layers:
                index = self.viewer.layers.index(self.output_layer)
                self.viewer.layers.move(index, len(self.viewer.layers))
        if self.compare_button.isChecked() != enabled:
            self.compare_button.blockSignals(True)
            self.compare_button.setChecked(enabled and self._comparison is not None)
            self.compare_button.blockSignals(False)

    @staticmethod
    def _link(layers) -> None:
        layers[1].contrast_limits = layers[0].contrast_limits
        with contextlib.suppress(ValueError):  # already linked
            link_layers(layers, LINKED_ATTRIBUTES)

    @staticmethod
    def _unlink(layers) -> None:
        with contextlib.suppress(ValueError, KeyError):
            unlink_layers(layers, LINKED_ATTRIBUTES)

    # ----------------------------------------------------------------------------- ortho
    def open_orthoviews(self):
        """Open (or show again) the xz / yz views dock; returns its widget."""
        from .orthoviews import OrthoViewsWidget

        existing = self._ortho_dock() if self._ortho_dock is not None else None
        if existing is not None and not existing.views.closed:
            if existing.parentWidget() is not None:
                existing.parentWidget().show()
            return existing
        widget = OrthoViewsWidget(self.viewer)
        self.viewer.window.add_dock_widget(widget, name="Orthogonal views", area="right")
        self._ortho_dock = weakref.ref(widget)
        return widget


def _reconstruction_job(stack, model, ratio, target, confidence, cancel, settings, progress_box):
    """Worker-thread generator: write each slab into the target, yield its rows, commit."""
    try:
        for piece in reconstruct(stack, model, ratio, cancel=cancel,
                                 confidence=confidence is not None,
                                 on_progress=progress_box.report_progress, **settings):
            target.write(piece.rows, piece.data)
            if confidence is not None and piece.confidence is not None:
                confidence[:, piece.rows] = piece.confidence
            yield piece.rows
        return target.commit()
    except BaseException:
        target.discard()
        raise


def viewer_grid(viewer):
    """The viewer's grid settings: ``viewer.canvas.grid`` (napari >= 0.9), else ``viewer.grid``."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid
