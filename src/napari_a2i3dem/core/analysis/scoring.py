"""Scoring isotropic reconstructions against an isotropic truth, and printing the scores.

All methods are scored on exactly the same voxels: the caller aligns and crops them first (see
:func:`aligned_truth_planes`). Per method we report

* PSNR and SSIM over the whole volume (SSIM with a 3-D Gaussian window),
* PSNR and SSIM on xz planes and on yz planes (2-D per plane, averaged) — the planes where the
  axial loss shows,
* the axial resolution from the Fourier correlation with the truth along z (a cone of 30° around
  k_z, 0.5 threshold: see :mod:`.resolution`), pooled over the whole volume — it says up to which
  axial period the result still matches the truth, which PSNR/SSIM do not — and, given the
  acquisition's ratio, the mean of that correlation in the band the sampling lost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from .metrics import psnr, ssim
from .resolution import fourier_correlation

SCORE_COLUMNS = (
    ("psnr", "PSNR (dB)", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("psnr_xz", "PSNR xz", "{:.2f}"),
    ("ssim_xz", "SSIM xz", "{:.4f}"),
    ("psnr_yz", "PSNR yz", "{:.2f}"),
    ("ssim_yz", "SSIM yz", "{:.4f}"),
    ("frc_z_nm", "z-res. FRC (nm)", "{:.1f}"),
    ("frc_lost", "FRC lost band", "{:.3f}"),
)


def aligned_truth_planes(n_samples: int, ratio: int, offset: float, truth_depth: int,
                         ) -> tuple[slice, slice]:
    """(reconstruction planes, truth planes) that coincide and lie between the first and last
    acquired section.

    Reconstruction plane ``j`` (sample ``k`` at ``j = k * ratio``) shows truth plane
    ``j + offset``: offset 0 when section ``k`` is truth plane ``k * ratio`` (decimation), and
    ``(ratio - 1) / 2`` when it averages planes ``k * ratio .. k * ratio + ratio - 1`` (thick
    sections: its centre). Planes outside the sampled range would be extrapolation; they are cut.
    """
    if offset != int(offset):
        raise InputError(f"the section centres fall between truth planes (offset {offset})")
    offset = int(offset)
    last = min((n_samples - 1) * ratio, truth_depth - 1 - offset)
    if last < 0:
        raise InputError("the reconstruction and the truth have no plane in common")
    return slice(0, last + 1), slice(offset, offset + last + 1)


def _mean_plane_psnr(truth: np.ndarray, test: np.ndarray, axis: int, data_range: float) -> float:
    """Mean over planes normal to ``axis`` of each plane's PSNR."""
    other = tuple(a for a in range(3) if a != axis)
    err = np.mean((truth.astype(np.float64) - test.astype(np.float64)) ** 2, axis=other)
    with np.errstate(divide="ignore"):
        values = 10.0 * np.log10(data_range**2 / err)
    return float(np.mean(values[np.isfinite(values)])) if np.isfinite(values).any() else math.inf


def score_volume(truth: np.ndarray, test: np.ndarray, spacing: float, *,
                 data_range: float = 255.0, ratio: float | None = None) -> dict[str, float]:
    """All scores of one isotropic ``test`` volume against ``truth`` (same shape, voxel
    ``spacing`` nm).

    With the acquisition's ``ratio``, ``frc_lost`` is the mean axial Fourier correlation with the
    truth in the band the sampling lost: from the sections' Nyquist frequency 1 / (2 rho
    spacing) to twice it (or the grid's Nyquist). Near 1: that content was recovered; near 0 or
    negative: it is missing or aliased.
    """
    truth = np.asarray(truth, dtype=np.float32)
    test = np.asarray(test, dtype=np.float32)
    if truth.shape != test.shape:
        raise InputError(f"cannot score: truth {truth.shape} and result {test.shape} differ")
    curve = fourier_correlation(test, truth, (spacing,) * 3, along=0)
    extra = {}
    if ratio is not None:
        lost = 1.0 / (2.0 * ratio * spacing)
        extra["frc_lost"] = curve.band_mean(lost, min(2.0 * lost, 0.5 / spacing + 1e-12))
    return {
        "psnr": psnr(truth, test, data_range=data_range),
        "ssim": ssim(truth, test, data_range=data_range),
        "psnr_xz": _mean_plane_psnr(truth, test, 1, data_range),
        "ssim_xz": ssim(truth, test, data_range=data_range, axes=(0, 2)),
        "psnr_yz": _mean_plane_psnr(truth, test, 2, data_range),
        "ssim_yz": ssim(truth, test, data_range=data_range, axes=(0, 1)),
        "frc_z_nm": curve.resolution(),
        **extra,
    }


def format_table(scores: Mapping[str, Mapping[str, float]],
                 columns: Sequence[tuple[str, str, str]] = SCORE_COLUMNS, *,
                 markdown: bool = False) -> str:
    """Methods as rows, scores as columns; plain text or a Markdown table."""
    present = [c for c in columns if any(c[0] in s for s in scores.values())]
    header = ["method", *[title for _, title, _ in present]]
    rows = []
    for method, values in scores.items():
        cells = [method]
        for key, _, fmt in present:
            value = values.get(key)
            cells.append("–" if value is None or not math.isfinite(value) else fmt.format(value))
        rows.append(cells)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt_row = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(r, widths, strict=True)))
    return "\n".join([fmt_row(header), *[fmt_row(r) for r in rows]])


def write_json(path: str | Path, payload) -> Path:
    """Write ``payload`` as JSON atomically (a unique temporary file in the same folder, then a
    rename: never follows a planted link, never races another writer)."""
    from ..io.atomic import atomic_file

    path = Path(path)
    text = json.dumps(payload, indent=2, default=_json_default) + "\n"
    with atomic_file(path, suffix=".json") as handle:
        handle.write(text.encode())
    return path


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
