"""Qt controls made from the typed settings (``core.settings``): the same bounds, defaults,
choices and help as the command line's options."""

from __future__ import annotations

from collections.abc import Sequence

from qtpy.QtWidgets import QComboBox, QSpinBox

from ..core.settings import Settings

#: an optional whole-number setting shows this at its lowest value, which means "None"
DEFAULT_TEXT = "default"


def setting_spin(settings: type[Settings], name: str, *, none_text: str = DEFAULT_TEXT,
                 maximum: int | None = None) -> QSpinBox:
    """A spin box over the setting's bounds, at its default, its help as tooltip. An optional
    setting gets one step below its minimum that reads ``none_text`` and means None."""
    info = settings.info(name)
    spin = QSpinBox()
    low = int(info.minimum if info.minimum is not None else 0)
    high = int(min(info.maximum if info.maximum is not None else 2**31 - 1, 2**31 - 1))
    if maximum is not None:
        high = min(high, int(maximum))  # a practical cap for the control, inside the bounds
    if info.optional:
        low -= 1
        spin.setSpecialValueText(none_text)
    spin.setRange(low, high)
    spin.setValue(low if info.default is None else int(info.default))
    spin.setToolTip(info.help)
    return spin


def spin_setting(settings: type[Settings], name: str, spin: QSpinBox) -> int | None:
    """The spin box's value as the setting (``None`` at the special lowest value)."""
    if settings.info(name).optional and spin.value() == spin.minimum():
        return None
    return spin.value()


def setting_combo(settings: type[Settings], name: str,
                  available: Sequence[str] | None = None) -> QComboBox:
    """A menu of the setting's choices (those in ``available``, if given), at its default."""
    info = settings.info(name)
    combo = QComboBox()
    choices = [c for c in info.choices if available is None or c in available]
    combo.addItems(choices)
    if info.default in choices:
        combo.setCurrentText(info.default)
    combo.setToolTip(info.help)
    return combo
