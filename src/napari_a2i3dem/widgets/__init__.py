"""napari dock widgets: thin Qt layers over :mod:`napari_a2i3dem.core`."""
