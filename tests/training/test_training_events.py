"""Training events in words: one wording shared by the command line, the demo and the widget."""

from __future__ import annotations

from pathlib import Path

from napari_a2i3dem.core.training.events import (
    QualityMetrics,
    TrainingFinished,
    TrainingStarted,
    ValidationResult,
)

NET, CUBIC = QualityMetrics(0.01, 31.204, 0.9012), QualityMetrics(0.02, 30.5, 0.88)


def test_validation_reads_network_then_cubic():
    event = ValidationResult(40, NET, CUBIC)
    assert event.describe() == "val PSNR 31.20 dB (cubic 30.50)"
    assert event.describe(with_ssim=True).endswith("SSIM 0.901 (cubic 0.880)")


def test_started_names_size_device_and_steps():
    event = TrainingStarted(0, total_steps=500, start_step=100, device="cpu",
                            parameters=1_234_000, cubic=CUBIC)
    assert event.describe() == ("training 1.23 M parameters on cpu, steps 100->500; cubic "
                                "validation PSNR 30.50 dB")
    mixed = TrainingStarted(0, total_steps=500, start_step=0, device="cpu", parameters=1_000,
                            cubic=CUBIC, precision="bfloat16")
    assert mixed.describe().startswith("training 0.00 M parameters on cpu (bfloat16), steps")


def test_finished_says_what_was_kept():
    done = TrainingFinished(900, total_steps=900, reason="completed",
                            model_path=Path("/m/model.pt"), checkpoint_path=None, best_step=800,
                            best_psnr=31.2, cubic_psnr=30.5, elapsed_seconds=10.0)
    assert done.describe() == ("finished at step 900: saved /m/model.pt, validation PSNR "
                               "31.20 dB at step 800 (cubic 30.50 dB)")
    stopped = TrainingFinished(12, total_steps=900, reason="cancelled", model_path=None,
                               checkpoint_path=None, best_step=0, best_psnr=0.0,
                               cubic_psnr=0.0, elapsed_seconds=1.0)
    assert stopped.describe() == "stopped at step 12 (no model file configured)"
