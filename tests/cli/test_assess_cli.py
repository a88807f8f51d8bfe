"""``a2i3dem assess`` on files: synthetic stacks with a known band limit, and a real ssTEM stack."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import fft as sp_fft

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.io.tiff_writer import write_stack


def band_limited_volume(rng, shape, cutoff):
    spectrum = sp_fft.fftn(rng.standard_normal(shape))
    grids = np.meshgrid(*[sp_fft.fftfreq(n) for n in shape], indexing="ij")
    volume = sp_fft.ifftn(spectrum * (np.sqrt(sum(g**2 for g in grids)) <= cutoff)).real
    volume = volume / volume.std() + 0.02 * rng.standard_normal(shape)
    return np.clip(128 + 30 * volume, 0, 255).astype(np.uint8)


def test_assess_prints_and_writes_json(tmp_path, rng, capsys):
    iso = band_limited_volume(rng, (96, 96, 96), 0.3)
    stack = write_stack(tmp_path / "coarse.tif", iso[::4], (40.0, 10.0, 10.0))
    out = tmp_path / "report" / "coarse.json"
    assert main(["assess", str(stack), "--planes", "3", "--json", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "lateral" in printed and "axial / lateral" in printed
    report = json.loads(out.read_text())
    assert report["spacing_nm"] == [40.0, 10.0, 10.0]
    assert report["lateral_nm"] == pytest.approx(10.0 / 0.3, rel=0.12)
    assert report["anisotropy"] > 1.5
    assert f"{report['lateral_nm']:.1f} nm" in printed


def test_assess_spacing_override_scales_the_result(tmp_path, rng, capsys):
    stack = write_stack(tmp_path / "iso.tif", band_limited_volume(rng, (48, 64, 64), 0.3),
                        (10.0, 10.0, 10.0))
    base, doubled = tmp_path / "base.json", tmp_path / "doubled.json"
    assert main(["assess", str(stack), "--planes", "2", "--json", str(base), "--quiet"]) == 0
    assert main(["assess", str(stack), "--planes", "2", "--json", str(doubled), "--quiet",
                 "--spacing", "20", "20", "20"]) == 0
    lateral = json.loads(base.read_text())["lateral_nm"]
    assert json.loads(doubled.read_text())["lateral_nm"] == pytest.approx(2 * lateral, rel=1e-6)


def test_assess_errors_are_one_line(tmp_path, capsys):
    assert main(["assess", str(tmp_path / "missing.tif")]) == 2
    assert "error" in capsys.readouterr().err
    flat = write_stack(tmp_path / "flat.tif", np.zeros((8, 32, 32), np.uint8), (40.0, 4.0, 4.0))
    assert main(["assess", str(flat), "--quiet"]) == 2
    assert "no xy plane carried measurable signal" in capsys.readouterr().err


def test_real_sstem_stack_is_strongly_anisotropic(shared_data, tmp_path):
    out = tmp_path / "cremi.json"
    assert main(["assess", str(shared_data / "cremi_sample.tif"), "--planes", "3",
                 "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    # 4 nm pixels, 40 nm sections: lateral detail near the pixel limit, axial near 2 x 40 nm.
    assert 8.0 < report["lateral_nm"] < 20.0
    assert report["xz_nm"] > 40.0 and report["yz_nm"] > 40.0
    assert report["anisotropy"] > 3.0


def test_assess_checks_a_model_on_the_stack(tmp_path, capsys):
    import torch

    from napari_a2i3dem.core.model import A2I3DEMNet, preset, save_model

    rng = np.random.default_rng(0)
    stack = (rng.random((12, 64, 64)) * 255).astype(np.uint8)
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, stack, imagej=True, resolution=(1 / 10.0, 1 / 10.0),
                     metadata={"axes": "ZYX", "spacing": 30.0, "unit": "nm"})
    torch.manual_seed(0)
    network = A2I3DEMNet(preset("tiny"))
    with torch.no_grad():  # a model that adds a strong random correction to every plane
        network.output_projection.weight.mul_(200.0)
    model = save_model(tmp_path / "m.pt", network, degradation={},
                       spacing=(30.0, 10.0, 10.0), ratio=3.0,
                       intensity={"low": 0.0, "high": 255.0})
    report = tmp_path / "r.json"
    assert main(["assess", str(path), "--model", str(model), "--quiet", "--json",
                 str(report)]) == 0
    out = capsys.readouterr().out
    assert "no-truth check:" in out
    record = json.loads(report.read_text())["model_check"]
    # A model that scrambles the planes is flagged, never passed silently.
    assert record["passed"] is False and "WARNING" in out


def test_assess_reads_a_zarr_reconstruction(tmp_path, capsys):
    """The README's `a2i3dem assess iso.zarr` works on what `reconstruct --out iso.zarr` wrote."""
    import numpy as np

    from napari_a2i3dem.cli import main
    from napari_a2i3dem.core.io.outputs import open_target

    rng = np.random.default_rng(0)
    target = open_target(tmp_path / "iso.zarr", (48, 48, 48), np.uint8, (10.0, 10.0, 10.0))
    target.write(slice(0, 48), rng.integers(0, 255, (48, 48, 48), dtype=np.uint8))
    target.commit()
    assert main(["assess", str(tmp_path / "iso.zarr"), "--planes", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "spacing z, y, x = 10, 10, 10 nm" in out and "axial / lateral" in out
