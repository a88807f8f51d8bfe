"""benchmarks/peers.py: the truth-free alignment of a peer's grid, the table writer, and a smoke
run with the peers' environments absent (no TensorFlow, no ECLARE needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def peers(load_benchmark):
    load_benchmark("quality.py", "quality")        # peers.py imports it by that name
    return load_benchmark("peers.py", "peers_benchmark")


def smooth_volume(depth=61, size=12, seed=0):
    """A volume smooth along z (sums of slow cosines), so linear resampling is nearly exact."""
    rng = np.random.default_rng(seed)
    z = np.arange(depth, dtype=np.float32)[:, None, None]
    phase = rng.uniform(0, 2 * np.pi, (3, size, size)).astype(np.float32)
    return sum(50 * np.cos(z / (9.0 + 4 * i) + phase[i]) for i in range(3)) + 128


@pytest.mark.parametrize("shift", [0.0, 1.0, 1.5, -1.0])
def test_alignment_is_found_from_the_input_sections_alone(peers, shift):
    """A peer whose grid puts section k at plane ratio * k + shift (ECLARE's cell-centred grid:
    +1 at rho 3, +1.5 at rho 4) is found and resampled back; the truth is never used."""
    ratio = 3
    fine = smooth_volume()
    stack = fine[::ratio][:-1]                                   # sections 0..K-1 at 3k
    own_grid = peers.sample_planes(fine, np.arange(fine.shape[0] + 3) - shift)
    found, rms = peers.find_alignment(own_grid, stack, ratio)
    assert found == pytest.approx(shift)
    assert rms < 0.5                       # linear resampling of a smooth signal: tiny error
    depth = ratio * (stack.shape[0] - 1) + 1
    back = peers.to_scoring_grid(own_grid, found, depth)
    # the first and last sections may lie outside a shifted grid: compare the inner ones
    np.testing.assert_allclose(back[::ratio][1:-1], stack[1:-1], atol=0.5)


def test_a_declared_grid_wins_over_the_fit_and_the_fit_is_kept(peers):
    """ECLARE's grid is known (section k at 3k + 1 for rho 3): used even when a poorly trained
    output fits another shift better; the fit is reported beside it."""
    fine = smooth_volume()
    stack = fine[::3][:-1]
    output = peers.sample_planes(fine, np.arange(fine.shape[0]) - 1.0)   # grid offset +1
    eclare = peers.alignment(peers.METHODS["eclare"], output, stack, 3)
    assert eclare["shift_planes"] == 1.0 and eclare["declared"]
    assert eclare["fitted_shift_planes"] == pytest.approx(1.0)
    shifted = peers.alignment(peers.METHODS["eclare"], output[1:], stack, 3)
    assert shifted["shift_planes"] == 1.0 and shifted["fitted_shift_planes"] == 0.0
    assert peers.alignment(peers.METHODS["eclare"], output, stack, 4)["shift_planes"] == 1.5


def test_alignment_refuses_an_output_too_short(peers):
    with pytest.raises(ValueError, match="cannot cover"):
        peers.find_alignment(np.zeros((3, 4, 4), np.float32), np.zeros((20, 4, 4)), 3)


def test_point_sampling_kernel_has_three_taps(peers, load_benchmark):
    quality = load_benchmark("quality.py", "quality")
    fine = smooth_volume()
    kernel = peers.peer_kernel(quality.decimate(fine, 3), 3)
    np.testing.assert_allclose(kernel, [0, 1, 0])
    box = peers.peer_kernel(quality.thick_sections(fine, 4), 4)
    np.testing.assert_allclose(box, np.array([0.5, 1, 1, 1, 0.5]) / 4)


def payload_with(scores, runs):
    return {"settings": {"command": "python benchmarks/peers.py", "machine": "test",
                         "minutes": 1, "eval": "all"},
            "wall_minutes": 1.0,
            "stacks": {"decimation-3": {"ratio": 3, "scored_shape": [4, 5, 6],
                                        "truth_planes": [0, 4], "scores": scores,
                                        "runs": runs, "figure": "x/peers_xz_d.png"}}}


def test_table_shows_gains_reasons_and_resources(peers):
    score = {"psnr": 30.0, "ssim": 0.9, "psnr_xz": 30.1, "psnr_yz": 29.9, "frc_lost": 0.4,
             "frc_z_nm": 40.0}
    ours = {**score, "psnr": 30.75}
    runs = {"cubic": {"status": "ok", "wall_s": 0.1},
            "A2I-3DEM": {"status": "ok", "wall_s": 600.0, "user_s": 1100.0, "system_s": 9.0,
                         "peak_rss_mb": 800.0, "alignment": {"shift_planes": 1.0,
                                                             "fitted_shift_planes": 1.75},
                         "details": {"steps": 900, "batch": 8}},
            "ECLARE": {"status": "absent", "reason": "not run: its environment is absent"}}
    table = peers.markdown_tables(payload_with({"cubic": score, "A2I-3DEM": ours}, runs))
    assert "| A2I-3DEM | 30.75 (+0.75) / 0.9000 |" in table
    assert "| ECLARE | not run (absent) |" in table
    assert "not run: its environment is absent" in table
    assert "900 steps × 8 | 600 | 1100 / 9 | 800.0 | +1 (fit +1.75) |" in table
    section = peers.report_section(payload_with({"cubic": score}, runs))
    assert section.startswith("<!-- peers:start -->") and section.endswith("<!-- peers:end -->")


@pytest.mark.slow
def test_smoke_run_scores_every_method_that_can_run(peers, shared_data, tmp_path):
    out = tmp_path / "docs"
    (out).mkdir()
    (out / "benchmarks.md").write_text("# Benchmarks\n\nkept text\n")
    code = peers.main(["--data", str(shared_data), "--crop", "40", "--steps", "3",
                       "--minutes", "1", "--stacks", "decimation-3",
                       "--methods", "a2i3dem", "eclare", "--envs", str(tmp_path / "none"),
                       "--threads", "1", "--out", str(out), "--json", str(tmp_path / "p.json")])
    assert code == 0
    payload = json.loads((tmp_path / "p.json").read_text())
    result = payload["stacks"]["decimation-3"]
    assert set(result["scores"]) == {"cubic", "A2I-3DEM"}
    assert result["runs"]["ECLARE"]["status"] == "absent"
    ours = result["runs"]["A2I-3DEM"]
    assert ours["alignment"]["shift_planes"] == 0.0      # already on the scoring grid
    assert ours["alignment"]["declared"] and ours["alignment"]["fitted_shift_planes"] == 0.0
    assert ours["peak_rss_mb"] > 50 and ours["user_s"] > 0
    # 3 steps cannot move far from the cubic start it is built around
    assert abs(result["scores"]["A2I-3DEM"]["psnr"] - result["scores"]["cubic"]["psnr"]) < 3
    text = (out / "benchmarks.md").read_text()
    assert "kept text" in text and "<!-- peers:start -->" in text
    assert (out / "images" / "peers_xz_decimation-3.png").is_file()
