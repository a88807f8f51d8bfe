"""Freezing the heap keeps napari's per-removal collections short; it must never keep a removed
layer (and its data) alive."""

from __future__ import annotations

import gc
import weakref

import numpy as np

from napari_a2i3dem.widgets import _shared
from napari_a2i3dem.widgets._shared import freeze_heap, plugin_state, settle_heap


def test_a_layer_frozen_with_the_heap_is_freed_once_removed(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    plugin_state(viewer)  # the plugin is active in this viewer
    layer = viewer.add_image(np.ones((4, 64, 64), np.float32), name="stack")
    data = weakref.ref(layer.data) if hasattr(layer.data, "__weakref__") else None
    layer_ref = weakref.ref(layer)
    freeze_heap(collect=False)  # as after the deferred import
    try:
        assert gc.get_freeze_count() > 0
        viewer.layers.remove(layer)
        del layer
        gc.collect()  # napari's own collection: the frozen layer is out of its reach
        qtbot.waitUntil(lambda: layer_ref() is None, timeout=5_000)  # thawed on the next turn
        if data is not None:
            assert data() is None
    finally:
        gc.unfreeze()


def test_layers_added_after_a_freeze_need_no_thaw(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    plugin_state(viewer)
    settle_heap()
    try:
        layer = viewer.add_image(np.zeros((8, 8)), name="later")
        layer_ref = weakref.ref(layer)
        viewer.layers.remove(layer)
        del layer
        gc.collect()
        assert layer_ref() is None
        assert not _shared._THAW_PENDING  # no thaw (full collection) was needed
    finally:
        gc.unfreeze()
