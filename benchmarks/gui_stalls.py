"""Longest GUI stall per step of the interactive loop, in a real napari window.

    DISPLAY=:55 python benchmarks/gui_stalls.py [--layout workflow|separate] [--stack TIFF]
                                                 [--steps 40] [--json out.json]

A 20 ms QTimer (``napari_a2i3dem.widgets.stall_meter``) records the gaps between its ticks while
each step runs, exactly as a user would do it: open the TIFF (napari's reader), open the plugin
(the one *Workflow* dock, or the separate docks), use the stack (calibration runs), train a few
steps of the ``tiny`` network, reconstruct, preview one xz plane, open the orthogonal views,
compare with cubic, close the viewer. Waiting runs the Qt event loop itself (no busy loop), so the
gaps are what a person sees as a frozen window. Anything over 200 ms is a defect.

Prints one line per step (longest gap, gaps over 200 ms, duration) plus the load of the machine;
``--json`` writes them for docs/benchmarks.md. Needs a display (Xvfb), not ``offscreen``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

STEPS = ("open_tiff", "open_plugin", "use_stack", "train", "reconstruct", "preview_plane",
         "orthoviews", "compare", "close")


def _sample_tiff(folder: Path) -> Path:
    from napari_a2i3dem.core.io.tiff_writer import write_stack
    from napari_a2i3dem.core.physics.sample import SAMPLE_SPACING, make_sample_stack

    stack, _ = make_sample_stack()
    path = folder / "sample_stack.tif"
    write_stack(path, stack, SAMPLE_SPACING)
    return path


class Session:
    """One napari window driven step by step, with a stall meter around every step."""

    def __init__(self, layout: str, steps: int) -> None:
        import napari

        from napari_a2i3dem.widgets.stall_meter import StallMeter

        self.layout = layout
        self.train_steps = steps
        self.viewer = napari.Viewer(show=True)
        self.viewer.window._qt_window.resize(1920, 1050)
        self.meter = StallMeter()
        self.results: dict[str, dict] = {}
        self.widgets: dict[str, object] = {}
        self.profile_step = ""

    def measure(self, name: str, action, *, timeout: float = 1800.0) -> None:
        """Run ``action`` (which returns a done-condition or None) under the meter."""
        from napari_a2i3dem.widgets.stall_meter import wait_until

        self.meter.start()
        started = time.perf_counter()
        if name == self.profile_step:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            done = profiler.runcall(action)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        else:
            done = action()
        if done is not None:
            wait_until(done, timeout, name)
        report = self.meter.stop()
        self.results[name] = {"longest_ms": round(report.longest_ms, 1),
                              "stalls_over_200ms": report.stalls,
                              "seconds": round(time.perf_counter() - started, 2)}
        print(f"{name:14s} {report.describe()}", flush=True)

    # ------------------------------------------------------------------------------ steps
    def open_tiff(self, path: Path):
        self.viewer.open(str(path), plugin=self.reader)
        return None

    def open_plugin(self):
        if self.layout == "workflow":
            _, workflow = self.viewer.window.add_plugin_dock_widget("napari-a2i3dem", "Workflow")
            self.widgets["workflow"] = workflow
            return lambda: workflow.ready
        docks = []
        for name in ("Load anisotropic stack", "Training pairs", "Train", "Reconstruct"):
            _, widget = self.viewer.window.add_plugin_dock_widget("napari-a2i3dem", name)
            self.widgets[name] = widget
            docks.append(widget)
        return lambda: all(getattr(dock, "ready", True) for dock in docks)

    def _widget(self, name: str):
        if self.layout == "workflow":
            return self.widgets["workflow"].section_widget(name)
        widget = self.widgets[name]
        return getattr(widget, "widget", widget)  # a deferred dock holds the real widget

    def use_stack(self):
        load = self._widget("Load anisotropic stack")
        pairs = self._widget("Training pairs")
        load.apply()
        return lambda: pairs.estimate is not None and pairs._worker is None

    def train(self):
        from napari_a2i3dem.core.training.config import TrainConfig

        widget = self._widget("Train")
        widget.output_edit.setText(str(self.folder))
        config = TrainConfig(preset="tiny", steps=self.train_steps, batch_size=4, patch_size=64,
                             validation_every=max(1, self.train_steps // 4),
                             preview_every=max(1, self.train_steps // 4))
        if not widget.start(config):
            raise RuntimeError(widget.status_label.text())
        return lambda: not widget.is_running and widget.model_path is not None

    def reconstruct(self):
        widget = self._widget("Reconstruct")
        if not widget.run():
            raise RuntimeError(widget.status.text())
        return lambda: not widget.is_running

    def preview_plane(self):
        widget = self._widget("Reconstruct")
        if not hasattr(widget, "preview_plane"):
            return None
        widget.preview_plane()
        return lambda: widget.preview_worker is None

    def orthoviews(self):
        ortho = self._widget("Reconstruct").open_orthoviews()
        if self.profile_step == "orthoviews_steps":
            _time_steps(ortho)
        return lambda: ortho.ready

    def compare(self):
        widget = self._widget("Reconstruct")
        widget.compare(True)
        return None

    def close(self):
        self.viewer.close()
        return None


class StallTracer:
    """``--trace``: a watchdog thread that prints the GUI thread's stack when a tick is late."""

    def __init__(self, meter, late_ms: float = 150.0) -> None:
        import threading

        self.meter, self.late_s = meter, late_ms / 1000.0
        self.main = threading.main_thread().ident
        self.seen: set[tuple] = set()
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        import traceback

        while True:
            time.sleep(0.05)
            timer_running = self.meter._timer.isActive()
            if not timer_running or time.perf_counter() - self.meter._last < self.late_s:
                continue
            frame = sys._current_frames().get(self.main)
            stack = traceback.extract_stack(frame)[-14:]
            key = tuple((f.filename, f.lineno) for f in stack[-4:])
            if key in self.seen:
                continue
            self.seen.add(key)
            print("---- GUI thread late:", file=sys.stderr)
            for f in stack:
                print(f"  {f.filename.split('site-packages/')[-1]}:{f.lineno} {f.name}",
                      file=sys.stderr)


def _time_steps(ortho) -> None:
    """Debugging: print how long each staged set-up step of the orthogonal views takes."""
    steps = ortho._steps
    for i, step in enumerate(steps):
        def timed(step=step, i=i):
            started = time.perf_counter()
            step()
            print(f"  ortho step {i} {getattr(step, 'func', step).__name__}: "
                  f"{1000 * (time.perf_counter() - started):.0f} ms", flush=True)
        steps[i] = timed


def machine_load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("workflow", "separate"), default="workflow")
    parser.add_argument("--stack", type=Path, help="a TIFF stack (default: the sample stack)")
    parser.add_argument("--steps", type=int, default=40, help="training steps (default 40)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--reader", default="napari-a2i3dem",
                        help="plugin that opens the TIFF (napari: napari's own reader, to compare "
                             "the first layer's cost)")
    parser.add_argument("--profile", default="", metavar="STEP",
                        help="profile the GUI-thread part of one step (debugging)")
    parser.add_argument("--trace", action="store_true",
                        help="print the GUI thread's stack whenever it is late (debugging)")
    args = parser.parse_args(argv)
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen" or not os.environ.get("DISPLAY"):
        print("needs a real display: start Xvfb and set DISPLAY", file=sys.stderr)
        return 2
    load_before = machine_load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stack = args.stack or _sample_tiff(folder)
        session = Session(args.layout, args.steps)
        session.folder = folder
        session.reader = args.reader
        session.profile_step = args.profile
        if args.trace:
            StallTracer(session.meter)
        session.measure("open_tiff", lambda: session.open_tiff(stack))
        for name in STEPS[1:]:
            session.measure(name, getattr(session, name))
    summary = {"layout": args.layout, "stack": str(stack.name), "reader": args.reader,
               "train_steps": args.steps,
               "load_before": load_before, "load_after": machine_load(),
               "steps": session.results,
               "worst_ms": max(r["longest_ms"] for r in session.results.values())}
    print(f"load {load_before} -> {summary['load_after']}; worst stall "
          f"{summary['worst_ms']:.0f} ms")
    if args.json:
        from napari_a2i3dem.core.io.atomic import atomic_file

        with atomic_file(args.json, suffix=".json") as handle:
            handle.write((json.dumps(summary, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
