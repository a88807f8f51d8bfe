"""The *A2I-3DEM workflow* panel: the whole loop in one scrollable dock, in the order of the work.

Stack → Training pairs → Train → Reconstruct & compare → Assess. Each step is a collapsible
section holding the same widget as its separate Plugins-menu command, so both share one state
(:func:`~napari_a2i3dem.widgets._shared.plugin_state`). The panel appears at once: the sections
that need PyTorch and matplotlib show a placeholder while those modules are imported in a worker
thread (:mod:`._deferred`), then build one per event-loop turn. The scroll area keeps the dock
usable on a 1366 × 768 laptop screen.
"""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFrame,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ._deferred import PREFIX, DeferredWidget

#: (section title, module, class, expanded at start)
SECTIONS = (
    ("Load anisotropic stack", PREFIX + "load", "LoadStackWidget", True),
    ("Training pairs", PREFIX + "pairs", "TrainingPairsWidget", True),
    ("Train", PREFIX + "train", "TrainWidget", True),
    ("Reconstruct", PREFIX + "reconstruct", "ReconstructWidget", True),
    ("Assess resolution", PREFIX + "assess", "AssessWidget", False),
)
PANEL_WIDTH = 470


class Section(QWidget):
    """A header button that shows or hides one step's widget."""

    def __init__(self, number: int, title: str, body: QWidget, expanded: bool,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.body = body
        self.header = QToolButton()
        self.header.setText(f"{number}  {title}")
        self.header.setCheckable(True)
        self.header.setChecked(expanded)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.header.setStyleSheet("QToolButton { font-weight: bold; text-align: left; "
                                  "padding: 4px; }")
        self.header.setToolTip(f"show or hide the {title} step")
        self.header.toggled.connect(self.set_expanded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(2)
        layout.addWidget(self.header)
        layout.addWidget(body)
        self.set_expanded(expanded)

    def set_expanded(self, expanded: bool) -> None:
        self.header.blockSignals(True)
        self.header.setChecked(expanded)
        self.header.blockSignals(False)
        self.header.setArrowType(Qt.ArrowType.DownArrow if expanded
                                 else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()


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
            section = Section(number, title, body, expanded)
            self.deferred[title] = body
            self.sections[title] = section
            column.addWidget(section)
        column.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(inner)
        self.scroll.setMinimumWidth(PANEL_WIDTH)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)

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
        self.scroll.ensureWidgetVisible(section.header, 0, 0)
