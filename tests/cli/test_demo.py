"""``a2i3dem demo`` end to end on a small crop of the sample, with very few training steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.analysis.metrics import psnr, ssim
from napari_a2i3dem.core.io.tiff import read_stack
from napari_a2i3dem.core.physics.sample import make_sample_stack, make_sample_truth

pytestmark = pytest.mark.slow  # trains and reconstructs (about 20 s on 2 idle cores)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "results"
    code = main(["demo", "--out", str(out), "--steps", "3", "--size", "64", "--quiet"])
    return code, out


def test_demo_writes_every_result(demo_run):
    code, out = demo_run
    assert code == 0
    for name in ("sample_stack.tif", "model.pt", "isotropic_a2i3dem.tif", "isotropic_cubic.tif",
                 "xz_comparison.png", "metrics.json"):
        assert (out / name).is_file(), name
    assert (out / "xz_comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*tmp*")), "temporary files left behind"


def test_demo_volumes_have_the_isotropic_geometry(demo_run):
    _, out = demo_run
    stack, spacing = make_sample_stack(0)
    written = read_stack(out / "sample_stack.tif")
    np.testing.assert_array_equal(written.data, stack[:, 96:160, 96:160])
    assert written.spacing == pytest.approx(spacing)
    result = read_stack(out / "isotropic_a2i3dem.tif")
    assert result.data.shape == (96, 64, 64)
    assert result.data.dtype == np.uint8
    assert result.spacing == pytest.approx((15.0, 15.0, 15.0))


def test_demo_report_matches_an_independent_scoring(demo_run, capsys):
    _, out = demo_run
    report = json.loads((out / "metrics.json").read_text())
    assert report["training"]["steps"] == 3
    assert report["scored_planes"] == [0, 94]   # samples 0..31 sit at truth planes 0..93
    truth = make_sample_truth(0)[:94, 96:160, 96:160].astype(np.float64)
    for name, file in (("cubic", "isotropic_cubic.tif"), ("A2I-3DEM", "isotropic_a2i3dem.tif")):
        volume = read_stack(out / file).data[:94].astype(np.float64)
        scores = report["scores"][name]
        assert scores["psnr"] == pytest.approx(psnr(truth, volume, data_range=255), abs=1e-6)
        assert scores["ssim"] == pytest.approx(ssim(truth, volume, data_range=255), abs=1e-6)
        assert 15.0 < scores["psnr"] < 40.0
    # Interpolation cannot beat the truth's own sampling: nearest is the worst baseline.
    assert report["scores"]["nearest"]["psnr"] < report["scores"]["cubic"]["psnr"]


def test_demo_refuses_a_file_as_output_folder(tmp_path, capsys):
    target = tmp_path / "occupied"
    target.write_text("keep me")
    assert main(["demo", "--out", str(target), "--steps", "1", "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert target.read_text() == "keep me"
    assert main(["demo", "--out", str(tmp_path / "x"), "--size", "32", "--quiet"]) == 2
