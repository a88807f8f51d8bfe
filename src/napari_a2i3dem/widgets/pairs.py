"""The "Training pairs" dock widget: tune the synthetic degradation by eye and by spectrum.

Three image layers, side by side to the right of the stack, show a clean xy patch, the synthetic
input made from it, and a real axial (xz) plane of the stack after the same cubic up-sampling. An
embedded plot compares their axial spectra (see :mod:`~..core.analysis.spectra`). Changes are
debounced and computed in a worker thread; the layers are updated in place. The current settings
are published as ``plugin_state(viewer).extra["degradation"]`` (a plain dict) for the Train widget.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image
from napari.qt.threading import create_worker
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleRangeSlider

from ..core.errors import A2IError
from ..core.physics.acquisition import PROFILE_KINDS, SliceProfile
from ..core.physics.calibration import DegradationEstimate, draw_estimate, estimate_degradation
from ..core.physics.degradations import (
    ARTEFACT_NAMES,
    ARTEFACT_UNITS,
    NOISE_KINDS,
    Artefact,
    DegradationConfig,
    NoiseSettings,
)
from ..core.training.pairs_preview import PairsPreviewEngine, Preview
from ..layers import layer_spacing, layer_volume, stack_layers
from ._image_strip import ImageStrip
from ._plots import BackgroundPlot
from ._section import Section
from ._shared import HELPER_ROLE, ROLE_KEY, plugin_state

LAYER_NAMES = ("pairs: clean xy patch", "pairs: synthetic input", "pairs: real xz plane (cubic)")
STRIP_CAPTIONS = ("clean xy patch (target)", "synthetic input (network sees)",
                  "real xz plane, cubic")

#: Upper end of each strength slider.
STRENGTH_MAX = {"misalignment": 3.0, "smear": 8.0, "dust": 1.0, "drift": 0.3, "stripes": 0.1,
                "missing": 1.0}
DEBOUNCE_MS = 100


def _range_slider(low: float, high: float, value: tuple[float, float],
                  decimals: int = 3) -> QLabeledDoubleRangeSlider:
    slider = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setDecimals(decimals)
    slider.setValue(tuple(float(v) for v in value))
    # values in the two edge boxes (editable); labels on the handles overlapped ("0.0050.030")
    slider.setHandleLabelPosition(QLabeledDoubleRangeSlider.LabelPosition.NoLabel)
    slider.setEdgeLabelMode(QLabeledDoubleRangeSlider.EdgeLabelMode.LabelIsValue)
    return slider


class SpectraCanvas(BackgroundPlot):
    """The axial spectra plot; its lines are created once and only their data change (drawn in
    a worker thread, see :mod:`._plots`)."""

    LABELS = ("real xz/yz (cubic)", "synthetic input", "acquisition only", "clean xy")

    def __init__(self, parent=None) -> None:
        super().__init__(parent, height=220)
        self.request(self._setup, now=True)

    def _setup(self, figure) -> None:
        self.axes = figure.add_subplot()
        styles = (dict(color="k", lw=2), dict(color="tab:red", lw=1.5),
                  dict(color="tab:blue", lw=1, ls="--"), dict(color="tab:green", lw=1, ls=":"))
        self.lines = [self.axes.semilogy([], [], label=label, **style)[0]
                      for label, style in zip(self.LABELS, styles, strict=True)]
        self.nyquist = self.axes.axvline(0.25, color="0.5", lw=0.8)
        self.axes.set_xlim(0, 0.5)
        self.axes.set_xlabel("frequency along sections (cycles/pixel)", fontsize=8)
        self.axes.set_ylabel("power", fontsize=8)
        self.axes.tick_params(labelsize=7)
        self.legend = self.axes.legend(fontsize=7, loc="lower left")

    def show_comparison(self, comparison) -> None:
        self.request(lambda _figure: self._draw_comparison(comparison))

    def _draw_comparison(self, comparison) -> None:
        f = comparison.freqs[1:]
        curves = (comparison.real, comparison.degraded, comparison.acquisition_only,
                  comparison.clean)
        for line, curve in zip(self.lines, curves, strict=True):
            line.set_data(f, curve[1:])
        texts = self.legend.get_texts()
        texts[1].set_text(f"synthetic input ({comparison.distance_db:.2f} dB)")
        texts[2].set_text(f"acquisition only ({comparison.acquisition_only_db:.2f} dB)")
        self.nyquist.set_xdata([0.5 / comparison.ratio] * 2)
        positive = np.concatenate([c[1:][c[1:] > 0] for c in curves])
        if positive.size:
            self.axes.set_ylim(positive.min() / 2, positive.max() * 2)


class EstimateCanvas(BackgroundPlot):
    """The evidence of the calibration: measured z-line spectrum vs the calibrated and the
    generic synthetic ones (core.physics.calibration.draw_estimate), drawn in a worker thread."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent, height=170)
        self.request(self._setup, now=True)

    def _setup(self, figure) -> None:
        self.axes = figure.add_subplot()
        self.axes.tick_params(labelsize=7)

    def show_estimate(self, estimate: DegradationEstimate) -> None:
        self.request(lambda _figure: self._draw_estimate(estimate))

    def _draw_estimate(self, estimate: DegradationEstimate) -> None:
        self.axes.clear()
        draw_estimate(self.axes, estimate)
        self.axes.xaxis.label.set_fontsize(8)
        self.axes.yaxis.label.set_fontsize(8)
        self.axes.tick_params(labelsize=7)
        self.axes.legend(fontsize=7, loc="lower left")


class ArtefactControls(QWidget):
    """Enable box, probability and strength range of one artefact."""

    def __init__(self, name: str, artefact: Artefact, parent=None) -> None:
        super().__init__(parent)
        self.name = name
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.enabled = QCheckBox(name)
        self.enabled.setChecked(artefact.enabled)
        self.enabled.setToolTip(f"strength: {ARTEFACT_UNITS[name]}")
        self.probability = QDoubleSpinBox()
        self.probability.setRange(0.0, 1.0)
        self.probability.setSingleStep(0.05)
        self.probability.setValue(artefact.probability)
        self.probability.setToolTip("chance that a training pair gets this artefact")
        self.strength = _range_slider(0.0, STRENGTH_MAX[name], artefact.strength)
        self.strength.setToolTip(f"strength range: {ARTEFACT_UNITS[name]}")
        layout.addWidget(self.enabled)
        layout.addWidget(QLabel("p"))
        layout.addWidget(self.probability)
        layout.addWidget(self.strength, stretch=1)

    def artefact(self) -> Artefact:
        return Artefact(self.enabled.isChecked(), self.probability.value(),
                        tuple(self.strength.value()))

    def set_artefact(self, artefact: Artefact) -> None:
        self.enabled.setChecked(artefact.enabled)
        self.probability.setValue(artefact.probability)
        self.strength.setValue(artefact.strength)

    def connect(self, slot) -> None:
        self.enabled.toggled.connect(slot)
        self.probability.valueChanged.connect(slot)
        self.strength.valueChanged.connect(slot)


class TrainingPairsWidget(QWidget):
    """Preview synthetic training pairs of the chosen stack next to its real axial planes."""

    def __init__(self, napari_viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.state = plugin_state(napari_viewer)
        self._engine: PairsPreviewEngine | None = None
        self._engine_key: object = None
        self._worker = None
        self._pending = False
        self._closing = False
        self.layers: dict[str, Image] = {}
        self.last_preview: Preview | None = None
        self.estimate: DegradationEstimate | None = None
        self._publish = False
        self._calibrate_next = False
        self._noise_probability = DegradationConfig().noise.probability
        self.update_count = 0
        self._build()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._start_update)
        self._connect()
        self._refresh_layer_choices()
        self.request_update()

    # ------------------------------------------------------------------------------- layout
    def _build(self) -> None:
        defaults = DegradationConfig()
        layout = QVBoxLayout(self)

        form = QFormLayout()
        self.layer_combo = QComboBox()
        self.layer_combo.setToolTip("the anisotropic stack the pairs are made from")
        form.addRow("Stack", self.layer_combo)
        self.ratio = QDoubleSpinBox()
        self.ratio.setRange(1.0, 100.0)
        self.ratio.setDecimals(3)
        self.ratio.setValue(3.0)
        self.ratio.setToolTip("rho = z spacing / xy spacing")
        form.addRow("Ratio \u03c1", self.ratio)
        self.patch = QSpinBox()
        self.patch.setRange(64, 256)
        self.patch.setSingleStep(16)
        self.patch.setValue(128)
        self.patch.setToolTip("size of the previewed xy patch (pixels)")
        form.addRow("Patch size", self.patch)
        self.profile_kind = QComboBox()
        # a custom kernel has no control here: it comes from a file (the CLI, a calibration)
        self.profile_kind.addItems([k for k in PROFILE_KINDS if k != "custom"])
        self.profile_kind.setCurrentText(defaults.profile.kind)
        self.profile_kind.setToolTip("how a section integrates along z: box (thick cut), "
                                     "gaussian (beam / focus), none (a thin sample)")
        form.addRow("Slice profile", self.profile_kind)
        self.profile_width = _range_slider(0.0, 2.0, defaults.profile_width, 2)
        self.profile_width.setToolTip("section thickness in units of the section spacing "
                                      "(drawn per pair from this range)")
        form.addRow("Profile width", self.profile_width)
        self.fixed_profile = QCheckBox("fixed width (centre of the range)")
        self.fixed_profile.setToolTip("every pair gets the same section thickness instead of one "
                                      "drawn from the range")
        form.addRow("", self.fixed_profile)
        layout.addLayout(form)
        self.strip = ImageStrip(STRIP_CAPTIONS)
        self.strip.setToolTip("one training pair as the network gets it, next to a real axial "
                              "plane of the stack after the same cubic up-sampling: the "
                              "synthetic input should look like the real plane")
        layout.addWidget(self.strip)
        layers_row = QHBoxLayout()
        self.as_layers = QCheckBox("also show as layers")
        self.as_layers.setToolTip("add the three images to the viewer, below the stack, to "
                                  "zoom into them")
        self.remove_layers_button = QPushButton("Remove preview layers")
        self.remove_layers_button.setToolTip("remove the pair preview layers from the viewer")
        layers_row.addWidget(self.as_layers)
        layers_row.addWidget(self.remove_layers_button)
        layout.addLayout(layers_row)

        calibration_box = QGroupBox("Calibration to the stack")
        calibration_layout = QVBoxLayout(calibration_box)
        self.suggest_button = QPushButton("Calibrate to stack")
        self.suggest_button.setToolTip(
            "estimate the slice profile and the noise from the stack's own z lines and set "
            "the controls to them (done when a stack is chosen); artefacts stay off")
        calibration_layout.addWidget(self.suggest_button)
        self.calibration_label = QLabel("")
        self.calibration_label.setWordWrap(True)
        calibration_layout.addWidget(self.calibration_label)
        self.estimate_canvas = EstimateCanvas(self)
        calibration_layout.addWidget(self.estimate_canvas)
        layout.addWidget(calibration_box)

        noise_box = QGroupBox("Noise (on acquired sections)")
        noise_form = QFormLayout(noise_box)
        self.noise_kind = QComboBox()
        self.noise_kind.addItems(list(NOISE_KINDS))
        self.noise_kind.setCurrentText(defaults.noise.kind)
        self.noise_kind.setToolTip("noise added to the synthetic sections (set by calibration)")
        noise_form.addRow("Kind", self.noise_kind)
        self.noise_sigma = _range_slider(0.0, 0.3, defaults.noise.sigma)
        self.noise_sigma.setToolTip("Gaussian std, fraction of the intensity range")
        noise_form.addRow("Gaussian \u03c3", self.noise_sigma)
        self.noise_poisson = _range_slider(0.0, 0.2, defaults.noise.poisson)
        self.noise_poisson.setToolTip("shot-noise std at full intensity")
        noise_form.addRow("Poisson", self.noise_poisson)
        self.noise_label = QLabel("")
        self.noise_label.setWordWrap(True)
        noise_form.addRow(self.noise_label)
        layout.addWidget(noise_box)

        artefact_box = QWidget()
        artefact_layout = QVBoxLayout(artefact_box)
        artefact_layout.setContentsMargins(4, 0, 0, 0)
        self.artefacts = {name: ArtefactControls(name, defaults.artefacts[name])
                          for name in ARTEFACT_NAMES}
        for controls in self.artefacts.values():
            artefact_layout.addWidget(controls)
        # folded while no artefact is on (calibration switches them off; it opens the section
        # when the stack shows one)
        self.artefact_section = Section("EM artefacts (enable, probability, strength range)",
                                        artefact_box, expanded=False, bold=False)
        layout.addWidget(self.artefact_section)

        row = QHBoxLayout()
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.new_sample = QPushButton("New sample")
        self.force = QCheckBox("show every enabled artefact")
        self.force.setChecked(True)
        self.force.setToolTip("preview with probability 1 (training still uses the probabilities)")
        self.seed.setToolTip("which patch and which random degradation the preview shows")
        self.new_sample.setToolTip("show another patch and another random degradation")
        row.addWidget(QLabel("Seed"))
        row.addWidget(self.seed)
        row.addWidget(self.new_sample)
        layout.addLayout(row)
        layout.addWidget(self.force)

        self.canvas = SpectraCanvas(self)
        layout.addWidget(self.canvas)
        self.agreement_label = QLabel("")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.agreement_label)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def _connect(self) -> None:
        for signal in (self.ratio.valueChanged, self.patch.valueChanged,
                       self.profile_kind.currentTextChanged, self.profile_width.valueChanged,
                       self.fixed_profile.toggled, self.noise_kind.currentTextChanged,
                       self.noise_sigma.valueChanged, self.noise_poisson.valueChanged,
                       self.seed.valueChanged, self.force.toggled):
            signal.connect(self.request_update)
        for controls in self.artefacts.values():
            controls.connect(self.request_update)
        self.layer_combo.currentTextChanged.connect(self._on_layer_chosen)
        self.new_sample.clicked.connect(lambda: self.seed.setValue(self.seed.value() + 1))
        self.ratio.valueChanged.connect(self._on_ratio_changed)
        self.suggest_button.clicked.connect(self.suggest_from_stack)
        self.as_layers.toggled.connect(self._on_as_layers)
        self.remove_layers_button.clicked.connect(self.remove_preview_layers)
        self.viewer.layers.events.inserted.connect(self._refresh_layer_choices)
        self.viewer.layers.events.removed.connect(self._refresh_layer_choices)
        self.state.stack_changed.connect(self._on_state_stack)
        self.destroyed.connect(self._on_destroyed)

    # ------------------------------------------------------------------------------ settings
    def config(self) -> DegradationConfig:
        """The degradation the controls describe."""
        low, high = self.profile_width.value()
        return DegradationConfig(
            profile=SliceProfile(self.profile_kind.currentText(), (low + high) / 2.0),
            profile_width=(low, high),
            fixed_profile=self.fixed_profile.isChecked(),
            noise=NoiseSettings(kind=self.noise_kind.currentText(),
                                probability=self._noise_probability,
                                sigma=tuple(self.noise_sigma.value()),
                                poisson=tuple(self.noise_poisson.value())),
            artefacts={name: c.artefact() for name, c in self.artefacts.items()},
        )

    def set_config(self, config: DegradationConfig) -> None:
        """Show ``config`` in the controls (one preview update follows)."""
        self.profile_kind.setCurrentText(config.profile.kind)
        self.profile_width.setValue(config.profile_width)
        self.fixed_profile.setChecked(config.fixed_profile)
        self._noise_probability = config.noise.probability
        self.noise_kind.setCurrentText(config.noise.kind)
        self.noise_sigma.setValue(config.noise.sigma)
        self.noise_poisson.setValue(config.noise.poisson)
        for name, controls in self.artefacts.items():
            controls.set_artefact(config.artefacts[name])
        if any(artefact.enabled for artefact in config.artefacts.values()):
            self.artefact_section.set_expanded(True)
        self.request_update()

    def stack_layer(self) -> Image | None:
        name = self.layer_combo.currentText()
        if name and name in self.viewer.layers:
            return self.viewer.layers[name]
        return None

    def _candidate_layers(self) -> list[str]:
        return [layer.name for layer in stack_layers(self.viewer.layers)
                if layer.name not in LAYER_NAMES]

    def _refresh_layer_choices(self, event=None) -> None:
        current = self.layer_combo.currentText()
        names = self._candidate_layers()
        self.layer_combo.blockSignals(True)
        self.layer_combo.clear()
        self.layer_combo.addItems(names)
        chosen = self.state.stack.layer_name if self.state.stack is not None else None
        for preferred in (chosen, current):
            if preferred in names:
                self.layer_combo.setCurrentText(preferred)
                break
        self.layer_combo.blockSignals(False)
        if self.layer_combo.currentText() != current:
            self._on_layer_chosen(self.layer_combo.currentText())

    def _on_state_stack(self, settings) -> None:
        self._refresh_layer_choices()
        if settings is not None and settings.layer_name == self.layer_combo.currentText():
            self.ratio.setValue(settings.ratio)

    def _on_layer_chosen(self, name: str) -> None:
        layer = self.stack_layer()
        if layer is None:
            return
        spacing = layer_spacing(layer, self.state.stack)
        if spacing is not None and spacing[0] / ((spacing[1] + spacing[2]) / 2.0) > 1.0:
            self.ratio.setValue(spacing[0] / ((spacing[1] + spacing[2]) / 2.0))
        self.request_update()
        self.suggest_from_stack()

    def suggest_from_stack(self) -> None:
        """Calibrate to the stack: estimate its slice profile and noise (physics.calibration) in
        the preview's worker thread, then set the controls to them."""
        if self.stack_layer() is None:
            self.status.setText("choose a 3-D image layer first")
            return
        self._calibrate_next = True
        self.suggest_button.setEnabled(False)
        self.calibration_label.setText("estimating the slice profile and noise of the stack...")
        self.request_update()

    def _on_ratio_changed(self, ratio: float) -> None:
        """A calibration belongs to one ratio: estimate again for the new one."""
        if self.estimate is not None and abs(self.estimate.ratio - ratio) > 1e-9:
            self.suggest_from_stack()

    def _on_estimate_failed(self, message: str) -> None:
        self.calibration_label.setText(f"cannot calibrate to this stack: {message}; the "
                                       "controls stay as they are")
        self._publish = True

    def _apply_estimate(self, estimate: DegradationEstimate) -> None:
        self.estimate = estimate
        self._publish = True
        self.set_config(estimate.config())
        lines = [estimate.summary()]
        lines += [f"the stack shows {s.name}: {s.reason} (switch it on below to simulate it)"
                  for s in estimate.suggestions]
        self.calibration_label.setText("\n".join(lines))
        if estimate.suggestions:
            self.artefact_section.set_expanded(True)
        self.noise_label.setText(
            f"section noise {100 * estimate.noise_relative:.1f} % of the range; a synthetic "
            f"acquisition adds {100 * estimate.added_noise:.1f} % on top of what the slice "
            "profile leaves of an xy patch's own noise")
        self.estimate_canvas.show_estimate(estimate)

    # ------------------------------------------------------------------------------ updates
    def request_update(self, *args) -> None:
        """Debounced: the preview is recomputed ``DEBOUNCE_MS`` after the last change."""
        if not self._closing:
            self._timer.start()

    def _start_update(self) -> None:
        if self._closing:
            return
        if self._worker is not None:
            self._pending = True
            return
        layer = self.stack_layer()
        if layer is None:
            self.status.setText("add or load a 3-D image layer to preview training pairs")
            return
        try:
            config = self.config()
        except A2IError as exc:
            self.status.setText(str(exc))
            return
        if self._publish:  # until calibrated, Train calibrates itself
            self.state.extra["degradation"] = config.to_dict()
        data = layer_volume(layer)
        key = (id(data), layer.name)
        if key != self._engine_key:
            self._engine, self._engine_key = None, key
        patch = int(min(self.patch.value(), *data.shape[1:]))
        calibrate, self._calibrate_next = self._calibrate_next, False
        args = (data, self.ratio.value(), config, patch, self.seed.value(),
                self.force.isChecked(), calibrate)
        self._pending = False
        self._worker = create_worker(self._compute, *args, _start_thread=False)
        self._worker.returned.connect(self._show)
        self._worker.errored.connect(self._on_error)
        self._worker.finished.connect(self._on_finished)
        self.status.setText("updating...")
        self._worker.start()

    def _compute(self, data, ratio, config, patch, seed, force, calibrate
                 ) -> tuple[Preview, DegradationEstimate | str | None]:
        """Worker thread: the calibration when asked (an estimate, or why it failed), then the
        preview."""
        estimate = None
        if calibrate:
            try:
                estimate = estimate_degradation(data, ratio)
            except A2IError as exc:
                estimate = str(exc)
        if self._engine is None:
            self._engine = PairsPreviewEngine(data)
        return self._engine.compute(ratio, config, patch_size=patch, seed=seed,
                                    force_artefacts=force), estimate

    def _on_error(self, exc: Exception) -> None:
        self.status.setText(f"preview failed: {exc}")
        self.suggest_button.setEnabled(True)

    def _on_finished(self) -> None:
        self._worker = None
        if self._pending and not self._closing:
            self._start_update()

    def _show(self, result: tuple[Preview, DegradationEstimate | str | None]) -> None:
        if self._closing:
            return
        preview, estimate = result
        if estimate is not None:
            self.suggest_button.setEnabled(True)
            if isinstance(estimate, str):
                self._on_estimate_failed(estimate)
            elif not self._calibrate_next:  # else a newer calibration is on its way
                self._apply_estimate(estimate)
        self.last_preview = preview
        self.strip.set_images((preview.clean, preview.degraded, preview.real))
        if self.as_layers.isChecked():
            self._update_layers(preview)
        self.canvas.show_comparison(preview.comparison)
        c = preview.comparison
        self.agreement_label.setText(
            f"real vs synthetic spectra (dB, lower is closer): axial {c.distance_db:.2f} "
            f"(acquisition only {c.acquisition_only_db:.2f}), lateral "
            f"{c.lateral_distance_db:.2f}")
        z, y, x = preview.location
        self.status.setText(f"patch from plane {z} at ({y}, {x}); "
                            f"updated in {1000 * preview.seconds:.0f} ms")
        self.update_count += 1

    def _on_as_layers(self, checked: bool) -> None:
        if checked and self.last_preview is not None:
            self._update_layers(self.last_preview)
        elif not checked:
            self.remove_preview_layers()

    def remove_preview_layers(self) -> None:
        """Remove the pair preview layers (one click)."""
        for name in LAYER_NAMES:
            layer = self.layers.pop(name, None)
            if layer is not None and layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        if self.as_layers.isChecked():
            self.as_layers.blockSignals(True)
            self.as_layers.setChecked(False)
            self.as_layers.blockSignals(False)

    def _update_layers(self, preview: Preview) -> None:
        """The three images as layers in a row just below the stack's xy view (in view when
        the stack is), updated in place."""
        stack = self.stack_layer()
        scale = tuple(float(s) for s in stack.scale[-2:]) if stack is not None else (1.0, 1.0)
        extent = stack.extent.world if stack is not None else ((0.0, 0.0), (0.0, 0.0))
        left, bottom = float(extent[0][-1]), float(extent[1][-2])
        gap = 16 * scale[1]
        offset, row = left, bottom + gap
        for name, image in zip(LAYER_NAMES, (preview.clean, preview.degraded, preview.real),
                               strict=True):
            layer = self.layers.get(name)
            if layer is None or layer not in self.viewer.layers:
                layer = self.viewer.add_image(image, name=name, colormap="gray",
                                              contrast_limits=(0.0, 1.0), scale=scale,
                                              metadata={ROLE_KEY: HELPER_ROLE})
                self.layers[name] = layer
            else:
                layer.data = image
            if tuple(layer.scale) != scale:
                layer.scale = scale
            if tuple(layer.translate) != (row, offset):
                layer.translate = (row, offset)
            offset += image.shape[1] * scale[1] + gap

    # ------------------------------------------------------------------------------ teardown
    def _on_destroyed(self, *args) -> None:
        self._closing = True
        self._timer.stop()
        if self._worker is not None:
            self._worker.quit()

    def closeEvent(self, event) -> None:
        self._on_destroyed()
        super().closeEvent(event)


__all__ = ["LAYER_NAMES", "TrainingPairsWidget"]
