"""The "Load anisotropic stack" dock widget: choose the stack and confirm its voxel spacing.

Pick an Image layer (the list follows ``viewer.layers``) or open a TIFF; the widget shows shape,
dtype, whether the data are lazy, and the spacing the file carried. Two spin boxes correct the
lateral and axial spacing in nm; rho = axial / lateral and the isotropic output shape
``(round(Z * rho), Y, X)`` update as you type. "Use this stack" sets the layer's ``scale`` and
publishes :class:`~napari_a2i3dem.widgets._shared.StackSettings` through ``plugin_state(viewer)``,
where the Training-pairs, Train and Reconstruct widgets read it. Lazy (dask) layers stay lazy:
only their shape and dtype are looked at.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
from napari.layers import Image
from napari.qt.threading import create_worker
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from .._reader import layer_data
from ..core.errors import A2IError, InputError
from ..core.io.lazy import is_dask
from ..core.io.tiff import read_stack
from ..core.physics.acquisition import isotropic_length
from ..core.validation import validate_volume
from ..layers import scale_spacing
from ._shared import StackSettings, is_helper, plugin_state

SPACING_RANGE_NM = (0.001, 1e6)
ERROR_STYLE = "color: #e05555;"
SOURCE_NAMES = {"imagej": "ImageJ header", "ome": "OME metadata",
                "tiff-resolution": "TIFF resolution tags (lateral only)", "sample": "sample data",
                "user": "this widget"}


def _spin(tooltip: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(*SPACING_RANGE_NM)
    spin.setDecimals(3)
    spin.setSingleStep(1.0)
    spin.setSuffix(" nm")
    spin.setKeyboardTracking(True)
    spin.setToolTip(tooltip)
    spin.setMinimumWidth(140)  # "40.000 nm" and wider values stay readable
    return spin


def _read_or_error(path) -> tuple[object | None, str]:
    """read_stack in a worker: ``(LoadedStack, "")`` or ``(None, reason)`` to show inline."""
    try:
        return read_stack(path), ""
    except A2IError as exc:
        return None, str(exc)


class LoadStackWidget(QWidget):
    """Choose the anisotropic stack and its spacing for the other A2I-3DEM widgets."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.state = plugin_state(napari_viewer)
        self._worker = None
        self._lateral_yx: tuple[float, float] = (1.0, 1.0)

        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("Image layer holding the anisotropic (z, y, x) stack")
        self.open_button = QPushButton("Open file…")
        self.open_button.setToolTip("Open a TIFF stack (its spacing is read from the file)")
        chooser = QHBoxLayout()
        chooser.addWidget(self.layer_combo, 1)
        chooser.addWidget(self.open_button)

        self.info_label = QLabel("No image layer.")
        self.info_label.setWordWrap(True)
        self.lateral_spin = _spin("Lateral (x, y) pixel size in nm")
        self.axial_spin = _spin("Axial (z) section spacing in nm")
        self.ratio_label = QLabel("–")
        self.output_label = QLabel("–")
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.apply_button = QPushButton("Use this stack")
        self.apply_button.setToolTip("Set the layer's scale and hand the stack and spacing to the "
                                     "Training-pairs, Train and Reconstruct widgets")

        form = QFormLayout()
        form.addRow("Lateral spacing (x, y)", self.lateral_spin)
        form.addRow("Axial spacing (z)", self.axial_spin)
        form.addRow("Ratio ρ = axial / lateral", self.ratio_label)
        form.addRow("Isotropic output shape", self.output_label)

        layout = QVBoxLayout(self)
        layout.addLayout(chooser)
        layout.addWidget(self.info_label)
        layout.addLayout(form)
        layout.addWidget(self.message_label)
        layout.addWidget(self.apply_button)
        layout.addStretch(1)

        self.layer_combo.currentIndexChanged.connect(self._on_layer_chosen)
        self.open_button.clicked.connect(self._ask_file)
        self.lateral_spin.valueChanged.connect(self._update_summary)
        self.axial_spin.valueChanged.connect(self._update_summary)
        self.apply_button.clicked.connect(self.apply)
        events = self.viewer.layers.events
        events.inserted.connect(self._on_inserted)
        events.removed.connect(self._on_removed)
        events.moved.connect(self.refresh_layers)
        for layer in self.viewer.layers:
            layer.events.name.connect(self.refresh_layers)
        self.refresh_layers()

    # ------------------------------------------------------------------------------- layers
    def _image_layers(self) -> list[Image]:
        """Image layers a user may pick as the stack (not the plugin's previews / outputs)."""
        return [layer for layer in self.viewer.layers
                if isinstance(layer, Image) and not is_helper(layer)]

    def refresh_layers(self, *_args) -> None:
        """Rebuild the layer list from the viewer, keeping the current choice if it still exists."""
        current = self.layer_combo.currentText()
        names = [layer.name for layer in self._image_layers()]
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        if current in names:
            self.layer_combo.setCurrentIndex(names.index(current))
        self.layer_combo.blockSignals(False)
        self._on_layer_chosen()

    def _on_inserted(self, event) -> None:
        layer = event.value
        layer.events.name.connect(self.refresh_layers)
        self.refresh_layers()
        if isinstance(layer, Image) and not is_helper(layer) and self._follows_new_layers():
            self.select_layer(layer.name)  # a freshly opened stack is most likely the one wanted

    def _follows_new_layers(self) -> bool:
        """Follow a newly added layer only until the user has confirmed a stack."""
        return self.state.stack is None

    def _on_removed(self, event) -> None:
        layer = event.value
        layer.events.name.disconnect(self.refresh_layers)
        if self.state.stack is not None and self.state.stack.layer_name == layer.name:
            self.state.set_stack(None)
        self.refresh_layers()

    def select_layer(self, name: str) -> None:
        """Choose the Image layer called ``name``."""
        index = self.layer_combo.findText(name)
        if index < 0:
            raise InputError(f"no Image layer called {name!r}")
        self.layer_combo.setCurrentIndex(index)
        self._on_layer_chosen()

    def selected_layer(self) -> Image | None:
        name = self.layer_combo.currentText()
        for layer in self._image_layers():
            if layer.name == name:
                return layer
        return None

    # ------------------------------------------------------------------------------- files
    def _ask_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open anisotropic EM stack", "",
                                              "TIFF stacks (*.tif *.tiff *.TIF *.TIFF)")
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path):
        """Read ``path`` in a worker thread and add it as an Image layer (returns the worker)."""
        self._show_message(f"Opening {Path(path).name}…", error=False)
        self.open_button.setEnabled(False)
        worker = create_worker(_read_or_error, path)
        worker.returned.connect(self._on_file_read)
        worker.finished.connect(lambda: self.open_button.setEnabled(True))
        self._worker = worker
        worker.start()
        return worker

    def _on_file_read(self, result: tuple) -> None:
        loaded, reason = result
        if loaded is None:
            self._show_message(reason, error=True)
            return
        data, kwargs, _ = layer_data(loaded)
        self.viewer.add_image(data, **kwargs)
        self._show_message("", error=False)
        self._on_layer_chosen()

    # ------------------------------------------------------------------------------- spacing
    def _on_layer_chosen(self, *_args) -> None:
        layer = self.selected_layer()
        if layer is None:
            self.info_label.setText("No image layer: open a TIFF stack or add one to the viewer.")
            self._set_spins(None)
            self._update_summary()
            return
        self.info_label.setText(self._describe(layer))
        spacing = self._known_spacing(layer)
        self._set_spins(spacing)
        self._update_summary()

    def _describe(self, layer: Image) -> str:
        data = layer.data
        shape = " × ".join(str(n) for n in data.shape)
        lazy = "lazy (dask), read on demand" if is_dask(data) else "in memory"
        meta = layer.metadata or {}
        source = meta.get("spacing_source")
        if meta.get("spacing"):
            spacing = " × ".join(f"{v:g}" for v in meta["spacing"])
            where = SOURCE_NAMES.get(source, source) or "the layer's metadata"
            origin = f"{spacing} nm (z × y × x) from {where}"
        elif meta.get("lateral_spacing"):
            y, x = meta["lateral_spacing"]
            origin = f"lateral {y:g} × {x:g} nm from the file; axial spacing not in the file"
        elif source == "none":
            origin = "not in the file: enter it below"
        else:
            origin = "layer scale " + " × ".join(f"{v:g}" for v in layer.scale)
        file = meta.get("source_path")
        where = f"<br>File: {html.escape(Path(file).name, quote=False)}" if file else ""
        notes = "".join(f"<br><i>Note: {html.escape(str(note), quote=False)}</i>"
                        for note in meta.get("notes", ()) if "spacing" not in str(note))
        return (f"Shape {shape}, {np.dtype(data.dtype)}, {lazy}.<br>Spacing: {origin}{where}"
                f"{notes}")

    @staticmethod
    def _known_spacing(layer: Image) -> tuple[float, float, float] | None:
        """(z, y, x) nm from a 3-D layer's calibrated scale (None: napari's default ones)."""
        return None if layer.ndim < 3 else scale_spacing(layer.scale, layer.metadata)

    def _set_spins(self, spacing: tuple[float, float, float] | None) -> None:
        for spin in (self.lateral_spin, self.axial_spin):
            spin.blockSignals(True)
        if spacing is None:
            self._lateral_yx = (1.0, 1.0)
            self.lateral_spin.setValue(1.0)
            self.axial_spin.setValue(1.0)
        else:
            z, y, x = spacing
            self._lateral_yx = (y, x)
            self.lateral_spin.setValue((y + x) / 2.0)
            self.axial_spin.setValue(z)
        for spin in (self.lateral_spin, self.axial_spin):
            spin.blockSignals(False)

    def current_spacing(self) -> tuple[float, float, float]:
        """(z, y, x) nm from the spin boxes (y and x keep their ratio from the layer)."""
        lateral = self.lateral_spin.value()
        y, x = self._lateral_yx
        mean = (y + x) / 2.0
        return (self.axial_spin.value(), lateral * y / mean, lateral * x / mean)

    def ratio(self) -> float:
        """rho = axial / lateral as entered (may be < 1, which is reported as an error)."""
        return self.axial_spin.value() / self.lateral_spin.value()

    def output_shape(self) -> tuple[int, int, int] | None:
        layer = self.selected_layer()
        if layer is None or self._volume_problem(layer) or self.ratio() < 1.0:
            return None
        z, y, x = (int(n) for n in layer.data.shape)
        return (isotropic_length(z, self.ratio()), y, x)

    @staticmethod
    def _volume_problem(layer: Image) -> str | None:
        """Why the layer cannot be reconstructed, or None (never reads lazy data)."""
        if layer.rgb:
            return (f"{layer.name!r} is an RGB(A) image; A2I-3DEM needs a single-channel "
                    "3-D (z, y, x) stack")
        try:
            validate_volume(layer.data, name=repr(layer.name), check_values=False)
        except InputError as exc:
            return str(exc)
        return None

    def _update_summary(self, *_args) -> None:
        layer = self.selected_layer()
        problem = None if layer is None else self._volume_problem(layer)
        rho = self.ratio()
        self.ratio_label.setText(f"{rho:.4g}")
        shape = self.output_shape()
        self.output_label.setText("–" if shape is None else " × ".join(str(n) for n in shape))
        if layer is None:
            self._show_message("", error=False)
        elif problem is not None:
            self._show_message(problem, error=True)
        elif rho < 1.0:
            self._show_message(
                f"ρ = {rho:.4g} < 1: the axial (z) spacing must be at least the lateral spacing; "
                "A2I-3DEM refines the coarse z axis.", error=True)
        elif self._known_spacing(layer) is None:
            self._show_message("This layer carries no voxel spacing: enter the lateral and axial "
                               "spacing, then press 'Use this stack'.", error=False)
        else:
            self._show_message("", error=False)
        self.apply_button.setEnabled(layer is not None and problem is None and rho >= 1.0)

    def _show_message(self, text: str, *, error: bool) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet(ERROR_STYLE if error else "")

    # ------------------------------------------------------------------------------- apply
    def apply(self) -> StackSettings | None:
        """Set the chosen layer's scale to the entered spacing and publish it; None on error."""
        layer = self.selected_layer()
        if layer is None:
            self._show_message("Choose an Image layer first.", error=True)
            return None
        problem = self._volume_problem(layer)
        if problem is None and self.ratio() < 1.0:
            problem = f"ρ = {self.ratio():.4g} < 1: the axial spacing must be at least the lateral"
        if problem is None and isinstance(layer.data, np.ndarray):
            try:
                validate_volume(layer.data, name=repr(layer.name))
            except InputError as exc:
                problem = str(exc)
        if problem is not None:
            self._show_message(problem, error=True)
            return None
        spacing = tuple(float(v) for v in self.current_spacing())
        if not all(math.isfinite(v) and v > 0 for v in spacing):
            self._show_message(f"invalid spacing {spacing}", error=True)
            return None
        layer.scale = spacing
        meta = dict(layer.metadata or {})
        previous = meta.get("spacing")
        if previous is None or not np.allclose(previous, spacing, rtol=1e-9):
            meta["spacing_source"] = "user"
        meta["spacing"] = spacing
        layer.metadata = meta
        settings = StackSettings(layer_name=layer.name, spacing=spacing)  # type: ignore[arg-type]
        self.state.set_stack(settings)
        self.info_label.setText(self._describe(layer))
        self._show_message(f"Using {layer.name!r}: ρ = {settings.ratio:.4g}, spacing "
                           + " × ".join(f"{v:g}" for v in spacing) + " nm (z × y × x).",
                           error=False)
        return settings
