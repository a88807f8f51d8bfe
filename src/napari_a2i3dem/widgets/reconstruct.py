"""The "Reconstruct" dock widget: stream the isotropic volume into napari while it is computed.

Everything slow runs in one napari worker (:func:`_reconstruction_job`): reading the model, the
cubic reference, opening the output and the network itself. The cubic layer appears first (seconds
in), the A2I-3DEM layer on top of it with unfinished voxels transparent, so the view is never black;
the engine then yields pieces of a few planes (early yz-only columns, then the fused rows) that are
written into the output layer's own array (memory, or the memory map / zarr array of a file target)
and the layer is refreshed in place at most five times a second. *Preview plane* reconstructs one
xz plane in seconds, shown next to cubic, before committing to the whole volume. "Compare" lays
the cubic and A2I-3DEM layers side by side (napari grid mode: one shared camera and dims; contrast
linked with ``napari.experimental.link_layers``), optionally with the xz/yz disagreement map.
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
from napari.utils.colormaps import Colormap
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
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.devices import available_devices, torch_threads
from ..core.errors import A2IError, Cancelled, InputError, OutputExists
from ..core.inference.reconstruction import (
    cubic_upsample_stack,
    isotropic_spacing,
    output_shape,
    reconstruct,
    reconstruct_xz_plane,
)
from ..core.inference.tiling import DEFAULT_SIZE_MULTIPLE, tile_advice
from ..core.inference.upsampled_view import UpsampledView
from ..core.io.outputs import check_output_path, open_target
from ..core.jobs import stream_into
from ..core.settings import ReconstructionSettings
from ..core.validation import ratio_from_spacing, validate_ratio, validate_volume
from ..layers import layer_spacing, layer_volume, stack_layers
from ._image_strip import ImageStrip, display_limits
from ._section import Section
from ._settings_controls import setting_combo, setting_spin, spin_setting
from ._shared import OUTPUT_ROLE, ROLE_KEY, plugin_state, settle_heap
from ._tasks import named_task

MEMORY_TARGET = "in memory"
FILE_TARGET = "file (.tif / .zarr)"
LINKED_ATTRIBUTES = ("contrast_limits", "gamma")
#: Above this many output voxels the cubic layer stays a lazy dask array.
EAGER_CUBIC_VOXELS = 64 * 2**20
REFRESH_MS = 200
#: grey, with the lowest value transparent: voxels not computed yet show the cubic layer below
STREAMING_COLORMAP = Colormap(colors=[[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1]],
                              controls=[0.0, 1e-3, 1.0], name="gray (unfinished transparent)")
CUBIC_OPACITY_WHILE_RUNNING = 0.55
#: the worker waits at most this long for napari to show the output layers before computing
LAYERS_SHOWN_TIMEOUT = 10.0
#: after adding a layer, the worker waits this long more: napari draws the new layer (its shaders
#: compiled, its texture uploaded) a few turns later, on an idle CPU if the network has not started
LAYER_SETTLE_MS = 150
ERROR_STYLE = "color: #e0504d;"


def _set_cancel(event: threading.Event, *_args) -> None:
    event.set()


class _ModelCache:
    """The last model read from disk (worker threads share it; keyed by path and mtime)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._loaded = None

    def get(self, path: Path):
        from ..core.model import load_model

        path = Path(path)
        try:
            key = (str(path.resolve()), path.stat().st_mtime_ns)
        except OSError as exc:
            raise InputError(f"cannot read the model file {path}: {exc}") from exc
        with self._lock:
            if key != self._key:
                self._loaded, self._key = load_model(path), key
            return self._loaded


MODELS = _ModelCache()


def _model_info(path: Path):
    """Worker: the loaded model's description, its ratio and the multiple it pads tiles to."""
    from ..core.model import describe_model
    from ..core.model.inputs import size_multiple

    loaded = MODELS.get(path)
    return describe_model(loaded), float(loaded.ratio), size_multiple(loaded.model)


class ReconstructWidget(QWidget):
    """Pick a model and a stack, preview a plane, run the reconstruction and compare with cubic."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.state = plugin_state(napari_viewer)
        self.cancel_event = threading.Event()
        self.output_layer: Image | None = None
        self.cubic_layer: Image | None = None
        self.confidence_layer: Image | None = None
        self.worker = None
        self.preview_worker = None
        self.info_worker = None
        self.model_ratio: float | None = None
        self._model_description = ""
        #: the chosen model's tile size multiple (the default network's until it is read)
        self.model_multiple = DEFAULT_SIZE_MULTIPLE
        self.refreshes = 0
        self._progress = None
        self._started = 0.0
        self._file_target = False
        self._dirty_rows: list[tuple[slice, slice]] = []  # (planes, rows) of new pieces
        self._replace_confirmed: Path | None = None
        self._comparison: dict | None = None
        self._ortho_dock = None
        self._build()
        self._refresh_layers()
        if self.state.model_path is not None:
            self.model_edit.setText(str(self.state.model_path))
            self._on_model_text()
        self.state.model_changed.connect(self._on_model_changed)
        self.state.stack_changed.connect(self._on_stack_changed)
        napari_viewer.layers.events.inserted.connect(self._refresh_layers)
        napari_viewer.layers.events.removed.connect(self._refresh_layers)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._on_tick)
        # Closing the viewer stops a run; the slot holds the event only, not the widget.
        self.destroyed.connect(functools.partial(_set_cancel, self.cancel_event))

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("the model trained in this session, or a file")
        self.model_edit.setToolTip("model file (.pt) written by Train or `a2i3dem train`")
        self.model_edit.editingFinished.connect(self._on_model_text)
        model_browse = QPushButton("…")
        model_browse.setToolTip("choose a model file")
        model_browse.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit)
        model_row.addWidget(model_browse)
        self.model_info = QLabel("")
        self.model_info.setWordWrap(True)

        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("the anisotropic stack to reconstruct")
        self.layer_combo.currentTextChanged.connect(self._on_layer_changed)
        self.ratio_spin = QDoubleSpinBox()
        self.ratio_spin.setRange(1.0, 100.0)
        self.ratio_spin.setDecimals(3)
        self.ratio_spin.setToolTip("up-sampling ratio z spacing / xy spacing (from the stack; "
                                   "the model's ratio is shown above)")
        self.ratio_spin.valueChanged.connect(self._check_ratio)

        self.target_combo = QComboBox()
        self.target_combo.addItems([MEMORY_TARGET, FILE_TARGET])
        self.target_combo.setToolTip("keep the volume in memory, or write it to a file as it is "
                                     "computed (.zarr for volumes larger than memory)")
        self.target_combo.currentTextChanged.connect(self._on_target_changed)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("iso.zarr (larger than memory) or iso.tif")
        self.path_edit.setToolTip("output file; never one of your inputs, written atomically")
        path_browse = QPushButton("…")
        path_browse.setToolTip("choose the output file")
        path_browse.clicked.connect(self._browse_output)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit)
        path_row.addWidget(path_browse)
        self._path_widgets = (self.path_edit, path_browse)

        # bounds, defaults, choices and tooltips: core.settings, as on the command line
        self.tile_spin = setting_spin(ReconstructionSettings, "tile")
        self.tile_spin.setSingleStep(32)
        self.overlap_spin = setting_spin(ReconstructionSettings, "overlap")
        self.batch_spin = setting_spin(ReconstructionSettings, "batch")
        self.device_combo = setting_combo(ReconstructionSettings, "device",
                                          ("auto", *available_devices()))
        self.threads_spin = setting_spin(ReconstructionSettings, "threads", none_text="all",
                                         maximum=256)
        self.fusion_combo = setting_combo(ReconstructionSettings, "fusion")
        self.confidence_check = QCheckBox("keep the xz/yz disagreement map")
        self.confidence_check.setToolTip("a layer showing where the two passes disagree "
                                         "(where the network is least certain)")
        self.confidence_check.setChecked(True)
        # shown when the tile size makes the network compute far more voxels than it returns
        self.tile_hint = QLabel("")
        self.tile_hint.setWordWrap(True)
        self.tile_hint_button = QPushButton("Use tile")
        self.tile_hint_button.setToolTip("set the engine's tile size to the one named here")
        self.tile_hint_button.clicked.connect(self._use_hinted_tile)
        hint_row = QHBoxLayout()
        hint_row.setContentsMargins(0, 0, 0, 0)
        hint_row.addWidget(self.tile_hint, 1)
        hint_row.addWidget(self.tile_hint_button)
        self.tile_hint_box = QWidget()
        self.tile_hint_box.setLayout(hint_row)
        self.tile_hint_box.setVisible(False)
        self._hinted_tile: int | None = None
        for spin in (self.ratio_spin, self.tile_spin, self.overlap_spin):
            spin.valueChanged.connect(self._update_tile_hint)

        form = QFormLayout()
        form.addRow("model", model_row)
        form.addRow("", self.model_info)
        form.addRow("stack", self.layer_combo)
        form.addRow("ratio ρ", self.ratio_spin)
        form.addRow("output", self.target_combo)
        form.addRow("path", path_row)
        form.addRow("", self.tile_hint_box)
        engine = QWidget()
        engine_form = QFormLayout(engine)
        engine_form.setContentsMargins(4, 0, 0, 0)
        engine_form.addRow("tile", self.tile_spin)
        engine_form.addRow("overlap", self.overlap_spin)
        engine_form.addRow("batch", self.batch_spin)
        engine_form.addRow("device", self.device_combo)
        engine_form.addRow("CPU threads", self.threads_spin)
        engine_form.addRow("fusion", self.fusion_combo)
        engine_form.addRow("", self.confidence_check)
        self.engine_section = Section("Engine settings (tiles, device, threads, fusion)",
                                      engine, expanded=False, bold=False)

        self.preview_row_spin = self._spin(0, 0, 0, "the y row of the xz plane to preview "
                                           "(starts in the middle of the stack)")
        self.preview_button = QPushButton("Preview plane")
        self.preview_button.setToolTip("reconstruct one xz plane in seconds and show it next to "
                                       "cubic, before running the whole volume")
        self.preview_button.clicked.connect(self.preview_plane)
        preview_row = QHBoxLayout()
        preview_row.addWidget(QLabel("xz plane at y"))
        preview_row.addWidget(self.preview_row_spin)
        preview_row.addWidget(self.preview_button, 1)
        self.preview_strip = ImageStrip(("cubic", "A2I-3DEM"), height=150)
        self.preview_strip.setVisible(False)
        self.preview_label = QLabel("")
        self.preview_label.setWordWrap(True)

        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("reconstruct the whole volume; it streams into the viewer")
        self.run_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("stop within one network batch; the partial volume stays")
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
        self.compare_button.setToolTip("cubic and A2I-3DEM side by side, linked view and contrast; "
                                       "press again to go back")
        self.compare_button.toggled.connect(self.compare)
        self.show_confidence = QCheckBox("with disagreement map")
        self.show_confidence.setToolTip("add the xz/yz disagreement map as a third panel")
        self.ortho_button = QPushButton("Orthogonal views")
        self.ortho_button.setToolTip("xz and yz views of every layer, linked to the main viewer")
        self.ortho_button.clicked.connect(self.open_orthoviews)
        compare_row = QHBoxLayout()
        compare_row.addWidget(self.compare_button)
        compare_row.addWidget(self.show_confidence)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.engine_section)
        layout.addLayout(preview_row)
        layout.addWidget(self.preview_strip)
        layout.addWidget(self.preview_label)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(compare_row)
        layout.addWidget(self.ortho_button)
        layout.addStretch(1)
        self._on_target_changed(self.target_combo.currentText())

    @staticmethod
    def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:  # not a setting
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setToolTip(tip)
        return spin

    def engine_settings(self) -> ReconstructionSettings:
        """The engine controls as validated settings (one line naming a bad one)."""
        return ReconstructionSettings.parse(
            tile=self.tile_spin.value(), overlap=self.overlap_spin.value(),
            batch=self.batch_spin.value(), device=self.device_combo.currentText(),
            fusion=self.fusion_combo.currentText(),
            threads=spin_setting(ReconstructionSettings, "threads", self.threads_spin))

    # ----------------------------------------------------------------------------- inputs
    def _image_layers(self) -> list[Image]:
        return stack_layers(self.viewer.layers,
                            exclude=(self.output_layer, self.cubic_layer, self.confidence_layer))

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
            self._on_model_text()

    def _on_model_text(self) -> None:
        """Read the chosen model's facts in a worker; show them and check its ratio."""
        text = self.model_edit.text().strip()
        self.model_ratio = None
        self.model_multiple = DEFAULT_SIZE_MULTIPLE
        if not text:
            self._show_model_info("", error=False)
            return
        self._show_model_info("reading the model…", error=False)
        worker = create_worker(_model_info, Path(text).expanduser(), _start_thread=False)
        worker.returned.connect(functools.partial(self._on_model_info, text))
        worker.errored.connect(lambda exc: self._show_model_info(str(exc), error=True))
        self.info_worker = worker
        worker.finished.connect(self._on_info_finished)
        worker.start()

    def _on_info_finished(self) -> None:
        self.info_worker = None

    def _on_model_info(self, text: str, info: tuple[str, float, int]) -> None:
        if text != self.model_edit.text().strip():
            return  # an older answer
        self._model_description, self.model_ratio, self.model_multiple = info
        self._check_ratio()
        self._update_tile_hint()

    def _check_ratio(self, *_args) -> None:
        """Show the model's facts, in red with a warning when its ratio is not the stack's."""
        if self.model_ratio is None:
            return
        spacing = self.spacing_for(self.layer_combo.currentText())
        try:
            stack_ratio = None if spacing is None else ratio_from_spacing(spacing)
        except InputError:
            stack_ratio = None
        ratio = self.ratio_spin.value()
        if abs(ratio - self.model_ratio) > 0.01 * self.model_ratio:
            origin = ("the stack's spacing" if stack_ratio is not None
                      and abs(stack_ratio - ratio) < 1e-6 else "the ratio set here")
            self._show_model_info(
                f"{self._model_description}. Warning: {origin} gives ρ = {ratio:.4g}; this model "
                f"learned ρ = {self.model_ratio:.4g} and will not restore this stack well (train "
                "one for it).", error=True)
        else:
            self._show_model_info(self._model_description + ".", error=False)

    def _show_model_info(self, text: str, *, error: bool) -> None:
        self.model_info.setText(text)
        self.model_info.setStyleSheet(ERROR_STYLE if error else "")

    def spacing_for(self, name: str) -> tuple[float, float, float] | None:
        """The Load widget's spacing for its stack, else the layer's own (z, y, x) scale."""
        if name not in self.viewer.layers:
            return None
        return layer_spacing(self.viewer.layers[name], self.state.stack)

    def _on_layer_changed(self, name: str) -> None:
        spacing = self.spacing_for(name) if name else None
        if name and name in self.viewer.layers:
            height = int(self.viewer.layers[name].data.shape[-2])
            self.preview_row_spin.setRange(0, max(0, height - 1))
            if self.preview_row_spin.value() == 0:
                self.preview_row_spin.setValue(height // 2)
        if spacing is not None:
            try:
                self.ratio_spin.setValue(ratio_from_spacing(spacing))
            except InputError:
                self.ratio_spin.setValue(1.0)
            self._check_ratio()
        self._update_tile_hint()

    def _update_tile_hint(self, *_args) -> None:
        """Name a larger tile when the current one wastes much of the network's work."""
        name = self.layer_combo.currentText()
        self._hinted_tile = None
        if name and name in self.viewer.layers and self.viewer.layers[name].ndim == 3:
            with contextlib.suppress(InputError):
                tile, overlap = self.tile_spin.value(), self.overlap_spin.value()
                shape = output_shape(layer_volume(self.viewer.layers[name]).shape,
                                     validate_ratio(self.ratio_spin.value()))
                advice = tile_advice(shape, tile, overlap, self.model_multiple)
                if advice is not None:
                    self._hinted_tile = advice.larger
                    self.tile_hint.setText(
                        f"With {tile}-pixel tiles the network computes "
                        f"{advice.fraction_now:.2f}x this volume's voxels; "
                        f"{advice.larger}-pixel tiles: {advice.fraction:.2f}x, with "
                        f"{advice.memory_growth:.1f}x the memory per tile.")
                    self.tile_hint_button.setText(f"Use tile {advice.larger}")
        self.tile_hint_box.setVisible(self._hinted_tile is not None)

    def _use_hinted_tile(self) -> None:
        if self._hinted_tile is not None:
            self.tile_spin.setValue(self._hinted_tile)

    def _on_target_changed(self, text: str) -> None:
        for widget in self._path_widgets:
            widget.setEnabled(text == FILE_TARGET)

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Model file", "", "Models (*.pt *.zip);;A2I-3DEM model (*.pt);;"
            "BioImage Model Zoo package (*.zip)")
        if path:
            self.model_edit.setText(path)
            self._on_model_text()

    def _browse_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Output volume", "iso.zarr",
                                              "OME-Zarr (*.zarr);;TIFF (*.tif *.tiff)")
        if path:
            self.path_edit.setText(path)
            self._replace_confirmed = Path(path)  # the dialog asked before replacing it

    def _may_replace(self, path: Path) -> bool:
        """An output that already exists is replaced only when the user says so (the save
        dialog asked already, else a question here); nothing is replaced silently."""
        if not (path.exists() or path.is_symlink()) or path == self._replace_confirmed:
            return True
        answer = QMessageBox.question(
            self, "Replace the output?", f"{path} already exists. Replace it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ----------------------------------------------------------------------------- preview
    def preview_plane(self) -> bool:
        """Reconstruct the chosen xz plane in a worker and show it next to cubic."""
        if self.preview_worker is not None:
            return False
        try:
            request = self._request(preview=True)
        except A2IError as exc:
            self.preview_label.setText(f"cannot preview: {exc}")
            self.preview_label.setStyleSheet(ERROR_STYLE)
            return False
        self.preview_label.setStyleSheet("")
        self.preview_label.setText(f"reconstructing the xz plane at y = {request['row']}…")
        self.preview_button.setEnabled(False)
        self.preview_worker = create_worker(
            _preview_job, request, _start_thread=False,
            _connect={"returned": self._on_preview, "errored": self._on_preview_error,
                      "finished": self._on_preview_finished})
        self.preview_worker.start()
        return True

    def _on_preview(self, result) -> None:
        cubic, network, row, seconds = result
        self.preview_strip.set_images(
            (cubic, network), display_limits(cubic),
            captions=(f"cubic, xz plane y = {row}", f"A2I-3DEM, xz pass ({seconds:.1f} s)"))
        self.preview_strip.setVisible(True)
        self.preview_label.setText("The full run also averages the yz pass. Like it? Run the "
                                   "whole volume.")

    def _on_preview_error(self, exc: Exception) -> None:
        message = str(exc) if isinstance(exc, A2IError) else f"{type(exc).__name__}: {exc}"
        self.preview_label.setText(f"preview failed: {message}")
        self.preview_label.setStyleSheet(ERROR_STYLE)

    def _on_preview_finished(self) -> None:
        self.preview_worker = None
        self.preview_button.setEnabled(True)

    # ----------------------------------------------------------------------------- running
    @property
    def is_running(self) -> bool:
        return self.worker is not None

    def _request(self, *, preview: bool = False) -> dict:
        """Check the inputs (fast, GUI thread) and describe the job; raises InputError."""
        name = self.layer_combo.currentText()
        if not name or name not in self.viewer.layers:
            raise InputError("choose a 3-D image layer as the stack")
        layer = self.viewer.layers[name]
        stack = layer_volume(layer)
        validate_volume(stack, name=f"layer '{name}'", check_values=False)
        model_text = self.model_edit.text().strip()
        if not model_text:
            raise InputError("no model: train one in the Train widget or choose a model file")
        model_path = Path(model_text).expanduser()
        if not model_path.is_file():
            raise InputError(f"the model file {model_path} does not exist")
        ratio = validate_ratio(self.ratio_spin.value())
        chosen = self.engine_settings()
        spacing = self.spacing_for(name) or (ratio, 1.0, 1.0)
        settings = chosen.model_dump(include={"tile", "overlap", "batch", "device"})
        request = {"stack": stack, "model_path": model_path, "ratio": ratio,
                   "threads": chosen.threads, "settings": settings}
        if preview:
            request["row"] = self.preview_row_spin.value()
            return request
        path = None
        if self.target_combo.currentText() == FILE_TARGET:
            text = self.path_edit.text().strip()
            if not text:
                raise InputError("give an output path ending in .tif or .zarr")
            source = getattr(getattr(layer, "source", None), "path", None)
            path = check_output_path(Path(text).expanduser(), protect=(source,))
            if not self._may_replace(path):
                raise OutputExists(f"{path} already exists and was left as it is; choose "
                                   "another output path")
            request["protect"] = (source,)
        fusion = chosen.fusion
        settings["fusion"] = fusion
        request.update(
            layer=layer, path=path, iso=isotropic_spacing(spacing),
            shape=output_shape(stack.shape, ratio),
            confidence=self.confidence_check.isChecked() and fusion == "mean",
            cancel=self.cancel_event, piece_rows=max(1, self.batch_spin.value()),
            layers_shown=threading.Event())
        return request

    def run(self) -> bool:
        """Start a reconstruction; False (with the reason in the status line) if inputs are bad."""
        if self.is_running:
            return False
        try:
            request = self._request()
        except A2IError as exc:
            self._show_status(f"cannot run: {exc}")
            return False
        self.cancel_event.clear()
        self._progress = None
        self.refreshes = 0
        self._dirty_rows = []
        self._started = time.perf_counter()
        self._file_target = request["path"] is not None
        self._remove_outputs()
        self._source = request.pop("layer")
        self._layers_shown = request["layers_shown"]
        task = self.worker_description = named_task(
            _reconstruction_job, f"A2I-3DEM reconstruction of '{self._source.name}'")
        self.worker = create_worker(
            task, request, self, _start_thread=False,
            _connect={"yielded": self._on_message, "returned": self._on_done,
                      "errored": self._on_error, "finished": self._on_finished})
        self._set_running(True)
        self._show_status("reading the model and computing the cubic reference…")
        self.worker.start()
        return True

    def _remove_outputs(self) -> None:
        if self.compare_button.isChecked():
            self.compare_button.setChecked(False)
        for layer in (self.output_layer, self.cubic_layer, self.confidence_layer):
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.output_layer = self.cubic_layer = self.confidence_layer = None
        self.compare_button.setEnabled(False)

    def _common(self, iso) -> dict:
        source = self._source
        return {"scale": iso, "translate": tuple(source.translate[-3:]),
                "contrast_limits": tuple(source.contrast_limits)}

    def _on_message(self, message: tuple) -> None:
        kind = message[0]
        if kind == "cubic":
            _, cubic, iso = message
            self.cubic_layer = self.viewer.add_image(
                cubic, name=f"{self._source.name} cubic", colormap="gray",
                opacity=CUBIC_OPACITY_WHILE_RUNNING, metadata={ROLE_KEY: OUTPUT_ROLE},
                **self._common(iso))
            self._show_status("cubic reference shown; starting the network…")
            self._release_worker(self._layers_shown)
        elif kind == "target":
            _, volume, confidence, iso, ratio = message
            self.output_layer = self.viewer.add_image(
                volume, name=f"{self._source.name} A2I-3DEM", colormap=STREAMING_COLORMAP,
                metadata={"a2i3dem_ratio": ratio, ROLE_KEY: OUTPUT_ROLE},
                **self._common(iso))
            if confidence is not None:
                # once the output is drawn: each new layer costs napari ~0.15 s of GUI work (its
                # controls, its vispy visual), two in one turn were a visible 0.3 s freeze
                QTimer.singleShot(LAYER_SETTLE_MS,
                                  functools.partial(self._add_confidence, confidence, iso,
                                                    self._layers_shown))
            else:
                self._release_worker(self._layers_shown)
            self.compare_button.setEnabled(True)
            self._show_status("reconstructing… (the volume fills in over the dimmed cubic)")
        elif kind == "piece":
            self._dirty_rows.append(message[1:3])

    def _add_confidence(self, confidence, iso, shown: threading.Event) -> None:
        """The hidden xz/yz disagreement layer (under the output, so that it never hides it)."""
        try:
            self._add_confidence_layer(confidence, iso)
        finally:
            self._release_worker(shown)  # that run's worker, even if another run started since

    @staticmethod
    def _release_worker(shown: threading.Event) -> None:
        """Let the worker go on once the new layer is set up and drawn (a few event-loop turns)."""
        QTimer.singleShot(LAYER_SETTLE_MS, shown.set)

    def _add_confidence_layer(self, confidence, iso) -> None:
        if self.output_layer is None or self.output_layer not in self.viewer.layers:
            return  # the run was discarded meanwhile
        self.confidence_layer = self.viewer.add_image(
            confidence, name=f"{self._source.name} xz/yz disagreement", scale=iso,
            translate=tuple(self._source.translate[-3:]), colormap="magma",
            contrast_limits=(0.0, 1.0), visible=False, metadata={ROLE_KEY: OUTPUT_ROLE})
        layers = self.viewer.layers
        layers.move(layers.index(self.confidence_layer), layers.index(self.output_layer))

    def _on_tick(self) -> None:
        self._refresh_output()
        self._show_progress()

    def _refresh_output(self) -> None:
        """Refresh the layers in place when a finished piece is visible (at most every tick)."""
        rows, self._dirty_rows = self._dirty_rows, []
        if not rows:
            return
        layer = self.output_layer
        if layer is not None and layer in self.viewer.layers and any(
                self._slice_shows_piece(layer, *r) for r in rows):
            layer.refresh(extent=False, highlight=False)
            self.refreshes += 1
        conf = self.confidence_layer
        if conf is not None and conf in self.viewer.layers and conf.visible:
            conf.refresh(extent=False, highlight=False)
            self._fit_confidence_contrast()

    def _slice_shows_piece(self, layer: Image, planes: slice, rows: slice) -> bool:
        """False when the 2-D view slices z or y outside the piece (nothing visible changed)."""
        dims = self.viewer.dims
        if dims.ndisplay != 2 or dims.ndim < 3:
            return True
        for axis, span in ((dims.ndim - 3, planes), (dims.ndim - 2, rows)):
            if axis in dims.displayed or span.start is None:
                continue
            at = (dims.point[axis] - layer.translate[axis - dims.ndim]) / layer.scale[
                axis - dims.ndim]
            if not span.start - 0.5 <= at < span.stop - 0.5:
                return False
        return True

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

    def _finish_layers(self) -> None:
        """After a run: plain grey output, the cubic layer back to full opacity."""
        self._refresh_output()
        if self.output_layer is not None and self.output_layer in self.viewer.layers:
            self.output_layer.colormap = "gray"
        if self.cubic_layer is not None and self.cubic_layer in self.viewer.layers:
            self.cubic_layer.opacity = 1.0

    def _on_done(self, result) -> None:
        elapsed = time.perf_counter() - self._started
        if self._file_target and self.output_layer is not None and result is not None:
            self.output_layer.data = result  # the committed file, once
        self._finish_layers()
        if self.confidence_layer is not None:
            self._fit_confidence_contrast()
        self.progress.setValue(1000)
        self._show_status(f"done in {elapsed:.1f} s")
        settle_heap()

    def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, Cancelled):
            message = "stopped"
        elif isinstance(exc, A2IError):
            message = f"failed: {exc}"
        else:
            message = f"failed: {type(exc).__name__}: {exc}"
        self._refresh_output()
        if self.cubic_layer is not None and self.cubic_layer in self.viewer.layers:
            self.cubic_layer.opacity = 1.0
        if self._file_target:  # the partial file was discarded: drop its layer
            if self.output_layer is not None and self.output_layer in self.viewer.layers:
                self.viewer.layers.remove(self.output_layer)
            self.output_layer = None
        elif self.output_layer is not None:
            self.output_layer.name = f"{self.output_layer.name} (partial)"
        self._show_status(message)

    def stop(self) -> None:
        """Stop the run within one network batch."""
        if self.is_running:
            self.cancel_event.set()
            self._show_status("stopping…")

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
            camera = self.viewer.camera
            self._comparison = {
                "visible": {layer.unique_id: layer.visible for layer in self.viewer.layers},
                "grid": (grid.enabled, tuple(grid.shape), grid.stride),
                "linked": layers[:2],
                "camera": (tuple(camera.center), camera.zoom, tuple(camera.angles)),
                "names": {layer.unique_id: _name_overlay_visible(layer) for layer in layers},
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
            for layer in layers:  # each panel says what it shows
                _set_name_overlay(layer, True)
            try:
                self.viewer.reset_view(layers=layers)  # fit the compared volumes, nothing else
            except TypeError:  # napari < 0.6 fits every layer
                self.viewer.reset_view()
        elif self._comparison is not None:
            saved, self._comparison = self._comparison, None
            for layer in self.viewer.layers:
                if layer.unique_id in saved["names"]:
                    _set_name_overlay(layer, saved["names"][layer.unique_id])
            enabled_before, shape, stride = saved["grid"]
            grid = viewer_grid(self.viewer)
            grid.enabled = enabled_before
            grid.shape = shape
            grid.stride = stride
            self._unlink(saved["linked"])
            for layer in self.viewer.layers:
                layer.visible = saved["visible"].get(layer.unique_id, layer.visible)
            center, zoom, angles = saved["camera"]
            camera = self.viewer.camera
            camera.center, camera.zoom, camera.angles = center, zoom, angles
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
        widget = OrthoViewsWidget(self.viewer, staged=True)  # built over several turns
        # below the canvas, xz | yz side by side: the layer list and this panel stay whole
        self.viewer.window.add_dock_widget(widget, name="Orthogonal views", area="bottom")
        self._ortho_dock = weakref.ref(widget)
        return widget


def _cubic_reference(stack, ratio: float):
    """The cubic volume: in memory when small, else a view that computes the planes it shows."""
    n_out = int(np.prod(output_shape(stack.shape, ratio)))
    if n_out <= EAGER_CUBIC_VOXELS and not hasattr(stack, "compute"):
        return cubic_upsample_stack(np.asarray(stack), ratio)
    # napari slices a layer on the GUI thread: a dask graph chunked in y/x computed the whole
    # volume for one plane (seconds); the view reads a few input planes (milliseconds)
    return UpsampledView(stack, ratio)


def _preview_job(request: dict):
    """Worker: one xz plane, cubic and network; returns ``(cubic, network, row, seconds)``."""
    started = time.perf_counter()
    loaded = MODELS.get(request["model_path"])
    with torch_threads(request["threads"]):
        cubic, network = reconstruct_xz_plane(request["stack"], loaded.model, request["ratio"],
                                              request["row"], **request["settings"])
    return cubic, network, request["row"], time.perf_counter() - started


def _reconstruction_job(request: dict, progress_box):
    """Worker-thread generator: model, cubic reference, target, then every piece; commits.

    Yields ``("cubic", volume, iso)``, ``("target", array, confidence, iso, ratio)`` and
    ``("piece", rows, final)``; returns what the target's commit returns.
    """
    loaded = MODELS.get(request["model_path"])
    stack, ratio, iso, shape = (request[k] for k in ("stack", "ratio", "iso", "shape"))
    yield ("cubic", _cubic_reference(stack, ratio), iso)
    # one new layer per event-loop turn, each made while the CPU is otherwise idle: on two cores
    # the network's threads slowed napari's set-up of a layer from 0.15 to 0.6 s, and two layers
    # made in one turn froze the window for their sum
    _wait_for(request["layers_shown"], request["cancel"])
    target = open_target(request["path"], shape, stack.dtype, iso,
                         protect=request.get("protect", ()))
    early = request["path"] is None  # provisional columns only into memory, never to files
    try:
        confidence = (open_target(None, shape, np.float32, iso) if request["confidence"]
                      else None)
        yield ("target", target.array, None if confidence is None else confidence.array, iso,
               ratio)
        _wait_for(request["layers_shown"], request["cancel"])
    except BaseException:
        target.discard()
        raise
    with torch_threads(request["threads"]):
        pieces = reconstruct(stack, loaded.model, ratio, cancel=request["cancel"],
                             confidence=confidence is not None,
                             on_progress=progress_box.report_progress,
                             piece_rows=request["piece_rows"], provisional=early,
                             **request["settings"])
        written = stream_into(target, pieces, confidence=confidence)
        try:
            while True:
                try:
                    piece = next(written)
                except StopIteration as done:
                    return done.value
                yield ("piece", piece.planes, piece.rows, piece.final)
        finally:
            written.close()  # a worker closed mid-run: the partial output is discarded


def _wait_for(shown: threading.Event, cancel: threading.Event,
              timeout: float = LAYERS_SHOWN_TIMEOUT) -> None:
    """Wait until the GUI has shown the layer it was sent (never longer than ``timeout``), and
    re-arm ``shown`` for the next one."""
    deadline = time.monotonic() + timeout
    while not shown.wait(0.05):
        if cancel.is_set():
            raise Cancelled("reconstruction stopped")
        if time.monotonic() > deadline:
            return  # a busy GUI must not hold the run back for good
    shown.clear()


def _name_overlay_visible(layer) -> bool:
    overlay = getattr(layer, "name_overlay", None)
    return bool(overlay is not None and overlay.visible)


def _set_name_overlay(layer, visible: bool) -> None:
    """Show the layer's name in its grid cell (napari >= 0.6: ``layer.name_overlay``)."""
    overlay = getattr(layer, "name_overlay", None)
    if overlay is not None:
        overlay.visible = visible


def viewer_grid(viewer):
    """The viewer's grid settings: ``viewer.canvas.grid`` (napari >= 0.9), else ``viewer.grid``."""
    canvas = getattr(viewer, "canvas", None)
    return canvas.grid if canvas is not None and hasattr(canvas, "grid") else viewer.grid
