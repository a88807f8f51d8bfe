"""core.pipeline (baselines, time-budgeted training), core.evaluation and core.figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_a2i3dem.core.analysis.figures import save_comparison_figure
from napari_a2i3dem.core.analysis.metrics import psnr
from napari_a2i3dem.core.analysis.scoring import format_table, score_volume
from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.training import timebox as pipeline
from napari_a2i3dem.core.training.events import TrainingFinished
from napari_a2i3dem.core.training.timebox import TrainingPlan, interpolate_z, train_model


def test_interpolations_put_section_k_at_plane_k_rho(rng):
    stack = rng.random((6, 8, 8)).astype(np.float32)
    for method in pipeline.INTERPOLATIONS:
        volume = interpolate_z(stack, 3, method)
        assert volume.shape == (18, 8, 8) and volume.dtype == np.float32
        np.testing.assert_allclose(volume[::3], stack, atol=1e-5, err_msg=method)
    nearest = interpolate_z(stack, 3, "nearest")
    np.testing.assert_array_equal(nearest[4], stack[1])     # 4/3 rounds to section 1
    np.testing.assert_array_equal(nearest[5], stack[2])     # 5/3 rounds to section 2
    linear = interpolate_z(stack, 3, "linear")
    np.testing.assert_allclose(linear[4], stack[1] + (stack[2] - stack[1]) / 3, atol=1e-6)
    np.testing.assert_allclose(linear[16], stack[5], atol=1e-6)   # held beyond the last section
    with pytest.raises(InputError, match="interpolation"):
        interpolate_z(stack, 3, "lanczos")


def test_non_integer_ratio_interpolates_on_the_fine_grid(rng):
    stack = rng.random((5, 8, 8)).astype(np.float32)
    volume = interpolate_z(stack, 2.5, "linear")
    assert volume.shape[0] == round(5 * 2.5)
    np.testing.assert_allclose(volume[5], stack[2], atol=1e-6)   # 5 / 2.5 = section 2


def test_training_needs_steps_or_time():
    stack = np.zeros((4, 32, 32), np.uint8)
    with pytest.raises(InputError, match="steps or a time budget"):
        train_model(stack, ratio=3, spacing=None, plan=TrainingPlan(steps=None),
                    model_path="unused.pt")


class FakeClock:
    """``time`` stand-in for core.pipeline: each reading advances 0.3 s, whatever the load."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 0.3
        return self.now


@pytest.mark.slow  # about 30 training steps: seconds on an idle machine, minutes on a busy one
def test_time_budget_extends_a_run_that_finished_early(tmp_path, monkeypatch, rng):
    stack = (rng.random((8, 48, 48)) * 255).astype(np.uint8)
    # The probe "found" a slow machine, so the first run is planned too short (10 steps); the
    # fake clock then shows time to spare, so the run must be extended from its checkpoint
    # until the (fake) budget is used up.
    monkeypatch.setattr(pipeline, "measure_training_speed", lambda *a, **k: 0.05)
    monkeypatch.setattr(pipeline, "time", FakeClock())
    events = []
    plan = TrainingPlan(seconds=15.0, patch_size=32, batch_size=2,
                        extra={"validation_count": 2})
    finished = train_model(stack, ratio=3, spacing=(30.0, 10.0, 10.0), plan=plan,
                           model_path=tmp_path / "m.pt", on_event=events.append)
    starts = [e for e in events if type(e).__name__ == "TrainingStarted"]
    ends = [e for e in events if isinstance(e, TrainingFinished)]
    assert starts[0].total_steps == 10
    assert len(starts) >= 2, "the run was not extended"
    assert starts[1].start_step == ends[0].step == 10     # resumed where the first run stopped
    assert starts[1].total_steps >= 20
    assert finished is ends[-1] and finished.step > 10
    assert len(starts) <= 4                                 # the budget ends the extensions
    assert (tmp_path / "m.pt").is_file()


def test_scores_of_a_perfect_and_a_shifted_volume(rng):
    truth = (rng.random((24, 32, 32)) * 255).astype(np.float32)
    perfect = score_volume(truth, truth, 10.0)
    assert perfect["psnr"] == math.inf and perfect["ssim"] == pytest.approx(1.0)
    noisy = truth + rng.normal(0, 8, truth.shape).astype(np.float32)
    scores = score_volume(truth, noisy, 10.0)
    assert scores["psnr"] == pytest.approx(psnr(truth, noisy, data_range=255), abs=1e-9)
    assert scores["psnr_xz"] == pytest.approx(scores["psnr"], abs=0.3)
    assert 0 < scores["ssim_yz"] < 1 and scores["frc_z_nm"] > 0
    with pytest.raises(InputError, match="differ"):
        score_volume(truth, truth[1:], 10.0)


def test_table_formats_in_text_and_markdown():
    scores = {"cubic": {"psnr": 28.154, "ssim": 0.81234},
              "A2I-3DEM": {"psnr": 30.611, "ssim": float("nan")}}
    text = format_table(scores)
    assert "28.15" in text and "30.61" in text and "0.8123" in text and "–" in text
    md = format_table(scores, markdown=True).splitlines()
    assert md[0] == "| method | PSNR (dB) | SSIM |" and md[1] == "|---|---|---|"
    assert md[3] == "| A2I-3DEM | 30.61 | – |"


def test_comparison_figure_is_written_atomically(tmp_path, rng):
    panels = {"cubic": rng.random((30, 40)), "truth": rng.random((30, 40))}
    path = save_comparison_figure(tmp_path / "fig.png", panels, title="t", pixel_nm=10.0)
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    with pytest.raises(InputError, match="one shape"):
        save_comparison_figure(tmp_path / "bad.png", {"a": np.zeros((3, 4)), "b": np.zeros((4, 4))})
