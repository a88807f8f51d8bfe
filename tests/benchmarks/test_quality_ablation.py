"""The ablation script of the quality benchmark: flip ensemble arithmetic and a smoke run."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture(scope="module")
def ablation(load_benchmark):
    return load_benchmark("quality_ablation.py", "quality_ablation")


class AddRampAlongX(torch.nn.Module):
    """f(x) = x + w (w: the column index): not flip-equivariant along x, equivariant along z."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.arange(x.shape[-1], dtype=x.dtype)


def test_flip_ensemble_averages_the_flipped_passes(ablation):
    x = torch.rand(2, 1, 5, 7)
    out = ablation.FlipEnsemble(AddRampAlongX())(x)
    # two passes add w, two add the flipped ramp 6 - w: the mean adds (7 - 1) / 2 = 3 everywhere
    torch.testing.assert_close(out, x + 3.0)


def test_flip_ensemble_keeps_an_equivariant_network_unchanged(ablation):
    conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[0.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 0.0]]]]))
    x = torch.rand(1, 1, 6, 6)
    torch.testing.assert_close(ablation.FlipEnsemble(conv)(x), conv(x))


def test_smoke_run_records_a_line_and_tabulates_it(ablation, shared_data, tmp_path, capsys):
    jsonl = tmp_path / "runs.jsonl"
    code = ablation.main(["--data", str(shared_data), "--crop", "40", "--steps", "2",
                          "--eval-size", "32", "--threads", "1", "--flip-ensemble",
                          "--channels", "8", "--label", "smoke", "--jsonl", str(jsonl)])
    assert code == 0
    record = json.loads(jsonl.read_text().splitlines()[0])
    assert record["steps"] == 2 and record["network"] == {"channels": 8}
    assert set(record["results"]) == {"network", "flip ensemble"}
    for result in record["results"].values():
        assert result["psnr_gain"] == pytest.approx(result["psnr"] - record["cubic"]["psnr"],
                                                    abs=2e-3)
    capsys.readouterr()
    assert ablation.main(["--table", "--jsonl", str(jsonl)]) == 0
    table = capsys.readouterr().out
    assert "| smoke | decimation | 0 | 2 |" in table
    assert "| smoke (flip ensemble) |" in table


def test_table_without_records_is_an_error(ablation, tmp_path):
    assert ablation.main(["--table", "--jsonl", str(tmp_path / "none.jsonl")]) == 2
