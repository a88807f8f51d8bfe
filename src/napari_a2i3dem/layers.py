"""How the plugin reads napari layers, in one place: which layers may be the stack, a layer's
volume, and a layer's voxel spacing.

Every widget and the writer ask here instead of deciding for themselves. Nothing here imports
Qt; napari is imported only where a layer type must be checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Spacing = tuple[float, float, float]

ROLE_KEY = "a2i3dem_role"
HELPER_ROLE = "helper"   # previews: for looking only
OUTPUT_ROLE = "output"   # reconstructions and their cubic / disagreement companions


def layer_role(layer: Any) -> str | None:
    """The role the plugin tagged ``layer`` with (:data:`HELPER_ROLE`, :data:`OUTPUT_ROLE`), or
    ``None`` for a layer it did not add."""
    return (getattr(layer, "metadata", None) or {}).get(ROLE_KEY)


def is_helper(layer: Any) -> bool:
    """True for layers the plugin added (previews, outputs): never offered as the stack to
    train on, and never picked up by the Load widget on its own."""
    return bool(layer_role(layer))


def scale_spacing(scale: Sequence[float] | None, metadata: dict | None = None) -> Spacing | None:
    """(z, y, x) nm from a layer's ``scale``: ``None`` for napari's uncalibrated default of ones
    when the metadata records no spacing; a 2-D scale gets z = 1."""
    values = () if scale is None else tuple(float(s) for s in scale)
    recorded = (metadata or {}).get("spacing")
    if not values:
        return tuple(float(v) for v in recorded) if recorded else None  # type: ignore[return-value]
    if all(s == 1.0 for s in values) and not recorded:
        return None
    if len(values) == 2:
        return (1.0, *values)  # type: ignore[return-value]
    return values[-3:]  # type: ignore[return-value]


def layer_volume(layer: Any) -> Any:
    """The full-resolution array of an image layer (level 0 of a multiscale one)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def is_stack_candidate(layer: Any, *, include_outputs: bool = False) -> bool:
    """A grey 3-D image layer; the plugin's own layers only with ``include_outputs``."""
    from napari.layers import Image

    return (isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb
            and (include_outputs or not is_helper(layer)))


def stack_layers(layers: Iterable[Any], *, include_outputs: bool = False,
                 exclude: Iterable[Any] = ()) -> list[Any]:
    """The layers a widget may offer as a stack, in the viewer's order."""
    excluded = [layer for layer in exclude if layer is not None]
    return [layer for layer in layers
            if is_stack_candidate(layer, include_outputs=include_outputs)
            and not any(layer is other for other in excluded)]


def layer_spacing(layer: Any, confirmed: Any = None) -> Spacing | None:
    """The spacing of ``layer``: the one confirmed in the Load section when it is that layer
    (``confirmed`` is the shared ``StackSettings``), else the layer's own calibrated scale."""
    if confirmed is not None and confirmed.layer_name == getattr(layer, "name", None):
        return tuple(float(v) for v in confirmed.spacing)  # type: ignore[return-value]
    return scale_spacing(getattr(layer, "scale", None), getattr(layer, "metadata", None))
