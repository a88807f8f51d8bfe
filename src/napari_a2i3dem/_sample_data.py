"""napari sample data (npe2): the procedurally generated anisotropic EM stack."""

from __future__ import annotations

from .core.physics import sample


def make_sample_stack() -> list[tuple]:
    """The (32, 256, 256) sample acquired at (45, 15, 15) nm, as napari layer data."""
    data, spacing = sample.make_sample_stack()
    metadata = {
        "source_path": None,
        "spacing": spacing,
        "lateral_spacing": spacing[1:],
        "spacing_source": "sample",
        "lazy": False,
        "sample": {"seed": 0, "truth_spacing": (sample.TRUTH_SPACING_NM,) * 3,
                   "ratio": sample.SAMPLE_RATIO},
    }
    name = "A2I-3DEM sample"
    return [(data, {"name": name, "scale": spacing, "metadata": metadata}, "image")]
