"""The CUDA check script's pieces, run on the CPU (CI has no GPU; the script is for one)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("bench_cuda.py", "bench_cuda")


def test_bare_training_step_is_timed_and_its_loss_is_finite(bench):
    result = bench.raw_step_rate("tiny", batch=2, patch=32, device=torch.device("cpu"),
                                 amp=True, steps=2)
    assert result["loss_finite"] is True
    assert result["steps_per_s"] > 0 and math.isclose(
        result["patches_per_s"], 2 * result["steps_per_s"])
    assert result["peak_mib"] is None          # GPU memory only


def test_real_training_loop_runs_and_reports_its_outcome(bench, tmp_path):
    run = bench.trainer_rate("tiny", batch=2, patch=32, device="cpu", amp=True, steps=4,
                             workdir=tmp_path)
    assert run["steps"] == 4 and run["reason"] == "completed"
    assert Path(run["model"]).is_file()
    assert run["steps_per_s"] > 0 and math.isfinite(run["best_psnr"])
