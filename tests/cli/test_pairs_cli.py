"""``a2i3dem pairs`` writes (N, 2, M, M) float32 pairs and fails with one line on bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.physics.acquisition import SliceProfile, simulate_acquisition
from napari_a2i3dem.core.physics.degradations import DegradationConfig


@pytest.fixture
def stack_file(imagej_stack):
    return imagej_stack


def run_cli(*args) -> int:
    return main(["pairs", *map(str, args)])


def test_writes_degraded_and_clean_pairs(stack_file, tmp_path, capsys):
    out = tmp_path / "pairs.tif"
    assert run_cli(stack_file, "--ratio", 4, "--count", 5, "--patch", 32, "--out", out,
                   "--seed", 2) == 0
    pairs = tifffile.imread(out)
    assert pairs.shape == (5, 2, 32, 32) and pairs.dtype == np.float32
    assert np.abs(pairs[:, 0] - pairs[:, 1]).mean() > 1e-3
    assert "wrote 5 pairs" in capsys.readouterr().out
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # the usual mode, not mkstemp's 0600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    again = tmp_path / "again.tif"
    run_cli(stack_file, "--ratio", 4, "--count", 5, "--patch", 32, "--out", again, "--seed", 2)
    np.testing.assert_array_equal(tifffile.imread(again), pairs)


def test_clean_pairs_are_acquisition_only_with_ratio_from_the_file(stack_file, tmp_path,
                                                                   capsys):
    out = tmp_path / "clean.tif"
    assert run_cli(stack_file, "--count", 3, "--patch", 32, "--out", out, "--clean") == 0
    assert "ratio 4" in capsys.readouterr().out  # 20 nm / 5 nm from the ImageJ metadata
    pairs = tifffile.imread(out)
    for degraded, clean in pairs:
        rows = simulate_acquisition(clean, 4.0, 0, SliceProfile("box", 1.0))
        cols = simulate_acquisition(clean, 4.0, 1, SliceProfile("box", 1.0))
        assert min(np.abs(degraded - rows).max(), np.abs(degraded - cols).max()) < 1e-5


def test_config_file_sets_the_degradation(stack_file, tmp_path):
    settings = tmp_path / "degradation.json"
    settings.write_text(json.dumps(DegradationConfig.clean(SliceProfile("none")).to_dict()))
    out = tmp_path / "pairs.tif"
    assert run_cli(stack_file, "--ratio", 2, "--count", 2, "--patch", 32, "--out", out,
                   "--config", settings) == 0
    degraded, clean = tifffile.imread(out)[0]
    # point sampling with rho 2 keeps every other row or column exactly
    assert min(np.abs(degraded[::2] - clean[::2]).max(),
               np.abs(degraded[:, ::2] - clean[:, ::2]).max()) < 1e-5


@pytest.mark.parametrize("make_args, message", [
    (lambda s, o: [s, "--ratio", 0.5, "--out", o], "ratio must be at least 1"),
    (lambda s, o: [s.parent / "missing.tif", "--ratio", 2, "--out", o], "no such file"),
    (lambda s, o: [s, "--ratio", 2, "--out", s], "refusing to write"),
    (lambda s, o: [s, "--ratio", 2, "--patch", 512, "--out", o], "larger than the xy planes"),
    (lambda s, o: [s, "--ratio", 2, "--clean", "--config", o, "--out", o], "either --clean"),
])
def test_errors_are_one_line_with_a_non_zero_exit(stack_file, tmp_path, capsys, make_args,
                                                  message):
    before = stack_file.read_bytes()
    assert run_cli(*make_args(stack_file, tmp_path / "out.tif")) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert stack_file.read_bytes() == before
    assert not (tmp_path / "out.tif").exists()


def test_two_dimensional_image_is_refused(tmp_path, capsys):
    image = tmp_path / "image.tif"
    tifffile.imwrite(image, np.zeros((64, 64), np.uint8))
    assert run_cli(image, "--ratio", 2, "--out", tmp_path / "o.tif") != 0
    err = capsys.readouterr().err.strip()
    assert "2-D" in err and "\n" not in err


def test_bad_json_config_is_reported(stack_file, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"artefacts": {"fog": {}}}))
    assert run_cli(stack_file, "--ratio", 2, "--config", bad, "--out", tmp_path / "o.tif") != 0
    assert "unknown artefact" in capsys.readouterr().err


def test_ratio_from_spacing_option_or_a_clear_error_without_any(tmp_path, rng, capsys):
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, (255 * rng.random((6, 64, 64))).astype(np.uint8))
    out = tmp_path / "pairs.tif"
    assert run_cli(plain, "--count", 1, "--patch", 32, "--out", out) != 0
    err = capsys.readouterr().err.strip()
    assert "no voxel spacing" in err and "--ratio" in err and "\n" not in err
    assert run_cli(plain, "--spacing", 30, 10, 10, "--count", 1, "--patch", 32,
                   "--out", out) == 0
    assert "ratio 3" in capsys.readouterr().out


def test_default_pairs_are_calibrated_and_the_evidence_drawn(tmp_path, capsys):
    from _fields import membrane_field

    sections = membrane_field((96, 96, 96), seed=1)[::3]
    stack = np.clip(128 + 80 * sections, 0, 255).astype(np.uint8)
    path = tmp_path / "sections.tif"
    tifffile.imwrite(path, stack, imagej=True, resolution=(1 / 10.0, 1 / 10.0),
                     metadata={"axes": "ZYX", "spacing": 30.0, "unit": "nm"})
    out, figure = tmp_path / "pairs.tif", tmp_path / "evidence.png"
    assert run_cli(path, "--count", 2, "--patch", 32, "--out", out, "--spectra", figure) == 0
    text = capsys.readouterr().out
    assert "estimated slice profile: point sampling" in text
    assert "box profile width 0-1" in text and "noise" not in text.split("(ratio")[1]
    assert figure.stat().st_size > 10_000 and figure.read_bytes()[:4] == b"\x89PNG"
    assert run_cli(path, "--clean", "--profile", "box", "--out", out, "--overwrite") == 2
    assert "do not combine" in capsys.readouterr().err
