"""State the dock widgets of one viewer share: the chosen stack, its spacing, the trained model.

The Load widget writes the stack and spacing here, the Training-pairs and Train widgets read them,
the Train widget publishes the model it saved and the Reconstruct widget picks it up.
"""

from __future__ import annotations

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


def settle_heap() -> None:
    """After a long job: collect the young generations (milliseconds) and freeze what is left.

    napari runs a full ``gc.collect()`` for every layer it removes (and for each on closing);
    its cost grows with the long-lived objects a training or reconstruction leaves (models,
    figures, layers). Frozen objects are skipped by the collector, which keeps those calls short.
    Old cyclic garbage present at this moment is kept, a bounded amount.
    """
    gc.collect(1)
    gc.freeze()


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plugin_state(viewer) -> PluginState:
    """The :class:`PluginState` of ``viewer`` (created on first use, dropped with the viewer)."""
    state = _STATES.get(viewer)
    if state is None:
        state = PluginState()
        _STATES[viewer] = state
    return state
