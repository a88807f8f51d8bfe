"""State the dock widgets of one viewer share: the chosen stack, its spacing, the trained model.

The Load widget writes the stack and spacing here, the Training-pairs and Train widgets read them,
the Train widget publishes the model it saved and the Reconstruct widget picks it up.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from dataclasses import dataclass, field
from pathlib import Path

from psygnal import Signal

from ..core.validation import ratio_from_spacing
from ..layers import HELPER_ROLE, OUTPUT_ROLE, ROLE_KEY, is_helper  # noqa: F401 (re-exported)


@dataclass
class StackSettings:
    """The stack chosen in the Load widget and its corrected (z, y, x) spacing in nm."""

    layer_name: str
    spacing: tuple[float, float, float]

    @property
    def ratio(self) -> float:
        return ratio_from_spacing(self.spacing)


@dataclass
class PluginState:
    """Per-viewer shared state; connect to the signals to follow changes."""

    stack_changed = Signal(object)   # StackSettings | None
    model_changed = Signal(object)   # Path | None

    stack: StackSettings | None = None
    model_path: Path | None = None
    extra: dict = field(default_factory=dict)

    def set_stack(self, settings: StackSettings | None) -> None:
        self.stack = settings
        self.stack_changed.emit(settings)

    def set_model(self, path: str | Path | None) -> None:
        self.model_path = None if path is None else Path(path)
        self.model_changed.emit(self.model_path)


#: layers that were alive when the heap was last frozen: the collector no longer sees them, so
#: removing one must thaw the heap once, or the layer and its data would never be freed
_FROZEN_LAYERS: weakref.WeakSet = weakref.WeakSet()
#: viewers (and the orthogonal views' viewer models) whose layer removals are watched
_WATCHED: weakref.WeakSet = weakref.WeakSet()
_THAW_PENDING = False


def freeze_heap(*, collect: bool = True) -> None:
    """Collect what is not frozen (``collect``), then freeze what is left.

    napari runs a full ``gc.collect()`` for every layer it removes (and for each on closing);
    its cost grows with the long-lived objects the imports, a training or a reconstruction leave
    (torch's modules, models, figures, layers). Frozen objects are skipped by the collector, which
    keeps those calls short; the collection here only visits what was created since the last
    freeze (milliseconds). Frozen objects are never freed by the collector either, so the layers
    frozen with the heap are remembered: removing one thaws the heap (:func:`thaw_heap`, on the
    next event-loop turn) and the layer's memory comes back. Without ``collect`` it is instant
    (used right after an import, in a worker thread).
    """
    if collect:
        gc.collect()
    gc.freeze()
    for viewer in list(_WATCHED):
        # RuntimeError: the viewer changed its layers meanwhile (import thread)
        with contextlib.suppress(RuntimeError):
            _FROZEN_LAYERS.update(viewer.layers)


def thaw_heap() -> None:
    """Unfreeze, collect everything (frees frozen garbage such as removed layers: one full
    collection, 0.1–0.3 s here), freeze again."""
    global _THAW_PENDING
    _THAW_PENDING = False
    gc.unfreeze()
    freeze_heap(collect=True)


def settle_heap() -> None:
    """After a long job: free what it left behind and freeze the rest (see :func:`freeze_heap`)."""
    freeze_heap(collect=True)


def _on_layer_removed(event) -> None:
    """A frozen layer left the viewer: thaw once, after this batch of removals."""
    global _THAW_PENDING
    if event.value in _FROZEN_LAYERS and not _THAW_PENDING:
        from qtpy.QtCore import QTimer

        _THAW_PENDING = True
        QTimer.singleShot(0, thaw_heap)


def watch_removals(viewer) -> None:
    """Free frozen layers when they are removed from ``viewer`` (a napari viewer or viewer
    model; once each)."""
    if viewer not in _WATCHED:
        _WATCHED.add(viewer)
        viewer.layers.events.removed.connect(_on_layer_removed)


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plugin_state(viewer) -> PluginState:
    """The :class:`PluginState` of ``viewer`` (created on first use, dropped with the viewer)."""
    state = _STATES.get(viewer)
    if state is None:
        state = PluginState()
        _STATES[viewer] = state
        watch_removals(viewer)
    return state
