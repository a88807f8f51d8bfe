"""The plugin's preview layers as one group: counted, shown or hidden, removed in one click.

napari 0.9 has no public layer groups, so the group is the layers the plugin tagged as helpers
(``layer_role(layer) == HELPER_ROLE``: the training-pair previews, the live training
prediction). The bar at the top of the Workflow panel names them, hides or shows them together,
and removes them all; it is hidden while there are none. Reconstructions and their cubic
companions are outputs, not previews: the bar never touches them.
"""

from __future__ import annotations

from qtpy.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from ..layers import HELPER_ROLE, layer_role


def preview_layers(viewer) -> list:
    """The viewer's layers the plugin added for looking only."""
    return [layer for layer in viewer.layers if layer_role(layer) == HELPER_ROLE]


class PreviewLayersBar(QWidget):
    """``N preview layers: a, b  [Hide] [Remove]`` for the plugin's helper layers."""

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.toggle_button = QPushButton("Hide")
        self.toggle_button.setToolTip("hide or show all of the plugin's preview layers at once")
        self.toggle_button.clicked.connect(self.toggle_visible)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("remove the plugin's preview layers (training pairs, "
                                      "training prediction) from the viewer; reconstructions "
                                      "and your own layers stay")
        self.remove_button.clicked.connect(self.remove_all)
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 2, 4, 2)
        row.addWidget(self.label, 1)
        row.addWidget(self.toggle_button)
        row.addWidget(self.remove_button)
        self._watched: list = []  # preview layers whose visibility and name we follow
        events = viewer.layers.events
        for emitter in (events.inserted, events.removed):
            emitter.connect(self.refresh)
        self.destroyed.connect(lambda *_: self._disconnect(events))
        self.refresh()

    def _disconnect(self, events) -> None:
        for emitter in (events.inserted, events.removed):
            emitter.disconnect(self.refresh)
        self._watch([])

    def _watch(self, layers: list) -> None:
        """Follow the eye icon and renames of exactly ``layers`` (the current preview layers)."""
        for layer in [lay for lay in self._watched if not any(lay is x for x in layers)]:
            layer.events.visible.disconnect(self.refresh)
            layer.events.name.disconnect(self.refresh)
            self._watched.remove(layer)
        for layer in layers:
            if not any(layer is x for x in self._watched):
                layer.events.visible.connect(self.refresh)
                layer.events.name.connect(self.refresh)
                self._watched.append(layer)

    def refresh(self, *_args) -> None:
        """Recount the preview layers and follow their visibility (the bar's buttons or the
        layer list's eye icons) and their names."""
        layers = preview_layers(self.viewer)
        self._watch(layers)
        self.setVisible(bool(layers))
        if not layers:
            return
        names = ", ".join(layer.name for layer in layers)
        noun = "preview layer" if len(layers) == 1 else "preview layers"
        self.label.setText(f"{len(layers)} {noun}: {names}")
        self.label.setToolTip(names)
        shown = any(layer.visible for layer in layers)
        self.toggle_button.setText("Hide" if shown else "Show")

    def toggle_visible(self) -> None:
        """Hide every preview layer if any is shown, else show them all."""
        layers = preview_layers(self.viewer)
        shown = any(layer.visible for layer in layers)
        for layer in layers:
            layer.visible = not shown
        self.refresh()

    def remove_all(self) -> None:
        """Remove every preview layer from the viewer (one click)."""
        for layer in preview_layers(self.viewer):
            if layer in self.viewer.layers:
                self.viewer.layers.remove(layer)
        self.refresh()


__all__ = ["PreviewLayersBar", "preview_layers"]
