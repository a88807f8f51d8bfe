"""Every command refuses to replace an existing output unless ``--overwrite`` is given.

The refusal comes before any work (the stack and model named here need not even be read),
leaves the existing file byte for byte as it was, and is one line naming the path and the flag.
"""

from __future__ import annotations

import pytest
import tifffile

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.errors import OutputExists
from napari_a2i3dem.core.io.atomic import refuse_existing

OLD = b"the user's own bytes"


@pytest.fixture
def stack_file(imagej_stack):
    return imagej_stack


def _existing(path):
    path.write_bytes(OLD)
    return path


@pytest.mark.parametrize(("command", "out_name"), [
    (["reconstruct", "{stack}", "--model", "{tmp}/m.pt", "--out", "{out}"], "iso.tif"),
    (["reconstruct", "{stack}", "--model", "{tmp}/m.pt", "--out", "{tmp}/iso.zarr",
      "--confidence", "{out}"], "conf.tif"),
    (["train", "{stack}", "--out", "{out}", "--steps", "2"], "model.pt"),
    (["pairs", "{stack}", "--out", "{out}", "--ratio", "4"], "pairs.tif"),
    (["pairs", "{stack}", "--out", "{tmp}/p.tif", "--ratio", "4", "--spectra", "{out}"],
     "evidence.png"),
    (["assess", "{stack}", "--json", "{out}"], "numbers.json"),
    (["export", "{tmp}/m.pt", "--stack", "{stack}", "--out", "{out}"], "package.zip"),
    (["demo", "--out", "{tmp}", "--steps", "1"], "metrics.json"),
])
def test_an_existing_output_is_refused_and_left_as_it_was(tmp_path, stack_file, capsys,
                                                          command, out_name):
    out = _existing(tmp_path / out_name)
    argv = [a.format(stack=stack_file, tmp=tmp_path, out=out) for a in command]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(out) in err and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written beside it


def test_overwrite_replaces_the_output(tmp_path, stack_file, capsys):
    out = _existing(tmp_path / "pairs.tif")
    assert main(["pairs", str(stack_file), "--out", str(out), "--ratio", "4", "--count", "2",
                 "--patch", "32", "--clean", "--overwrite"]) == 0
    assert tifffile.imread(out).shape == (2, 2, 32, 32)


def test_train_refuses_to_start_over_an_earlier_checkpoint(tmp_path, stack_file, capsys):
    ckpt = _existing(tmp_path / "model.ckpt.pt")
    assert main(["train", str(stack_file), "--out", str(tmp_path / "model.pt"),
                 "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert f"--resume {ckpt}" in err and "--overwrite" in err
    assert ckpt.read_bytes() == OLD


def test_the_demo_folder_may_hold_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    refuse_existing(*(tmp_path / n for n in ("model.pt", "metrics.json")))  # no error
    with pytest.raises(OutputExists, match=r"notes\.txt"):
        refuse_existing(tmp_path / "notes.txt")
    refuse_existing(tmp_path / "notes.txt", overwrite=True)
    link = tmp_path / "link.tif"
    link.symlink_to(tmp_path / "missing.tif")  # a dangling link is something too
    with pytest.raises(OutputExists):
        refuse_existing(link)
