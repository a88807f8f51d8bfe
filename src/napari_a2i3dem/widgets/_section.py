"""A collapsible section: a header button that shows or hides one widget (no animation)."""

from __future__ import annotations

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QSizePolicy, QToolButton, QVBoxLayout, QWidget


class Section(QWidget):
    """A header button that shows or hides one step's widget."""

    def __init__(self, title: str, body: QWidget, expanded: bool = True, *,
                 bold: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.body = body
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setCheckable(True)
        self.header.setChecked(expanded)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        weight = "bold" if bold else "normal"
        self.header.setStyleSheet(f"QToolButton {{ font-weight: {weight}; text-align: left; "
                                  "padding: 4px; }")
        self.header.setToolTip(f"show or hide: {title.strip()}")
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
