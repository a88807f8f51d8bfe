"""benchmarks/quality.py: its alignment of acquisitions with the truth, and a smoke run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_a2i3dem.core.analysis.scoring import aligned_truth_planes
from napari_a2i3dem.core.training.timebox import interpolate_z

# A short CPU training on the decimated FIB-SEM crop (1 thread, about a minute here): measured
# +0.53 dB PSNR and +0.009 SSIM over cubic (torch 2.13 CPU, seed 0); the bar leaves room for
# other platforms' arithmetic.
QUALITY_STEPS = 150
QUALITY_MIN_GAIN_DB = 0.3
BLIND_STEPS = 600
BLIND_MIN_GAIN_DB = 0.1
BLIND_SSIM_TOLERANCE = 0.001


@pytest.fixture(scope="module")
def quality(load_benchmark):
    return load_benchmark("quality.py", "quality_benchmark")


def ramp_volume(depth=90, size=16):
    """A truth whose value is a smooth function of z only (plus lateral structure): 2z + 5."""
    z = np.arange(depth, dtype=np.float32)[:, None, None]
    lateral = np.random.default_rng(0).random((1, size, size)).astype(np.float32)
    return 2.0 * z + 5.0 + lateral


@pytest.mark.parametrize("kind", ["decimate", "thick_sections"])
def test_acquisitions_line_up_with_the_truth(quality, kind):
    truth = ramp_volume()
    acquisition = getattr(quality, kind)(truth, 3)
    if kind == "decimate":
        np.testing.assert_array_equal(acquisition.stack, truth[::3])
        assert acquisition.offset == 0 and acquisition.profile.kind == "none"
    else:
        assert acquisition.stack.shape[0] == 30
        np.testing.assert_allclose(acquisition.stack[4], truth[12:15].mean(axis=0), rtol=1e-6)
        assert acquisition.offset == 1 and acquisition.profile.kind == "box"
    rec, ref = aligned_truth_planes(acquisition.stack.shape[0], 3, acquisition.offset,
                                    truth.shape[0])
    # Interpolation reproduces a linear ramp in z exactly away from the ends (the cubic spline's
    # mirror boundary fades by 0.27 per section), so any misalignment of reconstruction and
    # truth planes would show as an offset of 2 per plane.
    for method in ("linear", "cubic"):
        volume = interpolate_z(acquisition.stack, 3, method)[rec]
        interior = slice(24, -24)
        np.testing.assert_allclose(volume[interior], truth[ref][interior], atol=2e-3)
    assert rec.stop - rec.start == ref.stop - ref.start


def test_aligned_planes_stop_at_the_last_section():
    assert aligned_truth_planes(84, 3, 0, 250) == (slice(0, 250), slice(0, 250))
    assert aligned_truth_planes(83, 3, 1, 250) == (slice(0, 247), slice(1, 248))
    with pytest.raises(ValueError, match="between truth planes"):
        aligned_truth_planes(10, 2, 0.5, 20)


def test_resolution_is_assessed_away_from_missing_sections(quality):
    stack = np.random.default_rng(0).random((25, 8, 8)).astype(np.float32)
    stack[14] = 0.0                      # CREMI's missing section
    assert quality.longest_intact_run(stack) == (0, 13)
    stack[3] = 0.0
    assert quality.longest_intact_run(stack) == (4, 13)
    stack[[0, 24]] = 0.0
    stack[5:9] = 0.0
    assert quality.longest_intact_run(stack) == (15, 23)
    with pytest.raises(ValueError, match="blank"):
        quality.longest_intact_run(np.zeros((3, 4, 4)))


def test_markdown_section_is_replaced_not_duplicated(quality, tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nSpeed table by someone else.\n")
    quality.update_markdown(doc, "<!-- quality:start -->\nfirst\n<!-- quality:end -->")
    quality.update_markdown(doc, "<!-- quality:start -->\nsecond\n<!-- quality:end -->")
    text = doc.read_text()
    assert "Speed table by someone else." in text
    assert "second" in text and "first" not in text
    assert text.count("<!-- quality:start -->") == 1


@pytest.mark.slow
def test_smoke_run_on_a_tiny_crop(quality, shared_data, tmp_path):
    out, report = tmp_path / "docs", tmp_path / "quality.json"
    code = quality.main(["--data", str(shared_data), "--crop", "40", "--steps", "2",
                         "--real", "cremi_sample.tif", "--out", str(out), "--json", str(report)])
    assert code == 0
    payload = json.loads(report.read_text())
    decimation, thick = payload["fibsem"]["decimation"], payload["fibsem"]["thick_sections"]
    assert decimation["truth_planes"] == [0, 40] and thick["truth_planes"] == [1, 38]
    for result in (decimation, thick):
        assert set(result["scores"]) == {"nearest", "linear", "cubic", "A2I-3DEM"}
        cubic, nearest = result["scores"]["cubic"], result["scores"]["nearest"]
        assert cubic["psnr"] > nearest["psnr"]          # real EM: cubic beats nearest
        assert 0 < cubic["ssim"] <= 1 and cubic["frc_z_nm"] > 0
        assert (out / "images" / Path(result["figure"]).name).is_file()
    real = payload["real"]["cremi_sample.tif"]
    assert real["ratio"] == pytest.approx(10.0)
    assert real["cubic"]["anisotropy"] > 1.5   # 40 nm sections vs 4 nm pixels
    text = (out / "benchmarks.md").read_text()
    assert "| A2I-3DEM |" in text and "cremi_sample.tif" in text


def score_against_truth(truth, acquisition, model_path, window: slice):
    """(A2I-3DEM scores, cubic scores) of ``acquisition`` reconstructed with ``model_path`` on the
    lateral ``window`` x ``window`` crop, against the aligned truth planes (rho 3, 10 nm)."""
    from napari_a2i3dem.core.analysis.scoring import score_volume
    from napari_a2i3dem.core.training.timebox import reconstruct_isotropic

    crop = np.ascontiguousarray(acquisition.stack[:, window, window])
    a2i = reconstruct_isotropic(crop, model_path, 3.0, device="cpu")
    cubic = interpolate_z(crop, 3, "cubic", a2i.shape[0])
    rec, ref = aligned_truth_planes(acquisition.stack.shape[0], 3, acquisition.offset,
                                    truth.shape[0])
    reference = truth[ref, window, window]
    return tuple(score_volume(reference, v[rec].astype(np.float32), 10.0, ratio=3)
                 for v in (a2i, cubic))


@pytest.mark.slow
def test_short_training_beats_cubic_against_the_fibsem_truth(quality, shared_data, tmp_path):
    """The quality claim, checked on real EM with its isotropic truth: a short self-supervised
    training on the decimated FIB-SEM stack (every 3rd plane) reconstructs z better than cubic,
    in PSNR and in SSIM (docs/benchmarks.md: +0.78 dB after 6.5 minutes on the whole stack; here
    150 steps on a 128 x 128 crop, scored on its central 64 x 64)."""
    from napari_a2i3dem.core.io.tiff import read_stack
    from napari_a2i3dem.core.physics.degradations import DegradationConfig
    from napari_a2i3dem.core.training.timebox import TrainingPlan, train_model

    truth = np.asarray(read_stack(shared_data / quality.FIBSEM).data)[:, 61:189, 61:189]
    acquisition = quality.decimate(truth, 3)
    plan = TrainingPlan(preset="tiny", steps=QUALITY_STEPS, device="cpu", seed=0,
                        degradation=DegradationConfig.clean(acquisition.profile),
                        extra={"threads": 1})
    finished = train_model(acquisition.stack, ratio=3.0, spacing=(30.0, 10.0, 10.0), plan=plan,
                           model_path=tmp_path / "m.pt")
    ours, theirs = score_against_truth(truth, acquisition, finished.model_path, slice(32, 96))
    assert ours["psnr"] - theirs["psnr"] > QUALITY_MIN_GAIN_DB, (ours["psnr"], theirs["psnr"])
    assert ours["ssim"] > theirs["ssim"]


@pytest.mark.slow
def test_blind_training_beats_cubic_on_thick_sections(quality, shared_data, tmp_path):
    """Issue 17's claim with defaults only: the degradation is calibrated by the trainer (no
    profile, noise or artefact told) on sections one spacing thick -- the case where the old
    default came out a dB below cubic -- and the result beats cubic. The whole 250 x 250 stack
    trains (a 128 x 128 crop gave too few distinct patches: +0.13 dB, SSIM -0.0008 after 600
    steps); scored on the central 128 x 128, as the benchmark (+0.28 to +0.38 dB, SSIM +0.002
    to +0.006 after 1 000 steps, three seeds). Measured here: +0.37 dB, +0.0056 SSIM."""
    from napari_a2i3dem.core.io.tiff import read_stack
    from napari_a2i3dem.core.model import load_model
    from napari_a2i3dem.core.training.timebox import TrainingPlan, train_model

    truth = np.asarray(read_stack(shared_data / quality.FIBSEM).data)
    acquisition = quality.thick_sections(truth, 3)
    plan = TrainingPlan(preset="tiny", steps=BLIND_STEPS, device="cpu", seed=0,
                        degradation=None, extra={"threads": 2})
    finished = train_model(acquisition.stack, ratio=3.0, spacing=(30.0, 10.0, 10.0), plan=plan,
                           model_path=tmp_path / "m.pt")
    extra = load_model(finished.model_path).extra
    assert extra["calibration"] is not None and extra["model_check"]["passed"]
    ours, theirs = score_against_truth(truth, acquisition, finished.model_path,
                                       slice(61, 189))
    print(f"blind thick sections: {ours['psnr'] - theirs['psnr']:+.2f} dB, "
          f"{ours['ssim'] - theirs['ssim']:+.4f} SSIM over cubic")
    assert ours["psnr"] - theirs["psnr"] > BLIND_MIN_GAIN_DB, (ours["psnr"], theirs["psnr"])
    assert ours["ssim"] >= theirs["ssim"] - BLIND_SSIM_TOLERANCE
