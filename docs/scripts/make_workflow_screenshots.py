"""Screenshots of the Workflow dock at a desktop and a laptop size (docs/widgets.md).

    DISPLAY=:55 python docs/scripts/make_workflow_screenshots.py --size 1920x1080
    DISPLAY=:56 python docs/scripts/make_workflow_screenshots.py --size 1366x768

Each run opens napari at that size on the bundled sample stack, docks **Workflow** (the plugin's
one panel), uses the stack (calibration), trains ``--steps`` steps of ``tiny``, previews one xz
plane, reconstructs, opens the comparison and the orthogonal views, and writes
``workflow_<step>_<size>.png`` for each stage. Every stage waits for the widget's own worker, so
the pictures show real results. Needs a real display (Xvfb), not ``offscreen``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import napari

from napari_a2i3dem.core.physics.sample import SAMPLE_SPACING, make_sample_stack
from napari_a2i3dem.core.training.config import TrainConfig
from napari_a2i3dem.widgets.stall_meter import wait_until

REPO = Path(__file__).resolve().parents[2]


def shoot(viewer, out: Path, name: str, size: str) -> Path:
    path = out / f"workflow_{name}_{size}.png"
    viewer.screenshot(str(path), canvas_only=False)
    print("wrote", path)
    return path


def settle(seconds: float) -> None:
    import time

    end = time.monotonic() + seconds
    wait_until(lambda: time.monotonic() > end, seconds + 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080", help="window size WxH")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    stack, spacing = make_sample_stack()
    viewer = napari.Viewer(show=True)
    viewer.window.resize(width, height)
    viewer.add_image(stack, name="sample stack", scale=spacing,
                     metadata={"spacing": tuple(SAMPLE_SPACING)})
    _, panel = viewer.window.add_plugin_dock_widget("napari-a2i3dem", "Workflow")
    wait_until(lambda: panel.ready, 120, "the workflow panel")
    load = panel.section_widget("Load anisotropic stack")
    pairs = panel.section_widget("Training pairs")
    load.apply()
    wait_until(lambda: pairs.estimate is not None and pairs._worker is None
               and not pairs.canvas.busy and not pairs.estimate_canvas.busy, 120, "calibration")
    settle(1.0)
    shoot(viewer, args.out, "pairs", args.size)

    train = panel.section_widget("Train")
    with tempfile.TemporaryDirectory() as folder:
        train.output_edit.setText(folder)
        panel.sections["Training pairs"].set_expanded(False)
        panel.show_section("Train")
        config = TrainConfig(preset="tiny", steps=args.steps, batch_size=8, patch_size=64,
                             validation_every=max(1, args.steps // 6),
                             preview_every=max(1, args.steps // 6))
        assert train.start(config), train.status_label.text()
        wait_until(lambda: not train.is_running and train.model_path is not None, 1800,
                   "training")
        settle(1.5)
        shoot(viewer, args.out, "train", args.size)

        recon = panel.section_widget("Reconstruct")
        panel.sections["Train"].set_expanded(False)
        panel.show_section("Reconstruct")
        recon.preview_plane()
        wait_until(lambda: recon.preview_worker is None, 300, "preview")
        assert recon.run(), recon.status.text()
        wait_until(lambda: recon.output_layer is not None and recon.refreshes >= 1, 600,
                   "the first pieces")
        viewer.dims.order = (1, 0, 2)  # an xz view: z vertical
        viewer.reset_view()
        settle(0.5)
        shoot(viewer, args.out, "streaming", args.size)
        wait_until(lambda: not recon.is_running, 1800, "reconstruction")
        recon.compare(True)
        settle(1.0)
        shoot(viewer, args.out, "compare", args.size)
        recon.compare(False)
        ortho = recon.open_orthoviews()
        wait_until(lambda: ortho.ready, 60, "orthogonal views")
        viewer.dims.order = (0, 1, 2)
        viewer.reset_view()
        settle(1.0)
        shoot(viewer, args.out, "orthoviews", args.size)
    viewer.close()


if __name__ == "__main__":
    main()
