"""Qt-free core of napari-a2i3dem: I/O, degradations, model, training, reconstruction, metrics.

Nothing under ``napari_a2i3dem.core`` may import Qt or napari, so it runs headless, from the CLI
and on a cluster.
"""
