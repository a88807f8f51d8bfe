"""Re-create the figures of docs/degradation.md and print the spectral agreement table.

    python docs/scripts/make_degradation_figures.py [--data ../shared/data] [--out docs/images]

Uses the real EM volumes when the data folder is there (cremi_sample.tif, isbi2012_train.tif,
fibsem_medulla_10nm_iso.tif decimated by 3), otherwise the bundled procedural sample stack.
Deterministic: the same data give the same pictures and numbers.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import tifffile
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from napari_a2i3dem.core.analysis.spectra import (
    compare_spectra,
    draw_lateral_spectra,
    draw_spectra,
    estimate_noise,
)
from napari_a2i3dem.core.normalization import IntensityScale
from napari_a2i3dem.core.physics.acquisition import upsample_axis
from napari_a2i3dem.core.physics.degradations import ARTEFACT_NAMES, DegradationConfig, make_pair
from napari_a2i3dem.core.physics.sample import make_sample_stack
from napari_a2i3dem.core.training.pairs import PatchSampler

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DATASETS = (  # file, rho, z decimation, label
    ("cremi_sample.tif", 10.0, 1, "CREMI ssTEM (40 x 4 x 4 nm)"),
    ("isbi2012_train.tif", 12.5, 1, "ISBI 2012 ssTEM (50 x 4 x 4 nm)"),
    ("fibsem_medulla_10nm_iso.tif", 3.0, 3, "FIB-SEM 10 nm, every 3rd plane"),
)


def load_datasets(data: Path) -> list[tuple[str, np.ndarray, float]]:
    found = []
    for name, ratio, step, label in DATASETS:
        path = data / name
        if path.is_file():
            found.append((label, tifffile.imread(path)[::step], ratio))
    if not found:
        stack, spacing = make_sample_stack()
        found.append(("procedural sample (45 x 15 x 15 nm)", stack, spacing[0] / spacing[1]))
    return found


def strongest(config: DegradationConfig, name: str) -> DegradationConfig:
    """Only ``name`` (an artefact or "noise"), always applied at the top of its range."""
    base = DegradationConfig.clean(config.profile)
    if name == "noise":
        noise = replace(config.noise, probability=1.0, sigma=(config.noise.sigma[1],) * 2,
                        poisson=(config.noise.poisson[1],) * 2)
        return replace(base, noise=noise)
    top = config.artefacts[name].strength[1]
    return base.with_artefact(name, enabled=True, probability=1.0, strength=(top, top))


def show(ax, image: np.ndarray, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def new_figure(size: tuple[float, float]) -> Figure:
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def gallery(stack: np.ndarray, ratio: float, label: str, out: Path, patch: int = 160) -> None:
    """Clean patch, acquisition only, each degradation alone, the default mix, a real xz plane."""
    scale = IntensityScale.from_stack(stack)
    clean, loc = PatchSampler(stack, patch, scale=scale).sample(np.random.default_rng(4))
    config = DegradationConfig()
    panels = [(clean, "clean xy patch"),
              (make_pair(clean, ratio, DegradationConfig.clean(), np.random.default_rng(0))[0],
               "acquisition only")]
    for name in ("noise", *ARTEFACT_NAMES):
        degraded = make_pair(clean, ratio, strongest(config, name), np.random.default_rng(1))[0]
        panels.append((degraded, name))
    for seed in (2, 3):
        panels.append((make_pair(clean, ratio, config, np.random.default_rng(seed))[0],
                       f"default mix (seed {seed})"))
    real = upsample_axis(scale.normalize(stack[:, loc.y + patch // 2, :]), ratio, axis=0)
    x0 = min(loc.x, real.shape[1] - patch)
    panels.append((real[:patch, x0:x0 + patch], "real xz plane (cubic)"))
    figure = new_figure((13.0, 6.4))
    axes = figure.subplots(2, 6)
    for ax, (image, title) in zip(axes.ravel(), panels, strict=True):
        show(ax, image, title)
    figure.suptitle(f"{label}: synthetic inputs (sections along the vertical axis, "
                    f"\u03c1 = {ratio:g})", fontsize=10)
    figure.savefig(out, dpi=90)


def spectra(datasets, out: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> list[dict]:
    """Axial (top) and lateral (bottom) spectra per data set; numbers as mean +- sd over seeds
    (each seed draws other blocks of the stack and other synthetic patches)."""
    rows = []
    figure = new_figure((5.0 * len(datasets), 7.5))
    axes = figure.subplots(2, len(datasets), squeeze=False)
    for column, (label, stack, ratio) in enumerate(datasets):
        scale = IntensityScale.from_stack(stack)
        runs = [compare_spectra(stack, ratio, DegradationConfig(), scale=scale, count=32,
                                blocks=3, seed=seed) for seed in seeds]
        draw_spectra(axes[0, column], runs[0])
        draw_lateral_spectra(axes[1, column], runs[0])
        axes[0, column].set_title(f"{label}, \u03c1 = {ratio:g}", fontsize=9)

        def stat(name, runs=runs):
            values = np.array([getattr(r, name) for r in runs])
            return f"{values.mean():.2f} \u00b1 {values.std():.2f}"

        rows.append({"label": label, "ratio": ratio,
                     "axial": stat("distance_db"), "axial_clean": stat("acquisition_only_db"),
                     "lateral": stat("lateral_distance_db"),
                     "lateral_clean": stat("lateral_acquisition_only_db"),
                     "noise": 100 * estimate_noise(stack, scale=scale).relative})
    figure.savefig(out, dpi=90)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    datasets = load_datasets(args.data)
    label, stack, ratio = datasets[0]
    gallery(stack, ratio, label, args.out / "degradation_gallery.png")
    rows = spectra(datasets, args.out / "degradation_spectra.png")
    print("| data | \u03c1 | axial: default | axial: acquisition only | lateral: default "
          "| lateral: acquisition only | noise (% of range) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['ratio']:g} | {r['axial']} | {r['axial_clean']} | "
              f"{r['lateral']} | {r['lateral_clean']} | {r['noise']:.1f} |")


if __name__ == "__main__":
    main()
