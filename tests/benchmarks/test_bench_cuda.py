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


def test_matmul_peaks_are_measured_per_precision(bench):
    peaks = bench.matmul_peaks(torch.device("cpu"), 128)
    assert set(peaks) == {"float32", "bfloat16"} and all(v > 0 for v in peaks.values())


def test_paper_size_reconstruction_reports_time_and_flops(bench):
    paper = bench.paper_volume("cpu", "tiny", (6, 40, 40), ratio=3.0)
    assert paper["output_shape"] == [18, 40, 40]
    assert paper["seconds"] > 0 and paper["voxels_per_s"] > 0
    # every plane was counted: 40 xz planes (one per row) + 40 yz planes (one per column),
    # each a single 18 x 40 tile
    fed = {tuple(int(v) for v in k.split("x")): n for k, n in paper["batches"].items()}
    assert sum(shape[0] * n for shape, n in fed.items()) == 80
    assert {shape[2:] for shape in fed} == {(18, 40)}
    assert paper["network_gflop"] > 0 and paper["under_target"] is True
