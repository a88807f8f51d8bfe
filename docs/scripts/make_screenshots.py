"""Screenshots of the napari workflow for the user guide (docs/widgets.md), made headless.

    xvfb-run -a python docs/scripts/make_screenshots.py [--out docs/images] [--steps 60]

(``xvfb-run`` only where there is no display.) On the bundled sample stack it

1. docks **Train**, trains ``--steps`` steps of the ``tiny`` network and takes
   ``train_widget.png`` (progress, loss / validation plot, preview layer);
2. docks **Reconstruct**, reconstructs with that model, opens the **Orthogonal views** and takes
   ``reconstruct_widget.png``;
3. docks **Assess resolution**, measures the cubic interpolation and the reconstruction and takes
   ``assess_widget.png``.

The Load and Training-pairs screenshots are made by ``make_load_figures.py`` and
``make_pairs_widget_screenshot.py``. Every step waits for the widget's own worker to finish, so the
pictures show real results, not placeholders.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

from napari_a2i3dem.core.inference.reconstruction import cubic_upsample_stack
from napari_a2i3dem.core.physics.sample import SAMPLE_SPACING, make_sample_stack
from napari_a2i3dem.core.training.config import TrainConfig
from napari_a2i3dem.widgets._shared import StackSettings, plugin_state
from napari_a2i3dem.widgets.assess import AssessWidget
from napari_a2i3dem.widgets.train import TrainWidget

REPO = Path(__file__).resolve().parents[2]


def settle(seconds: float = 0.5) -> None:
    """Let Qt process events (layouts, redraws) for a moment."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def wait(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} did not finish within {timeout:.0f} s")
        QApplication.processEvents()
        time.sleep(0.05)


def shoot(viewer, path: Path) -> None:
    settle(1.0)
    viewer.screenshot(str(path), canvas_only=False)
    print("wrote", path)


def train(viewer, steps: int, out: Path, folder: Path) -> Path:
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train", area="right")
    widget.output_edit.setText(str(folder))
    widget.steps_spin.setValue(steps)
    config = TrainConfig(preset="tiny", steps=steps, batch_size=8, patch_size=64,
                         validation_every=max(1, steps // 10), preview_every=max(1, steps // 10))
    if not widget.start(config):
        raise RuntimeError(f"the Train widget refused to start: {widget.status_label.text()}")
    wait(lambda: widget.model_path is not None and not widget.is_running
         and widget.start_button.isEnabled(), 60 * 30, "training")
    shoot(viewer, out / "train_widget.png")
    viewer.window.remove_dock_widget(widget)
    return widget.model_path


def reconstruct(viewer, model: Path, out: Path) -> list[str]:
    """Reconstruct with the Reconstruct widget, show cubic | A2I-3DEM and the orthogonal views;
    returns the names of the cubic and the reconstructed layers."""
    from napari_a2i3dem.widgets.reconstruct import ReconstructWidget

    widget = ReconstructWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reconstruct", area="right")
    plugin_state(viewer).set_model(model)
    if not widget.run():
        raise RuntimeError("the Reconstruct widget refused to run")
    wait(lambda: not widget.is_running, 60 * 30, "reconstruction")
    names = [widget.cubic_layer.name, widget.output_layer.name]
    for layer in viewer.layers:
        layer.visible = layer.name == names[1]
    extent = widget.output_layer.extent.world
    for axis in range(3):                    # the middle of the volume in every view
        viewer.dims.set_point(axis, (extent[0][axis] + extent[1][axis]) / 2)
    ortho = widget.open_orthoviews()
    viewer.reset_view()
    shoot(viewer, out / "reconstruct_widget.png")
    viewer.window.remove_dock_widget(ortho)
    viewer.window.remove_dock_widget(widget)
    return names


def reconstruct_headless(viewer, stack: np.ndarray, model: Path) -> list[str]:
    """Without the Reconstruct widget: the same engine through core.pipeline."""
    from napari_a2i3dem.core.training.timebox import reconstruct_isotropic

    iso = (SAMPLE_SPACING[1],) * 3
    viewer.add_image(cubic_upsample_stack(stack, 3), name="cubic", scale=iso)
    viewer.add_image(reconstruct_isotropic(stack, model, 3.0), name="A2I-3DEM", scale=iso)
    return ["cubic", "A2I-3DEM"]


def assess(viewer, names: list[str], out: Path) -> None:
    widget = AssessWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Assess resolution", area="right")
    for layer in viewer.layers:
        layer.visible = layer.name == names[-1]
    viewer.dims.order = (1, 0, 2)            # an xz view: z vertical, x horizontal
    viewer.reset_view()
    for name in names:
        widget.layer_combo.setCurrentText(name)
        widget.measure()
        wait(lambda: widget.worker is None, 300, f"assessing {name}")
    shoot(viewer, out / "assess_widget.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--steps", type=int, default=60, help="training steps (default 60)")
    parser.add_argument("--model", type=Path, help="skip training and use this model file")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    stack, spacing = make_sample_stack()
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1700, 1050)
    viewer.add_image(stack, name="sample stack", scale=spacing)
    plugin_state(viewer).set_stack(StackSettings("sample stack", tuple(SAMPLE_SPACING)))
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or train(viewer, args.steps, args.out, Path(folder))
        try:
            names = reconstruct(viewer, model, args.out)
        except ImportError:
            print("the Reconstruct widget is not available; skipping its screenshot")
            names = reconstruct_headless(viewer, stack, model)
        assess(viewer, names, args.out)
    viewer.close()


if __name__ == "__main__":
    main()
