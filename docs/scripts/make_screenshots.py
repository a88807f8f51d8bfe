"""Screenshots of the napari workflow for the user guide (docs/widgets.md), made headless.

    xvfb-run -a python docs/scripts/make_screenshots.py [--out docs/images] [--steps 60]

(``xvfb-run`` only where there is no display.) On the bundled sample stack it

1. docks **Train**, trains ``--steps`` steps of the ``tiny`` network and takes
   ``train_widget.png`` (progress, loss / validation plot, preview layer);
2. docks **Reconstruct** and **Orthogonal views**, reconstructs with that model and takes
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

from napari_a2i3dem.core.reconstruction import cubic_upsample_stack
from napari_a2i3dem.core.sample import SAMPLE_SPACING, make_sample_stack
from napari_a2i3dem.core.training import TrainConfig
from napari_a2i3dem.widgets._shared import StackSettings, plugin_state
from napari_a2i3dem.widgets.assess import AssessWidget
from napari_a2i3dem.widgets.orthoviews import OrthoViewsWidget
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


def reconstruct(viewer, stack: np.ndarray, model: Path, out: Path) -> str:
    """Reconstruct with the Reconstruct widget (its own API) and show the orthogonal views."""
    from napari_a2i3dem.widgets.reconstruct import ReconstructWidget

    widget = ReconstructWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Reconstruct", area="right")
    ortho = OrthoViewsWidget(viewer)
    viewer.window.add_dock_widget(ortho, name="Orthogonal views", area="bottom")
    before = {layer.name for layer in viewer.layers}
    widget.set_model(model) if hasattr(widget, "set_model") else plugin_state(viewer).set_model(
        model)
    widget.start() if hasattr(widget, "start") else widget.run_button.click()
    wait(lambda: getattr(widget, "_worker", None) is None and len(viewer.layers) > len(before),
         60 * 30, "reconstruction")
    new = [layer.name for layer in viewer.layers if layer.name not in before]
    shoot(viewer, out / "reconstruct_widget.png")
    viewer.window.remove_dock_widget(widget)
    viewer.window.remove_dock_widget(ortho)
    return new[0]


def reconstruct_headless(viewer, stack: np.ndarray, model: Path) -> str:
    """Without the Reconstruct widget: the same engine through core.pipeline."""
    from napari_a2i3dem.core.pipeline import reconstruct_isotropic

    volume = reconstruct_isotropic(stack, model, 3.0)
    viewer.add_image(volume, name="A2I-3DEM", scale=(SAMPLE_SPACING[1],) * 3)
    return "A2I-3DEM"


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
            name = reconstruct(viewer, stack, model, args.out)
        except ImportError:
            print("the Reconstruct widget is not available; skipping its screenshot")
            name = reconstruct_headless(viewer, stack, model)
        iso = (spacing[1],) * 3
        viewer.add_image(cubic_upsample_stack(stack, 3), name="cubic", scale=iso)
        assess(viewer, ["cubic", name], args.out)
    viewer.close()


if __name__ == "__main__":
    main()
