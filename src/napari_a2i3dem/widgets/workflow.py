"""The *A2I-3DEM workflow* panel: the whole loop in one scrollable dock, in the order of the work.

Stack → Training pairs → Train → Reconstruct & compare → Assess. Each step is a collapsible
section holding the same widget as its separate Plugins-menu command, so both share one state
(:func:`~napari_a2i3dem.widgets._shared.plugin_state`). The panel appears at once: the sections
that need PyTorch and matplotlib show a placeholder while those modules are imported in a worker
thread (:mod:`._deferred`), then build one per event-loop turn. The scroll area keeps the dock
usable on a 1366 × 768 laptop screen. Above it, a bar groups the plugin's preview layers (hide,
show or remove them in one click; :mod:`._preview_layers`).
"""

from __future__ import annotations

from qtpy.QtCore import QEvent, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from ._deferred import PREFIX, DeferredWidget
from ._preview_layers import PreviewLayersBar
from ._section import Section
from ._shared import plugin_state

#: (section title, module, class, expanded at start)
SECTIONS = (
    ("Load anisotropic stack", PREFIX + "load", "LoadStackWidget", True),
    ("Training pairs", PREFIX + "pairs", "TrainingPairsWidget", True),
    ("Train", PREFIX + "train", "TrainWidget", True),
    ("Reconstruct", PREFIX + "reconstruct", "ReconstructWidget", False),
    ("Assess resolution", PREFIX + "assess", "AssessWidget", False),
)
PANEL_WIDTH = 470


class WorkflowWidget(QWidget):
    """One dock for the whole A2I-3DEM loop (see the module docstring)."""

    def __init__(self, napari_viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.sections: dict[str, Section] = {}
        self.deferred: dict[str, DeferredWidget] = {}
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.setContentsMargins(4, 4, 4, 4)
        for number, (title, module, class_name, expanded) in enumerate(SECTIONS, start=1):
            body = DeferredWidget(napari_viewer, module, class_name, title=title, scroll=False)
            section = Section(f"{number}  {title}", body, expanded)
            self.deferred[title] = body
            self.sections[title] = section
            body.built.connect(self._fit_width)
            column.addWidget(section)
        column.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(inner)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setMinimumWidth(PANEL_WIDTH)
        self._inner = inner
        # never wider than what is visible: long texts wrap instead of running off the edge
        self.scroll.viewport().installEventFilter(self)
        # the plugin's preview layers as one group, above the steps (hidden while there are none)
        self.preview_layers = PreviewLayersBar(napari_viewer)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.preview_layers)
        layout.addWidget(self.scroll)
        # a stack confirmed, a model trained: the next step is the one to show
        state = plugin_state(napari_viewer)
        state.stack_changed.connect(self._on_stack)
        state.model_changed.connect(self._on_model)

    def _on_stack(self, settings) -> None:
        if settings is not None:
            self.sections["Training pairs"].set_expanded(True)

    def _on_model(self, path) -> None:
        if path is not None:
            self.sections["Reconstruct"].set_expanded(True)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            self._inner.setMaximumWidth(max(1, event.size().width()))
        return super().eventFilter(watched, event)

    def _fit_width(self, *_args) -> None:
        """Wide enough for the widest section: nothing is ever cut off at the right edge."""
        needed = (self._inner.minimumSizeHint().width()
                  + self.scroll.verticalScrollBar().sizeHint().width() + 2)
        self.scroll.setMinimumWidth(max(PANEL_WIDTH, needed))

    @property
    def ready(self) -> bool:
        """True once every section holds its real widget."""
        return all(body.ready for body in self.deferred.values())

    def section_widget(self, title: str) -> QWidget | None:
        """The real widget of section ``title`` (None while it is still loading)."""
        return self.deferred[title].widget

    def show_section(self, title: str) -> None:
        """Expand section ``title`` and scroll it into view."""
        section = self.sections[title]
        section.set_expanded(True)
        self._inner.layout().activate()  # positions after the expansion
        self.scroll.verticalScrollBar().setValue(section.y())
