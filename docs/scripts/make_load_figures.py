"""Re-create the figures of docs/getting_started.md: the sample stack (xy and xz against its
isotropic truth) and a screenshot of napari with the Load widget.

    xvfb-run -a python docs/scripts/make_load_figures.py [--out docs/images]

Deterministic (the sample is generated from seed 0).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from napari_a2i3dem.core.physics.acquisition import upsample_axis
from napari_a2i3dem.core.physics.sample import SAMPLE_RATIO, make_sample_stack, make_sample_truth


def sample_figure(out: Path) -> Path:
    stack, _ = make_sample_stack()
    truth = make_sample_truth()
    cubic = upsample_axis(stack.astype(np.float32), SAMPLE_RATIO, axis=0, out_len=truth.shape[0])
    figure = Figure(figsize=(9, 6.4), dpi=110)
    FigureCanvasAgg(figure)
    panels = [
        (truth[48], "truth, xy (15 nm)"),
        (stack[16], "sample stack, xy section 16"),
        (truth[:, 128], "truth, xz (15 nm isotropic)"),
        (cubic[:, 128], f"sample, xz, cubic-upsampled ×{SAMPLE_RATIO}"),
    ]
    for i, (image, title) in enumerate(panels):
        ax = figure.add_axes((0.02 + 0.49 * (i % 2), 0.52 if i < 2 else 0.03, 0.47, 0.42))
        ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    path = out / "sample_stack.png"
    figure.savefig(path)
    return path


def widget_screenshot(out: Path) -> Path:
    import napari

    from napari_a2i3dem.widgets.load import LoadStackWidget

    viewer = napari.Viewer(show=True)
    try:
        viewer.window.resize(1400, 800)
        viewer.open_sample("napari-a2i3dem", "anisotropic_em")
        viewer.dims.ndisplay = 2
        _, widget = viewer.window.add_plugin_dock_widget("napari-a2i3dem",
                                                         "Load anisotropic stack")
        assert isinstance(widget, LoadStackWidget)
        widget.lateral_spin.setValue(15.0)
        widget.apply()
        from qtpy.QtWidgets import QApplication

        for _ in range(20):
            QApplication.processEvents()
        path = out / "load_widget.png"
        viewer.screenshot(str(path), canvas_only=False)
        return path
    finally:
        viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(sample_figure(args.out))
    print(widget_screenshot(args.out))


if __name__ == "__main__":
    main()
