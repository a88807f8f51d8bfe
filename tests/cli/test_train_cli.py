"""``a2i3dem train``: trains from a TIFF, resumes from its checkpoint, refuses bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_a2i3dem.cli import main
from napari_a2i3dem.core.io.tiff_writer import write_stack
from napari_a2i3dem.core.model import load_model
from napari_a2i3dem.core.physics.sample import make_sample_stack

FAST = ["--preset", "tiny", "--batch", "2", "--patch", "32", "--device", "cpu",
        "--checkpoint-every", "2", "--validate-every", "2", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def stack_file(tmp_path_factory):
    stack, spacing = make_sample_stack()
    path = tmp_path_factory.mktemp("cli") / "sample.tif"
    write_stack(path, np.ascontiguousarray(stack[:, :96, :96]), spacing)
    return path


def test_train_then_resume(stack_file, tmp_path, capsys):
    out = tmp_path / "model.pt"
    before = stack_file.read_bytes()
    assert main(["train", str(stack_file), "--steps", "3", "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "ratio 3" in err and f"saved {out}" in err
    loaded = load_model(out)
    assert loaded.ratio == pytest.approx(3.0)
    assert loaded.spacing == pytest.approx((45.0, 15.0, 15.0))
    ckpt = tmp_path / "model.ckpt.pt"
    assert torch.load(ckpt, weights_only=True)["step"] == 3

    assert main(["train", str(stack_file), "--steps", "5", "--out", str(out),
                 "--resume", str(ckpt), *FAST]) == 0
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 5 and state["history"]["loss_step"] == [1, 2, 3, 4, 5]
    assert load_model(out).extra["steps"] == 5
    assert stack_file.read_bytes() == before


def test_ratio_and_spacing_options_override_the_file(stack_file, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train", str(stack_file), "--steps", "1", "--ratio", "2.5", "--out", str(out),
                 *FAST]) == 0
    assert load_model(out).ratio == pytest.approx(2.5)
    assert main(["train", str(stack_file), "--steps", "1", "--spacing", "40", "10", "10",
                 "--out", str(out), "--overwrite", *FAST]) == 0
    assert load_model(out).ratio == pytest.approx(4.0)


def test_bad_ratio_is_an_argument_error(stack_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(stack_file), "--ratio", "0.5", "--out", str(tmp_path / "m.pt")])
    assert exit_info.value.code != 0
    assert "at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["unreadable", "2-D", "same-as-input", "missing"])
def test_bad_input_exits_with_one_line(case, stack_file, tmp_path, capsys):
    out = tmp_path / "m.pt"
    if case == "unreadable":
        path = tmp_path / "broken.tif"
        path.write_bytes(b"this is not a tiff")
    elif case == "2-D":
        path = tmp_path / "plane.tif"
        write_stack(path, np.zeros((64, 64), np.uint8), None)
    elif case == "missing":
        path = tmp_path / "nothing-here.tif"
    else:
        path, out = stack_file, stack_file
    code = main(["train", str(path), "--steps", "1", "--ratio", "3", "--out", str(out), *FAST])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("a2i3dem train: error:")
    assert not (tmp_path / "m.pt").exists()


def test_ctrl_c_leaves_a_checkpoint_and_says_how_to_resume(stack_file, tmp_path, capsys,
                                                          monkeypatch):
    from napari_a2i3dem.core.training.engine import Trainer

    original = Trainer._train_step
    calls = {"n": 0}

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "_train_step", interrupted)
    out = tmp_path / "m.pt"
    assert main(["train", str(stack_file), "--steps", "10", "--out", str(out), *FAST]) == 130
    err = capsys.readouterr().err
    ckpt = tmp_path / "m.ckpt.pt"
    assert (f"interrupted at step 2; the checkpoint holds step 2; resume with --resume {ckpt}"
            in err)
    assert torch.load(ckpt, weights_only=True)["step"] == 2


def test_a_second_ctrl_c_waits_for_the_checkpoint(stack_file, tmp_path, capsys, monkeypatch):
    """Ctrl-C, then Ctrl-C again while the emergency checkpoint is written: the save completes
    and the message names the step the file really holds."""
    import os
    import signal

    from napari_a2i3dem.core.training import engine as training
    from napari_a2i3dem.core.training.engine import Trainer

    original_step, original_save = Trainer._train_step, training.save_checkpoint
    calls = {"steps": 0, "saves": 0}

    def interrupted(self, *args, **kwargs):
        calls["steps"] += 1
        if calls["steps"] == 4:
            raise KeyboardInterrupt
        return original_step(self, *args, **kwargs)

    def impatient_save(path, state):
        if calls["steps"] == 4:                  # the emergency save after the first Ctrl-C
            calls["saves"] += 1
            os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, mid-save
        return original_save(path, state)

    monkeypatch.setattr(Trainer, "_train_step", interrupted)
    monkeypatch.setattr(training, "save_checkpoint", impatient_save)
    out = tmp_path / "m.pt"
    assert main(["train", str(stack_file), "--steps", "10", "--out", str(out), *FAST]) == 130
    err = capsys.readouterr().err
    ckpt = tmp_path / "m.ckpt.pt"
    assert calls["saves"] == 1
    assert torch.load(ckpt, weights_only=True)["step"] == 3
    assert "interrupted at step 3; the checkpoint holds step 3" in err


def test_profile_option_and_default(stack_file, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train", str(stack_file), "--steps", "1", "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    # By default the degradation is calibrated to the stack, said, saved, and checked.
    assert "estimated slice profile" in err and "no-truth check" in err
    model = load_model(out)
    calibration = model.extra["calibration"]
    assert model.degradation["profile"]["kind"] in ("box", "gaussian")
    assert model.degradation["profile_width"][1] == max(1.0, calibration["profile"]["width"])
    assert not any(a["enabled"] for a in model.degradation["artefacts"].values())
    assert "passed" in model.extra["model_check"]
    assert main(["train", str(stack_file), "--steps", "1", "--out", str(out), "--overwrite",
                 "--profile", "none", "--no-check", *FAST]) == 0
    err = capsys.readouterr().err
    assert "set by hand" not in err or "point sampling" in err
    assert load_model(out).degradation["profile"]["kind"] == "none"
    assert load_model(out).extra["model_check"] is None
    assert main(["train", str(stack_file), "--steps", "1", "--out", str(out), "--overwrite",
                 "--profile", "box", "--profile-width", "0.5", "--artefacts", "drift",
                 *FAST]) == 0
    saved = load_model(out).degradation
    assert saved["profile"] == {"kind": "box", "width": 0.5, "kernel": None}
    assert saved["artefacts"]["drift"]["enabled"]
    assert main(["train", str(stack_file), "--steps", "1", "--out", str(out), "--overwrite",
                 "--profile-width", "0.5", *FAST]) == 2
    assert "--profile-width needs --profile box or gaussian" in capsys.readouterr().err


def test_an_unwritable_output_folder_is_found_before_training(stack_file, tmp_path, capsys,
                                                              monkeypatch):
    import tempfile

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)  # a read-only mount
    assert main(["train", str(stack_file), "--out", str(tmp_path / "m.pt"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "cannot write in the output folder" in err and "Permission denied" in err
    monkeypatch.undo()
    assert main(["train", str(stack_file), "--out", str(tmp_path / "missing" / "m.pt"),
                 "--steps", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_resume_into_the_checkpoint_itself_is_refused(stack_file, tmp_path, capsys):
    ckpt = tmp_path / "m.ckpt.pt"
    ckpt.write_bytes(b"placeholder")
    assert main(["train", str(stack_file), "--out", str(ckpt), "--resume", str(ckpt),
                 "--steps", "1"]) == 2
    assert "is the checkpoint being resumed" in capsys.readouterr().err
    assert ckpt.read_bytes() == b"placeholder"
