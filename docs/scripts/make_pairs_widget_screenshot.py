"""Screenshot of the Training-pairs widget on the CREMI sample (or the procedural sample stack).

    xvfb-run -a python docs/scripts/make_pairs_widget_screenshot.py [--out docs/images]

(``xvfb-run`` only where there is no display.) Writes ``pairs_widget.png`` and prints the time the
widget took from a slider change to updated layers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import napari
import tifffile
from qtpy.QtWidgets import QApplication

from napari_a2i3dem.core.physics.sample import make_sample_stack
from napari_a2i3dem.widgets.pairs import TrainingPairsWidget

REPO = Path(__file__).resolve().parents[2]


def wait(condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the widget did not update in time")
        QApplication.processEvents()
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    cremi = args.data / "cremi_sample.tif"
    if cremi.is_file():
        stack, scale = tifffile.imread(cremi), (40.0, 4.0, 4.0)
    else:
        stack, scale = make_sample_stack()
    viewer = napari.Viewer(show=True)
    viewer.add_image(stack, name="stack", scale=scale)
    widget = TrainingPairsWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Training pairs", area="right")
    viewer.window._qt_window.resize(1600, 1000)
    widget.patch.setValue(256)
    wait(lambda: widget.update_count >= 1 and widget._worker is None)
    timings = []
    for top in (0.1, 0.2, 0.15):
        count = widget.update_count
        start = time.perf_counter()
        widget.artefacts["drift"].strength.setValue((top / 2, top))
        wait(lambda count=count: widget.update_count > count and widget._worker is None)
        timings.append(time.perf_counter() - start)
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.02)
    args.out.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out / "pairs_widget.png"), canvas_only=False)
    print("slider change -> layers updated (s):", [round(t, 3) for t in timings],
          "of which computing:", round(widget.last_preview.seconds, 3))
    viewer.close()


if __name__ == "__main__":
    main()
