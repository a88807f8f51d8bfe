"""Names the front-ends offer as choices, in a module that imports nothing (no torch), so a
parser or a widget can list them cheaply. ``tests/test_choices.py`` checks they agree with what
the core implements."""

from __future__ import annotations

#: network presets, smallest first (``core.model.config.PRESETS``)
PRESET_NAMES = ("tiny", "small", "base")
#: pixel terms of the loss (``core.model.loss``)
PIXEL_LOSSES = ("rmse", "l1")
#: compute devices (``core.devices.select_device``)
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
#: axial slice profiles (``core.physics.acquisition.SliceProfile``)
PROFILE_KINDS = ("gaussian", "box", "none", "custom")
#: half-angle of the no-reference resolution's axial cone, degrees
#: (``core.analysis.resolution``)
DEFAULT_CONE_DEG = 30.0
#: simulated EM artefacts (``core.physics.degradations``)
ARTEFACT_NAMES = ("misalignment", "smear", "dust", "drift", "stripes", "missing")
