"""Sub-commands of the ``a2i3dem`` CLI, one module each (see :mod:`napari_a2i3dem.cli`)."""
