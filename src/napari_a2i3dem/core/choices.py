"""Names the front-ends offer as choices, in a module that imports nothing (no torch), so a
parser or a widget can list them cheaply. ``tests/test_choices.py`` checks they agree with what
the core implements."""

from __future__ import annotations

#: network presets, smallest first (``core.model.config.PRESETS``)
PRESET_NAMES = ("tiny", "small", "base")
#: pixel terms of the loss (``core.model.loss``)
PIXEL_LOSSES = ("rmse", "l1")
