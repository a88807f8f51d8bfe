"""A row of captioned grey images inside a dock (training pairs, a previewed xz plane).

Cheap to update (a QPixmap per image, no matplotlib, no napari layer), so previews sit next to the
controls that change them instead of piling up as layers on the canvas.
"""

from __future__ import annotations

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtGui import QImage, QPixmap
from qtpy.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget


def to_uint8(image: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """``image`` mapped linearly from ``limits`` to 0..255 (clipped)."""
    low, high = (float(v) for v in limits)
    scale = 255.0 / (high - low) if high > low else 0.0
    scaled = (np.asarray(image, dtype=np.float32) - low) * scale
    return np.ascontiguousarray(np.clip(scaled, 0, 255).astype(np.uint8))


def display_limits(image: np.ndarray) -> tuple[float, float]:
    """Contrast limits for looking at ``image``: its 0.5 and 99.5 percentiles (never equal)."""
    low, high = (float(v) for v in np.percentile(image, (0.5, 99.5)))
    return (low, high if high > low else low + 1.0)


class ImageStrip(QWidget):
    """``len(captions)`` images side by side, each scaled to share the strip's width."""

    def __init__(self, captions: tuple[str, ...], parent: QWidget | None = None, *,
                 height: int = 150) -> None:
        super().__init__(parent)
        self.captions = tuple(captions)
        self.images: list[np.ndarray | None] = [None] * len(captions)
        self._limits: tuple[float, float] = (0.0, 1.0)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.views: list[QLabel] = []
        self.labels: list[QLabel] = []
        for column, caption in enumerate(self.captions):
            view = QLabel()
            view.setAlignment(Qt.AlignmentFlag.AlignCenter)
            view.setMinimumSize(60, 60)
            view.setFixedHeight(height)
            view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            view.setStyleSheet("background: #111;")
            label = QLabel(caption)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setWordWrap(True)
            label.setStyleSheet("font-size: 10px;")
            grid.addWidget(view, 0, column)
            grid.addWidget(label, 1, column)
            self.views.append(view)
            self.labels.append(label)

    def set_images(self, images, limits: tuple[float, float] = (0.0, 1.0),
                   captions: tuple[str, ...] | None = None) -> None:
        """Show ``images`` (2-D arrays) with one shared contrast ``limits``."""
        self.images = [None if image is None else np.asarray(image) for image in images]
        self._limits = limits
        if captions is not None:
            for label, caption in zip(self.labels, captions, strict=True):
                label.setText(caption)
        self._paint()

    def _paint(self) -> None:
        for view, image in zip(self.views, self.images, strict=True):
            if image is None:
                view.clear()
                continue
            grey = to_uint8(image, self._limits)
            h, w = grey.shape
            qimage = QImage(grey.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
            pixmap = QPixmap.fromImage(qimage).scaled(
                max(view.width(), 1), max(view.height(), 1),
                Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            view.setPixmap(pixmap)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._paint()
