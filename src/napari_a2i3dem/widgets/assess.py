"""The "Assess resolution" dock widget: lateral versus axial resolution of any image layer.

A thin layer over :func:`napari_a2i3dem.core.analysis.resolution.iter_assess_stack` (decorrelation
analysis, no reference needed), run in a napari ``thread_worker``. Each measurement is appended
to a table, so the raw stack, its cubic interpolation and the A2I-3DEM reconstruction can be
compared side by side.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from napari.layers import Image
from napari.qt.threading import thread_worker
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.analysis.resolution import StackResolution, iter_assess_stack
from ..core.errors import A2IError, InputError
from ..core.validation import ratio_from_spacing
from ..layers import layer_spacing, layer_volume, stack_layers
from ._shared import plugin_state

if TYPE_CHECKING:
    import napari

COLUMNS = ("layer", "xy (nm)", "xz (nm)", "yz (nm)", "axial / lateral")


def _layer_volume(layer: Image):
    """The full-resolution (z, y, x) data of ``layer``; :class:`InputError` says why not."""
    data = layer_volume(layer)
    if layer.rgb:
        raise InputError(f"layer '{layer.name}' is RGB; assess a single grey channel")
    if data.ndim != 3:
        raise InputError(
            f"layer '{layer.name}' is {data.ndim}-D; assess needs a 3-D (z, y, x) stack")
    return data


def _format_nm(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1f}"


class AssessWidget(QWidget):
    """Pick an image layer, press *Measure*: resolution in xy, along z in xz and yz, and ratio."""

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.last_result: StackResolution | None = None

        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("3-D image layer to assess")
        self.spacing_boxes = []
        spacing_row = QHBoxLayout()
        for axis in "zyx":
            box = QDoubleSpinBox()
            box.setRange(1e-3, 1e6)
            box.setDecimals(3)
            box.setValue(1.0)
            box.setSuffix(" nm")
            box.setToolTip(f"voxel spacing along {axis} in nm")
            spacing_row.addWidget(QLabel(axis))
            spacing_row.addWidget(box)
            self.spacing_boxes.append(box)
        self.planes_box = QSpinBox()
        self.planes_box.setRange(1, 64)
        self.planes_box.setValue(5)
        self.planes_box.setToolTip("planes measured per orientation (median reported)")

        self.measure_button = QPushButton("Measure")
        self.measure_button.setToolTip("decorrelation analysis of xy, xz and yz planes")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("stop the measurement in progress")
        self.cancel_button.setEnabled(False)
        self.check_button = QPushButton("Check model")
        self.check_button.setToolTip(
            "does the trained model (the one Train saved or Reconstruct uses) beat cubic "
            "interpolation on the chosen anisotropic stack? Checked without any truth")
        self.check_label = QLabel("")
        self.check_label.setWordWrap(True)
        self.check_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Choose a layer and press Measure.")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setToolTip("one row per measured layer: resolution along each axis (nm) and "
                              "the axial / lateral ratio")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setMinimumHeight(120)

        form = QFormLayout()
        form.addRow("Layer", self.layer_combo)
        form.addRow("Spacing", spacing_row)
        form.addRow("Planes", self.planes_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.measure_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.check_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.table)
        layout.addWidget(self.check_label)
        note = QLabel("Resolution = 1 / highest frequency carrying signal (decorrelation "
                      "analysis, Descloux et al. 2019); xz / yz are measured along z. No "
                      "reference needed.")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addStretch()

        self.measure_button.clicked.connect(self.measure)
        self.cancel_button.clicked.connect(self.cancel)
        self.check_button.clicked.connect(self.check_model)
        self.check_worker = None
        self.layer_combo.currentTextChanged.connect(self._fill_spacing)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self.viewer.layers.events.moved.connect(self._refresh_layers)
        self._refresh_layers()

    # --- layer list and spacing --------------------------------------------------------------
    def _image_layers(self) -> list[Image]:
        return stack_layers(self.viewer.layers, include_outputs=True)  # it measures outputs too

    def _refresh_layers(self, event=None) -> None:
        current = self.layer_combo.currentText()
        names = [layer.name for layer in self._image_layers()]
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        if current in names:
            self.layer_combo.setCurrentText(current)
        self.layer_combo.blockSignals(False)
        if event is not None and getattr(event, "type", "") == "inserted":
            layer = event.value
            layer.events.name.connect(self._refresh_layers)
        if self.layer_combo.currentText() != current:
            self._fill_spacing(self.layer_combo.currentText())
        self.measure_button.setEnabled(bool(names) and self.worker is None)

    def _fill_spacing(self, name: str) -> None:
        """Spacing of the layer: the Load widget's corrected value if it chose this layer, else
        the layer's scale (napari world units, taken as nm)."""
        if not name or name not in self.viewer.layers:
            return
        spacing = layer_spacing(self.viewer.layers[name], plugin_state(self.viewer).stack)
        if spacing is None:
            return
        for box, value in zip(self.spacing_boxes, spacing, strict=True):
            box.setValue(value)

    def spacing(self) -> tuple[float, float, float]:
        return tuple(box.value() for box in self.spacing_boxes)  # type: ignore[return-value]

    # --- measuring ---------------------------------------------------------------------------
    def measure(self) -> None:
        """Start the measurement of the chosen layer in a worker thread."""
        name = self.layer_combo.currentText()
        if not name or self.worker is not None:
            return
        try:
            volume = _layer_volume(self.viewer.layers[name])
        except A2IError as exc:
            self.status.setText(f"Cannot assess: {exc}")
            return
        spacing, planes = self.spacing(), self.planes_box.value()

        @thread_worker(ignore_errors=True)  # errors are shown by _on_error
        def work():
            return (yield from iter_assess_stack(volume, spacing, planes=planes))

        worker = work()
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(lambda result: self._on_result(name, result))
        worker.errored.connect(self._on_error)
        worker.aborted.connect(lambda: self.status.setText("Measurement cancelled."))
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.measure_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 3 * planes)
        self.progress.setValue(0)
        self.status.setText(f"Measuring '{name}' ...")
        worker.start()

    def check_model(self) -> None:
        """Run the no-truth model check (training.model_check) of the viewer's model on the chosen
        layer, taken as the anisotropic stack, in a worker thread."""
        name = self.layer_combo.currentText()
        model_path = plugin_state(self.viewer).model_path
        if model_path is None:
            self.check_label.setText("No model yet: train one, or choose a model file in "
                                     "Reconstruct.")
            return
        if not name or self.check_worker is not None:
            return
        try:
            volume = _layer_volume(self.viewer.layers[name])
            ratio = ratio_from_spacing(self.spacing())
        except A2IError as exc:
            self.check_label.setText(f"Cannot check: {exc}")
            return

        @thread_worker(ignore_errors=True)
        def work():
            from ..core.training.model_check import check_model

            return check_model(volume, model_path, ratio)

        worker = work()
        worker.returned.connect(self._on_check)
        worker.errored.connect(lambda exc: self.check_label.setText(f"Check failed: {exc}"))
        worker.finished.connect(self._on_check_finished)
        self.check_worker = worker
        self.check_button.setEnabled(False)
        self.check_label.setStyleSheet("")
        self.check_label.setText(f"Checking {model_path.name} on '{name}' ...")
        worker.start()

    def _on_check(self, check) -> None:
        self.last_check = check
        self.check_label.setStyleSheet("" if check.passed else "color: #e0504d;")
        self.check_label.setText(check.summary())

    def _on_check_finished(self) -> None:
        self.check_worker = None
        self.check_button.setEnabled(True)

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.quit()

    def _on_progress(self, step: tuple[int, int]) -> None:
        done, total = step
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_result(self, name: str, result: StackResolution) -> None:
        self.last_result = result
        row = self.table.rowCount()
        self.table.insertRow(row)
        values = (name, _format_nm(result.lateral), _format_nm(result.xz), _format_nm(result.yz),
                  "–" if not np.isfinite(result.anisotropy) else f"{result.anisotropy:.2f}")
        for column, text in enumerate(values):
            self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.status.setText(
            f"'{name}': xy {_format_nm(result.lateral)} nm, xz {_format_nm(result.xz)} nm, "
            f"yz {_format_nm(result.yz)} nm; axial / lateral = {result.anisotropy:.2f}")

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"Measurement failed: {exc}")
        if not isinstance(exc, A2IError):  # a bug, not bad input: let napari report it
            raise exc

    def _on_finished(self) -> None:
        self.worker = None
        self.cancel_button.setEnabled(False)
        self.measure_button.setEnabled(self.layer_combo.count() > 0)
