"""The "Train" dock widget: train the network on a stack layer without freezing napari.

Training runs in a napari ``thread_worker`` that yields the engine's progress events; this widget
turns them into a progress bar with ETA, a live loss / validation-PSNR plot and a preview layer
(the network applied to one real xz plane) that is updated in place. The saved model is handed to
the Reconstruct widget through :func:`~napari_a2i3dem.widgets._shared.plugin_state`. napari
(>= 0.6.5) registers the worker as a running task, so closing the window asks first; the widget's
``destroyed`` hook then finishes the run (final checkpoint and model) before it goes.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
from napari.qt.threading import create_worker
from napari.utils.notifications import show_warning
from qtpy.QtCore import Qt
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
from ..core.errors import A2IError, InputError
from ..core.jobs import make_trainer
from ..core.physics.degradations import DegradationConfig, config_summary
from ..core.settings import TrainingSettings
from ..core.training.checkpoint import checkpoint_path_for
from ..core.training.config import TrainConfig, recommended_patch_size
from ..core.training.engine import Trainer
from ..core.training.events import (
    CheckpointSaved,
    ModelChecked,
    Paused,
    PreviewImage,
    Resumed,
    StepProgress,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    ValidationResult,
)
from ..core.training.run_control import TrainingRun
from ..core.validation import ratio_from_spacing, validate_ratio, validate_volume
from ..layers import layer_spacing, layer_volume, stack_layers
from ._image_strip import ImageStrip, display_limits
from ._settings_controls import setting_combo, setting_spin, spin_setting
from ._shared import HELPER_ROLE, ROLE_KEY, plugin_state, settle_heap
from ._tasks import named_task
from ._training_plot import TrainingPlot

PREVIEW_LAYER = "training preview (xz)"
DEFAULT_OUTPUT = Path.home() / "a2i3dem-models"
CALIBRATED_TEXT = ("calibrated to the stack when training starts: slice profile and noise "
                   "estimated from its own z lines (set them by hand in Training pairs)")


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``; ``"--"`` when unknown."""
    if not np.isfinite(seconds) or seconds < 0:
        return "--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def model_file_name(layer_name: str, preset: str, folder: Path | None = None) -> str:
    """A file name that names the data and preset and never collides with an earlier run (nor
    with any file in ``folder``, model or checkpoint: a counter is added)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", layer_name).strip("._") or "stack"
    stem = f"{safe}-{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
    name, count = f"{stem}.pt", 1
    while folder is not None and any(
            (folder / n).exists() for n in (name, checkpoint_path_for(Path(name)).name)):
        count += 1
        name = f"{stem}-{count}.pt"
    return name


class TrainWidget(QWidget):
    """Start / pause / stop a training run on an image layer and watch it learn."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.state = plugin_state(napari_viewer)
        self._run: TrainingRun | None = None
        self._worker = None
        self._last_event: TrainingEvent | None = None
        self._source_layer = ""
        self.model_path: Path | None = None
        self._check: ModelChecked | None = None
        self._build()
        self._refresh_layers()
        self._refresh_degradation()
        layers = napari_viewer.layers.events
        layers.inserted.connect(self._refresh_layers)
        layers.removed.connect(self._refresh_layers)
        self.state.stack_changed.connect(self._on_stack_changed)
        # When the widget is destroyed, finish a run still going. The slot holds only this box
        # (not the widget), so it keeps no Qt object alive.
        box = self._run_box = {}

        def _finish_on_destroy(*_args) -> None:
            run = box.get("run")
            if run is not None:
                run.finish(timeout=30.0)

        self.destroyed.connect(_finish_on_destroy)

    # ----------------------------------------------------------------------------- layout
    def _build(self) -> None:
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("the anisotropic stack to learn from (its own xy planes)")
        self.layer_combo.currentTextChanged.connect(self._on_layer_changed)
        self.ratio_spin = QDoubleSpinBox()
        self.ratio_spin.setRange(0.01, 100.0)
        self.ratio_spin.setDecimals(3)
        self.ratio_spin.setValue(1.0)
        self.ratio_spin.setToolTip("up-sampling ratio: z spacing / xy spacing")
        # bounds, defaults, choices and tooltips: core.settings, as on the command line
        self.preset_combo = setting_combo(TrainingSettings, "preset")
        self.preset_combo.currentTextChanged.connect(self._on_preset_changed)
        self.steps_spin = setting_spin(TrainingSettings, "steps", maximum=10_000_000)
        self.batch_spin = setting_spin(TrainingSettings, "batch_size", maximum=512)
        self.patch_spin = setting_spin(TrainingSettings, "patch_size", maximum=1024)
        self.patch_spin.setValue(recommended_patch_size(self.preset_combo.currentText()))
        self.patch_spin.setSingleStep(16)
        self.device_combo = setting_combo(TrainingSettings, "device",
                                          ("auto", *available_devices()))
        self.threads_spin = setting_spin(TrainingSettings, "threads", none_text="all",
                                         maximum=256)
        self.output_edit = QLineEdit(str(DEFAULT_OUTPUT))
        browse = QPushButton("…")
        browse.setToolTip("choose the folder for the model and its checkpoint")
        browse.clicked.connect(self._browse_output)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit)
        output_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("image layer", self.layer_combo)
        form.addRow("ratio ρ", self.ratio_spin)
        form.addRow("preset", self.preset_combo)
        form.addRow("steps", self.steps_spin)
        form.addRow("batch size", self.batch_spin)
        form.addRow("patch size", self.patch_spin)
        form.addRow("device", self.device_combo)
        form.addRow("CPU threads", self.threads_spin)
        form.addRow("output folder", output_row)
        self.degradation_label = QLabel()
        self.degradation_label.setWordWrap(True)
        form.addRow("degradation", self.degradation_label)

        self.output_edit.setToolTip("folder for the model file and its checkpoint")
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("train in the background; the window stays usable")
        self.resume_button = QPushButton("Resume…")
        self.resume_button.setToolTip("continue a checkpoint (*.ckpt.pt) up to 'steps' in total")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("pause after the current step (resume continues it)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("stop after the current step; the model so far is saved")
        self.start_button.clicked.connect(lambda: self.start())
        self.resume_button.clicked.connect(self._choose_checkpoint)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.resume_button, self.pause_button,
                       self.stop_button):
            buttons.addWidget(button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_label = QLabel("")
        self.check_label.setWordWrap(True)
        self.check_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.check_label.setToolTip(
            "after training: does the model beat cubic interpolation on this stack? Checked "
            "without any truth: the reconstruction passed back through the estimated "
            "acquisition, the agreement of its xz and yz passes, and held-out pairs made with "
            "the estimated slice profile")
        self.export_button = QPushButton("Export for BioImage Model Zoo…")
        self.export_button.setToolTip("write the trained plane network as a bioimage.io package "
                                      "(.zip) that deepImageJ, ilastik and bioimageio.core can "
                                      "run; test tensors come from the training stack")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._choose_export)
        self.export_label = QLabel("")
        self.export_label.setWordWrap(True)
        self.plot = TrainingPlot(self)
        self.preview_strip = ImageStrip(("cubic", "network (this step)"), height=170)
        self.preview_strip.setToolTip("a validation xz plane: plain cubic interpolation and the "
                                      "network's output, updated while it learns")
        self.preview_as_layer = QCheckBox("also show the preview as a layer")
        self.preview_as_layer.setToolTip("add the previewed xz plane to the viewer, below the "
                                         "stack")

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.check_label)
        layout.addWidget(self.export_button)
        layout.addWidget(self.export_label)
        layout.addWidget(self.plot)
        layout.addWidget(self.preview_strip)
        layout.addWidget(self.preview_as_layer)
        self._set_running(False)

    @staticmethod
    def _spin(low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setValue(value)
        return spin

    # ------------------------------------------------------------------------ layer choice
    def _image_layers(self) -> list:
        return stack_layers(self.viewer.layers)

    def _refresh_layers(self, *_args) -> None:
        current = self.layer_combo.currentText()
        names = [layer.name for layer in self._image_layers() if layer.name != PREVIEW_LAYER]
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        preferred = self.state.stack.layer_name if self.state.stack is not None else None
        for choice in (current, preferred):
            if choice in names:
                self.layer_combo.setCurrentText(choice)
        if preferred in names and not current:
            self.layer_combo.setCurrentText(preferred)
        self.layer_combo.blockSignals(False)
        self._on_layer_changed(self.layer_combo.currentText())

    def _on_stack_changed(self, settings) -> None:
        if settings is not None and settings.layer_name in self._layer_names():
            self.layer_combo.setCurrentText(settings.layer_name)
            self._on_layer_changed(settings.layer_name)

    def _layer_names(self) -> list[str]:
        return [self.layer_combo.itemText(i) for i in range(self.layer_combo.count())]

    def _spacing_for(self, name: str) -> tuple[float, float, float] | None:
        """The Load widget's spacing for its stack, else the layer's own scale (if 3-D)."""
        layer = next((lyr for lyr in self.viewer.layers if lyr.name == name), None)
        return None if layer is None else layer_spacing(layer, self.state.stack)

    def _on_layer_changed(self, name: str) -> None:
        spacing = self._spacing_for(name) if name else None
        if spacing is None:
            return
        try:
            self.ratio_spin.setValue(ratio_from_spacing(spacing))
        except A2IError:
            self.ratio_spin.setValue(spacing[0] / ((spacing[1] + spacing[2]) / 2.0))

    def degradation(self) -> DegradationConfig | None:
        """The Training pairs widget's settings if it published any, else ``None``: the
        trainer calibrates the degradation to the stack when the run starts."""
        published = self.state.extra.get("degradation")
        if published is None:
            return None
        try:
            return DegradationConfig.from_dict(dict(published))
        except A2IError as exc:
            raise InputError(f"the Training pairs settings cannot be used: {exc}") from exc

    def _refresh_degradation(self) -> None:
        try:
            config = self.degradation()
            text = (CALIBRATED_TEXT if config is None
                    else f"{config_summary(config)} (Training pairs)")
        except A2IError as exc:
            text = str(exc)
        self.degradation_label.setText(text)

    def showEvent(self, event) -> None:
        self._refresh_degradation()
        super().showEvent(event)

    def _on_preset_changed(self, preset: str) -> None:
        """Raise the patch size to what the preset pads to anyway (128 for base)."""
        self.patch_spin.setValue(max(self.patch_spin.value(), recommended_patch_size(preset)))

    def _browse_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the trained model",
                                                  self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)

    # ----------------------------------------------------------------------------- control
    @property
    def is_running(self) -> bool:
        return self._run is not None and not self._run.done.is_set()

    def settings(self) -> TrainingSettings:
        """The controls as validated training settings (one line naming a bad one)."""
        return TrainingSettings.parse(
            preset=self.preset_combo.currentText(), steps=self.steps_spin.value(),
            batch_size=self.batch_spin.value(),
            patch_size=spin_setting(TrainingSettings, "patch_size", self.patch_spin),
            device=self.device_combo.currentText(),
            threads=spin_setting(TrainingSettings, "threads", self.threads_spin))

    def _config(self) -> TrainConfig:
        return self.settings().train_config()

    def _choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Checkpoint to continue",
                                              self.output_edit.text(),
                                              "Training checkpoints (*.ckpt.pt);;All files (*)")
        if path:
            self.start(resume_from=Path(path))

    def make_trainer(self, config: TrainConfig | None = None,
                     resume_from: Path | None = None) -> Trainer:
        """Check the chosen layer and settings and build the trainer (GUI thread, fast);
        raises :class:`InputError` with a message for the user. A resumed run keeps writing
        the model next to its checkpoint (``x.ckpt.pt`` -> ``x.pt``)."""
        name = self.layer_combo.currentText()
        if not name or name not in self.viewer.layers:
            raise InputError("choose a stack to train on: a grey 3-D (z, y, x) image layer "
                             "(2-D, RGB and the plugin's own layers are not offered)")
        layer = self.viewer.layers[name]
        if getattr(layer, "rgb", False):
            raise InputError(f"layer '{name}' is RGB; convert it to a single grey channel")
        data = layer_volume(layer)
        validate_volume(data, name=f"layer '{name}'")
        ratio = validate_ratio(self.ratio_spin.value())
        spacing = self._spacing_for(name)
        folder = Path(self.output_edit.text()).expanduser()
        if not self.output_edit.text().strip():
            raise InputError("choose an output folder for the model")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the output folder {folder}: {exc}") from exc
        if not os.access(folder, os.W_OK):
            raise InputError(f"the output folder {folder} is not writable")
        config = config or self._config()
        degradation = self.degradation()
        self._refresh_degradation()
        try:
            spacing = spacing if spacing and ratio_from_spacing(spacing) == ratio else None
        except A2IError:
            spacing = None
        model_path = (None if resume_from is not None
                      else folder / model_file_name(name, config.preset, folder))
        return make_trainer(data, ratio=ratio, spacing=spacing, degradation=degradation,
                            config=config, model_path=model_path, resume_from=resume_from)

    def start(self, config: TrainConfig | None = None, resume_from: Path | None = None) -> bool:
        """Validate the inputs and start training (or continue the checkpoint ``resume_from``)
        in a worker thread; False, with a message in the status line, when the inputs cannot be
        used."""
        if self.is_running:
            return False
        try:
            trainer = self.make_trainer(config, resume_from)
        except A2IError as exc:
            self._show_error(str(exc))
            return False
        self._run = self._run_box["run"] = run = TrainingRun(trainer)
        self._source_layer = self.layer_combo.currentText()
        self.plot.clear_data()
        self.check_label.setText("")
        self.progress.setRange(0, trainer.config.steps)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self._show_status(f"preparing training pairs for '{self.layer_combo.currentText()}'…")
        task = named_task(run.events, f"A2I-3DEM training on '{self._source_layer}'")
        self._worker = create_worker(
            task, _start_thread=False,
            _connect={"yielded": self._on_event, "errored": self._on_error,
                      "finished": self._on_worker_finished})
        self._set_running(True)
        self._worker.start()
        return True

    def toggle_pause(self) -> None:
        if not self.is_running:
            return
        trainer = self._run.trainer
        if trainer.paused:
            trainer.resume()
            self.pause_button.setText("Pause")  # at once; a late Paused event is ignored
        else:
            trainer.pause()
            self.pause_button.setText("Resume")

    def stop(self) -> None:
        """Ask the run to stop after the current step; it still saves its model and checkpoint."""
        if self.is_running:
            self._run.trainer.cancel()
            self._show_status("stopping after this step…")

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the run and wait for it to write its files (used when the viewer closes)."""
        if self._run is not None:
            self._run.finish(timeout=timeout)
        if self._worker is not None:
            self._worker.quit()

    # ------------------------------------------------------------------------------ events
    def _on_event(self, event: TrainingEvent) -> None:
        self._last_event = event
        if isinstance(event, TrainingStarted):
            self.progress.setRange(0, event.total_steps)
            self.progress.setValue(event.start_step)
            self.progress.setFormat(f"{event.start_step}/{event.total_steps}")
            self.plot.add_losses(event.loss_history)
            for result in event.validation_history:
                self.plot.add_validation(result)
            self.plot.refresh(force=True)
            self._show_status(event.describe())
            if event.calibration:
                self.degradation_label.setText(event.calibration)
        elif isinstance(event, StepProgress):
            self.progress.setValue(event.step)
            self.progress.setFormat(
                f"{event.step}/{event.total_steps} · {event.steps_per_second:.2f} steps/s · "
                f"ETA {format_duration(event.eta_seconds)}")
            self.plot.add_losses([(event.step, event.loss)])
            self.plot.refresh()
        elif isinstance(event, ValidationResult):
            self.plot.add_validation(event)
            self.plot.refresh(force=True)
            self._show_status(f"step {event.step}: {event.describe(with_ssim=True)}")
        elif isinstance(event, PreviewImage):
            self._show_preview(event)
        elif isinstance(event, Paused):
            if self._run is not None and self._run.trainer.paused:  # not resumed meanwhile
                self.pause_button.setText("Resume")
                self.progress.setFormat(f"paused at step {event.step}")
        elif isinstance(event, Resumed):
            self.pause_button.setText("Pause")
        elif isinstance(event, CheckpointSaved):
            self.status_label.setToolTip(f"checkpoint: {event.path}")
        elif isinstance(event, ModelChecked):
            self._check = event
        elif isinstance(event, TrainingFinished):
            self._on_training_finished(event)

    def _show_preview(self, event: PreviewImage) -> None:
        limits = display_limits(event.cubic)
        self.preview_strip.set_images(
            (event.cubic, event.prediction), limits,
            captions=(f"cubic ({event.plane} plane {event.index})",
                      f"network at step {event.step}"))
        if self.preview_as_layer.isChecked():
            self._show_preview_layer(event, limits)

    def _show_preview_layer(self, event: PreviewImage, limits: tuple[float, float]) -> None:
        if PREVIEW_LAYER in self.viewer.layers:
            layer = self.viewer.layers[PREVIEW_LAYER]
            if layer.data.shape == event.prediction.shape:
                layer.data = event.prediction
                return
            self.viewer.layers.remove(layer)
        scale, translate = self._preview_placement()
        active = self.viewer.layers.selection.active
        self.viewer.add_image(
            event.prediction, name=PREVIEW_LAYER, colormap="gray", contrast_limits=limits,
            scale=scale, translate=translate,
            metadata={"plane": event.plane, "index": event.index, ROLE_KEY: HELPER_ROLE})
        if active is not None and active in self.viewer.layers:
            self.viewer.layers.selection.active = active  # keep the user's layer selected

    def _preview_placement(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """World scale and offset of the xz preview: isotropic pixels of the stack's x spacing,
        placed just below the stack's xy view (seen with it, not covering it)."""
        name = self._source_layer
        layer = next((lyr for lyr in self.viewer.layers if lyr.name == name), None)
        if layer is None or layer.ndim != 3:
            return (1.0, 1.0), (0.0, 0.0)
        sx = float(layer.scale[-1])
        data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
        bottom_edge = float(layer.translate[-2]) + data.shape[-2] * float(layer.scale[-2])
        return (sx, sx), (bottom_edge + 0.05 * data.shape[-2] * sx, float(layer.translate[-1]))

    def _on_training_finished(self, event: TrainingFinished) -> None:
        self.progress.setValue(event.step)
        verb = "finished" if event.reason == "completed" else "stopped"
        if event.model_path is not None:
            self.model_path = Path(event.model_path)
            self.state.set_model(self.model_path)
            self.export_button.setEnabled(True)
            self._show_status(
                f"{verb} at step {event.step}: saved {self.model_path.name} (best validation PSNR "
                f"{event.best_psnr:.2f} dB at step {event.best_step}, cubic "
                f"{event.cubic_psnr:.2f} dB); it is now selected in Reconstruct")
            self.status_label.setToolTip(f"model: {self.model_path}\n"
                                         f"checkpoint: {event.checkpoint_path}")
        else:
            self._show_status(f"{verb} before the first step; nothing was saved")
        self.progress.setFormat(f"{verb}: {event.step}/{event.total_steps}")
        settle_heap()
        check, self._check = self._check, None
        if check is not None:
            self.check_label.setText(check.summary)
            self.check_label.setStyleSheet("" if check.passed else "color: #e0504d;")
            if not check.passed:
                show_warning("A2I-3DEM: " + check.warnings[0])

    # ------------------------------------------------------------------------------ export
    def _choose_export(self) -> None:
        if self.model_path is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "BioImage Model Zoo package", str(self.model_path.with_suffix(".zip")),
            "bioimage.io package (*.zip)")
        if path:
            self.export_model(Path(path))

    def export_model(self, out: Path):
        """Write the last trained model as a bioimage.io package in a worker (returns it)."""
        from ..core.io.bioimageio import export_bioimageio

        name = self._source_layer
        if self.model_path is None or name not in self.viewer.layers:
            self.export_label.setText("train a model first (its stack must still be open)")
            return None
        layer = self.viewer.layers[name]
        stack = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
        self.export_button.setEnabled(False)
        self.export_label.setStyleSheet("")
        self.export_label.setText(f"writing {out.name}…")
        worker = create_worker(export_bioimageio, self.model_path, out, np.asarray(stack),
                               _start_thread=False)
        worker.returned.connect(
            lambda path: self.export_label.setText(f"wrote {Path(path).name}: a validated "
                                                   "BioImage Model Zoo package"))
        worker.errored.connect(self._on_export_error)
        worker.finished.connect(lambda: self.export_button.setEnabled(self.model_path is not None))
        self.export_worker = worker
        worker.start()
        return worker

    def _on_export_error(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, A2IError) else f"{type(exc).__name__}: {exc}"
        self.export_label.setStyleSheet("color: #e0504d;")
        self.export_label.setText(f"export failed: {message}")

    def _on_error(self, exc: BaseException) -> None:
        message = str(exc) if isinstance(exc, A2IError) else f"{type(exc).__name__}: {exc}"
        ckpt = self._run.trainer.checkpoint_path if self._run is not None else None
        if ckpt is not None and ckpt.exists():
            message += f" (progress kept in {ckpt})"
        self._show_error(f"training failed: {message}")

    def _on_worker_finished(self) -> None:
        self._worker = None
        self._set_running(False)
        if not isinstance(self._last_event, TrainingFinished):
            self.progress.setFormat("stopped")

    # ---------------------------------------------------------------------------- helpers
    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.resume_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.pause_button.setText("Pause")
        for widget in (self.layer_combo, self.ratio_spin, self.preset_combo, self.steps_spin,
                       self.batch_spin, self.patch_spin, self.device_combo, self.threads_spin,
                       self.output_edit):
            widget.setEnabled(not running)

    def _show_status(self, text: str) -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText(text)

    def _show_error(self, text: str) -> None:
        self.status_label.setStyleSheet("color: #e0504d;")
        self.status_label.setText(text)
