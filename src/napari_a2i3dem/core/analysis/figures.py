"""Side-by-side PNG figures of the same plane across methods (matplotlib's Agg canvas, no GUI)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import InputError
from ..io.atomic import atomic_file


def save_comparison_figure(path: str | Path, panels: Mapping[str, np.ndarray], *,
                           title: str = "", pixel_nm: float | None = None,
                           display_range: tuple[float, float] | None = None,
                           axis_labels: tuple[str, str] = ("z", "x"), dpi: int = 110) -> Path:
    """One row of grey panels (same size, same display range) written atomically as PNG.

    ``display_range`` defaults to the 0.5-99.5 percentiles of the last panel (the truth when
    there is one). ``pixel_nm`` adds a scale bar.
    """
    if not panels:
        raise InputError("nothing to draw: no panels given")
    images = {name: np.asarray(img, dtype=np.float32) for name, img in panels.items()}
    shapes = {img.shape for img in images.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise InputError(f"panels must be 2-D images of one shape, got {sorted(shapes)}")
    height, width = next(iter(shapes))
    if display_range is None:
        reference = list(images.values())[-1]
        display_range = tuple(float(v) for v in np.percentile(reference, (0.5, 99.5)))
    n = len(images)
    panel_w = 3.2
    fig = Figure(figsize=(panel_w * n, panel_w * height / width + 0.7 + (0.3 if title else 0)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, img) in zip(axes, images.items(), strict=True):
        ax.imshow(img, cmap="gray", vmin=display_range[0], vmax=display_range[1],
                  interpolation="nearest", aspect="equal")
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(axis_labels[0], fontsize=8)
        ax.set_xlabel(axis_labels[1], fontsize=8)
        if pixel_nm:
            _scale_bar(ax, width, height, pixel_nm)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return write_figure(fig, path, dpi=dpi)


def write_figure(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write a matplotlib Figure as PNG atomically (a unique temporary name, then a rename)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a file name for the figure")
    with atomic_file(path, suffix=".png") as handle:
        fig.savefig(handle, dpi=dpi, format="png")
    return path


def _scale_bar(ax, width: int, height: int, pixel_nm: float) -> None:
    """A white bar of a round length (about a fifth of the panel) in the lower left corner."""
    target = width * pixel_nm / 5.0
    length_nm = min((v for v in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if v >= target),
                    default=5000)
    length_px = length_nm / pixel_nm
    x0, y0 = 0.05 * width, 0.92 * height
    ax.plot([x0, x0 + length_px], [y0, y0], color="white", linewidth=3)
    label = f"{length_nm / 1000:g} µm" if length_nm >= 1000 else f"{length_nm} nm"
    ax.text(x0, y0 - 0.03 * height, label, color="white", fontsize=7, va="bottom")
