"""Build a dock widget without freezing the window: import its module off the GUI thread first.

The widgets that train and reconstruct import PyTorch and matplotlib (several seconds on a laptop).
Imported by npe2 on the GUI thread, that import froze napari. A :class:`DeferredWidget` shows a
one-line placeholder at once, imports the module in a worker thread, and only then constructs the
real widget on the GUI thread (fast: the modules are loaded). Freezing the heap after the import
moves the long-lived objects of torch out of the collector's way, so napari's ``gc.collect()`` on
every layer removal stays short (``_shared.freeze_heap``).
"""

from __future__ import annotations

import importlib
import sys

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget
from superqt.utils import create_worker

from ._shared import freeze_heap, watch_removals

_IMPORTS: dict[str, object] = {}  # module name -> running worker
#: libraries the core imports on first use (so that the command line starts light); loaded here,
#: off the GUI thread, so that no widget's first computation imports them on it
WARM_IMPORTS = ("scipy.ndimage", "scipy.fft")


def _import(module: str) -> str:
    """Worker thread: import ``module`` and :data:`WARM_IMPORTS`, then freeze the heap (instant;
    no collection here; layers frozen with it are freed when removed, see
    ``_shared.freeze_heap``)."""
    importlib.import_module(module)
    for name in WARM_IMPORTS:
        importlib.import_module(name)
    freeze_heap(collect=False)
    return module


class DeferredWidget(QWidget):
    """A placeholder that becomes ``module.class_name(viewer)`` once ``module`` is imported.

    ``built`` is emitted with the real widget; ``widget`` is None until then. With
    ``scroll=True`` the widget sits in a scroll area, so a tall panel never makes the dock taller
    than the screen.
    """

    built = Signal(object)

    def __init__(self, napari_viewer, module: str, class_name: str, *, title: str = "",
                 scroll: bool = True, options: dict | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        watch_removals(napari_viewer)  # its layers are remembered when the import freezes the heap
        self.module = module
        self.class_name = class_name
        self.options = dict(options or {})
        self.widget: QWidget | None = None
        self.error: str | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.placeholder = QLabel(f"Loading {title or class_name} (PyTorch, plots)…")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._layout.addWidget(self.placeholder)
        self._scroll = scroll
        if module in sys.modules and module not in _IMPORTS:
            self._build()
        else:
            self._start_import()

    @property
    def ready(self) -> bool:
        return self.widget is not None

    def _start_import(self) -> None:
        worker = _IMPORTS.get(self.module)
        if worker is None:
            worker = create_worker(_import, self.module, _start_thread=False)
            worker.finished.connect(lambda module=self.module: _IMPORTS.pop(module, None))
            _IMPORTS[self.module] = worker
            worker.start()
        worker.errored.connect(self._on_import_failed)
        worker.finished.connect(self._on_imported)

    def _on_imported(self, *_args) -> None:
        if self.widget is None and self.error is None and self.module in sys.modules:
            self._build()

    def _on_import_failed(self, exc: BaseException) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        self.placeholder.setText(f"Cannot load {self.class_name}: {self.error}")
        self.placeholder.setStyleSheet("color: #e05555;")

    def _build(self) -> None:
        cls = getattr(importlib.import_module(self.module), self.class_name)
        widget = cls(self.viewer, **self.options)
        self.placeholder.hide()
        if self._scroll:
            area = QScrollArea()
            area.setWidgetResizable(True)
            area.setFrameShape(QFrame.Shape.NoFrame)
            area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            area.setWidget(widget)
            area.setMinimumWidth(min(widget.minimumSizeHint().width() + 24, 560))
            self._layout.addWidget(area)
        else:
            self._layout.addWidget(widget)
        self.widget = widget
        self.built.emit(widget)


def _dock(module: str, class_name: str, title: str, *, scroll: bool = True, **options):
    """A napari widget contribution: the widget ``class_name`` of ``module``, deferred."""

    class Dock(DeferredWidget):
        def __init__(self, napari_viewer) -> None:
            super().__init__(napari_viewer, module, class_name, title=title, scroll=scroll,
                             options=options)

    Dock.__name__ = Dock.__qualname__ = f"{class_name}Dock"
    return Dock


PREFIX = "napari_a2i3dem.widgets."
LoadDock = _dock(PREFIX + "load", "LoadStackWidget", "Load anisotropic stack")
PairsDock = _dock(PREFIX + "pairs", "TrainingPairsWidget", "Training pairs")
TrainDock = _dock(PREFIX + "train", "TrainWidget", "Train")
ReconstructDock = _dock(PREFIX + "reconstruct", "ReconstructWidget", "Reconstruct")
OrthoViewsDock = _dock(PREFIX + "orthoviews", "OrthoViewsWidget", "Orthogonal views",
                       scroll=False, staged=True)
AssessDock = _dock(PREFIX + "assess", "AssessWidget", "Assess resolution")
