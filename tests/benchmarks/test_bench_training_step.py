"""The training-step benchmark times every configuration and leaves the loss as it found it."""

from __future__ import annotations

import json


def test_bench_training_step_smoke(load_benchmark, tmp_path):
    from napari_a2i3dem.core.model import loss

    bench = load_benchmark("bench_training_step.py", "bench_training_step")
    before = loss.row_order
    out = tmp_path / "step.json"
    assert bench.main(["--steps", "1", "--rounds", "1", "--threads", "1",
                       "--json", str(out)]) == 0
    assert loss.row_order is before  # the packed sort is back in place
    result = json.loads(out.read_text())
    assert set(result["steps_per_s"]) == set(bench.CONFIGURATIONS)
    assert all(entry["median"] > 0 and len(entry["runs"]) == 1
               for entry in result["steps_per_s"].values())
    assert isinstance(result["machine"]["native_bf16"], bool)
