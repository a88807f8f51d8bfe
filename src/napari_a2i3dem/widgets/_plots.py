"""Plots that never block the window: matplotlib figures rendered by Agg in a worker thread.

A synchronous matplotlib draw (tick layout, mathtext, legends) costs 0.1–0.4 s on the GUI thread;
during training that froze napari every few steps. :class:`BackgroundPlot` keeps its figure away
from the GUI thread: changes are queued as small functions, a worker applies them and renders the
figure into an RGBA buffer, and the label shows that buffer as a pixmap. At most one render runs at
a time and at most one every ``min_interval`` seconds; a request while one runs is folded into the
next render.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QLabel, QSizePolicy, QWidget
from superqt.utils import create_worker

FigureUpdate = Callable[[Figure], None]
#: matplotlib's text layout (mathtext's pyparsing grammar, font caches) is shared and not
#: thread-safe: one render at a time across every plot.
_RENDER_LOCK = threading.Lock()


class BackgroundPlot(QLabel):
    """A matplotlib figure shown as a pixmap and redrawn in a worker thread (see module doc).

    Subclasses change the figure only inside functions passed to :meth:`request`; those run in
    the render thread, never concurrently with a render.
    """

    rendered = Signal()

    def __init__(self, parent: QWidget | None = None, *, height: int = 220,
                 min_interval: float = 0.25, tight: bool = True) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(4.0, height / 100.0), dpi=100)
        FigureCanvasAgg(self.figure)
        self.tight = tight
        self.min_interval = float(min_interval)
        self.renders = 0
        self._updates: list[FigureUpdate] = []
        self._busy = False
        self._closing = False
        self._last_render = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._start_render)
        self.setMinimumHeight(height)
        self.setMinimumWidth(200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.destroyed.connect(self._on_destroyed)

    @property
    def busy(self) -> bool:
        """True while a render is queued or running."""
        return self._busy or self._timer.isActive() or bool(self._updates)

    def request(self, update: FigureUpdate | None = None, *, now: bool = False) -> None:
        """Queue ``update(figure)`` (if given) and a redraw, rate-limited unless ``now``."""
        if self._closing:
            return
        if update is not None:
            self._updates.append(update)
        if self._busy:
            return  # folded into the render that follows the running one
        wait = 0.0 if now else max(0.0, self.min_interval - (time.monotonic() - self._last_render))
        if not self._timer.isActive():
            self._timer.start(int(wait * 1000))

    def _start_render(self) -> None:
        if self._closing or self._busy:
            return
        updates, self._updates = self._updates, []
        ratio = self.devicePixelRatioF()
        size = (max(self.width(), 200) * ratio, max(self.minimumHeight(), self.height()) * ratio)
        self._busy = True
        worker = create_worker(self._render, updates, size, _start_thread=False)
        worker.returned.connect(self._show)
        worker.finished.connect(self._on_render_finished)
        worker.start()

    def _render(self, updates: list[FigureUpdate], size: tuple[float, float]) -> np.ndarray:
        """Render thread: apply the queued changes, draw, copy the RGBA buffer."""
        figure = self.figure
        with _RENDER_LOCK:
            figure.set_size_inches(size[0] / figure.dpi, size[1] / figure.dpi)
            for update in updates:
                update(figure)
            if self.tight:
                figure.tight_layout(pad=0.4)
            figure.canvas.draw()
            return np.asarray(figure.canvas.buffer_rgba()).copy()

    def _show(self, rgba: np.ndarray) -> None:
        if self._closing:
            return
        height, width = rgba.shape[:2]
        image = QImage(rgba.data, width, height, 4 * width, QImage.Format.Format_RGBA8888)
        pixmap = QPixmap.fromImage(image.copy())
        pixmap.setDevicePixelRatio(self.devicePixelRatioF())
        self.setPixmap(pixmap)
        self.renders += 1
        self.rendered.emit()

    def _on_render_finished(self) -> None:
        self._busy = False
        self._last_render = time.monotonic()
        if self._updates and not self._closing:
            self.request()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.request()

    def _on_destroyed(self, *_args) -> None:
        self._closing = True
