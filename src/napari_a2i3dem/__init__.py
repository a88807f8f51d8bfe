"""napari-a2i3dem: self-supervised anisotropic-to-isotropic super-resolution for 3D EM."""

__version__ = "0.1.0"

__all__ = ["__version__"]
