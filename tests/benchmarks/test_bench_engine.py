"""The engine benchmark runs end to end on a tiny stack and reports fractions of the peak."""

from __future__ import annotations

import json


def test_bench_engine_smoke(load_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("A2I3DEM_BENCH_STACK", "6,40,40")
    bench = load_benchmark("bench_engine.py", "bench_engine")
    out = tmp_path / "engine.json"
    assert bench.main(["--threads", "1", "--train-steps", "2", "--no-untuned", "--profile",
                       "--json", str(out)]) == 0
    result = json.loads(out.read_text())["presets"]["tiny"]["tuned"]
    rec, train = result["reconstruction"], result["training"]
    assert rec["voxels"] == 18 * 40 * 40          # 6 sections x rho 3, 40 x 40
    assert rec["fp32_peak_gflops"] > 0 and rec["gflops_per_s"] > 0
    # The flop counter and the cost model agree on what the network computed (within 10 %).
    assert abs(rec["network_flops"] / rec["cost_model_flops"] - 1) < 0.1
    assert "aten::" in rec["profile"]
    # The roofline: traffic was counted and a bound derived from it.
    assert rec["traffic_gb"] > 0 and rec["copy_bandwidth_gbs"] > 0
    assert rec["roofline"]["fraction_of_roofline"] > 0
    assert rec["roofline"]["bound"] in ("memory", "compute")
    ops = rec["operations_8x256"]
    assert ops and all(row["ms"] >= 0 and row["calls"] >= 1 for row in ops)
    assert sum(row["share"] for row in ops) <= 1.0 + 0.0005 * len(ops)  # rounded to 0.1 %
    # A training step costs more than a forward pass of its batch (backward + optimiser).
    from napari_a2i3dem.core.model import estimate_flops, preset

    assert train["flops_per_step"] > 8 * estimate_flops(preset("tiny"), 64)
    assert train["steps_per_s"] > 0 and train["system_s"] >= 0
    assert train["precision"] in ("float32", "bfloat16")  # the trainer's, as autocast sets it
