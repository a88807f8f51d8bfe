"""The no-truth check: does a trained model beat cubic on the stack it is meant for?"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _fields import membrane_field

from napari_a2i3dem.core.physics.acquisition import SliceProfile, downsample_axis, upsample_axis
from napari_a2i3dem.core.physics.calibration import estimate_degradation
from napari_a2i3dem.core.physics.degradations import DegradationConfig
from napari_a2i3dem.core.training.config import TrainConfig
from napari_a2i3dem.core.training.engine import Trainer
from napari_a2i3dem.core.training.model_check import (
    WORSE_THAN_CUBIC,
    check_model,
    reacquisition,
    view_agreement,
)

RATIO = 3.0


@pytest.fixture(scope="module")
def point_sampled_stack() -> np.ndarray:
    """Every third plane of a 96^3 isotropic random field with sharp edges, plus 2 % noise."""
    rng = np.random.default_rng(5)
    volume = membrane_field((96, 96, 96), seed=5)
    sections = downsample_axis(volume, RATIO, axis=0, profile=SliceProfile("none", 0))
    return (sections + rng.normal(0, 0.04, sections.shape)).astype(np.float32)


def train(stack, degradation, steps=80):
    trainer = Trainer(stack, ratio=RATIO, degradation=degradation,
                      config=TrainConfig(steps=steps, batch_size=8, patch_size=48, seed=0,
                                         validation_every=10**6, preview_every=10**6,
                                         checkpoint_every=10**6, threads=1))
    for _ in trainer.run():
        pass
    return trainer.model.eval()


def test_identity_model_passes_reacquisition_like_cubic(point_sampled_stack):
    class Identity(torch.nn.Module):
        def forward(self, x):
            return x

    check = check_model(point_sampled_stack, Identity(), RATIO)
    # The identity on the cubic input *is* cubic: sections reproduced exactly, no correction.
    assert check.reacquisition.model_rms == pytest.approx(check.reacquisition.cubic_rms,
                                                          abs=1e-5)
    assert check.heldout_gain_db == pytest.approx(0.0, abs=1e-3)
    assert check.passed, check.summary()


@pytest.mark.slow  # two short trainings (about 30 s on 2 cores)
def test_check_flags_a_model_trained_with_the_wrong_profile(point_sampled_stack):
    estimate = estimate_degradation(point_sampled_stack, RATIO)
    assert estimate.profile.kind == "none"
    wrong = train(point_sampled_stack, DegradationConfig.clean(SliceProfile("box", 1.5)))
    right = train(point_sampled_stack, estimate.config())
    bad = check_model(point_sampled_stack, wrong, RATIO, estimate=estimate)
    good = check_model(point_sampled_stack, right, RATIO, estimate=estimate)
    assert not bad.passed
    assert any(WORSE_THAN_CUBIC in w for w in bad.warnings)
    assert bad.heldout_gain_db < 0 < good.heldout_gain_db
    assert "WARNING" in bad.summary() and "WARNING" not in good.summary()


def test_reacquisition_prefers_the_deblurred_volume():
    rng = np.random.default_rng(0)
    truth = np.cumsum(rng.standard_normal((60, 8, 8)), axis=0).astype(np.float32)
    box = SliceProfile("box", 1.0)
    sections = downsample_axis(truth, RATIO, axis=0, profile=box)
    length = upsample_axis(sections, RATIO, axis=0).shape[0]
    r = reacquisition(sections, truth[:length], RATIO, box, noise=0.0)
    # The truth re-acquired gives the sections back exactly; cubic (smoother) does not.
    assert r.model_rms < 1e-4 < r.cubic_rms and r.passed


def test_view_agreement():
    rng = np.random.default_rng(0)
    cubic = rng.standard_normal((10, 10, 10)).astype(np.float32)
    correction = rng.standard_normal(cubic.shape).astype(np.float32)
    assert view_agreement(cubic + correction, cubic + correction, cubic) == pytest.approx(1.0)
    n1, n2 = (rng.standard_normal(cubic.shape).astype(np.float32) for _ in range(2))
    # Each view adds its own error as large as the shared correction: 1 - 1/3 of it agrees.
    value = view_agreement(cubic + correction + n1, cubic + correction + n2, cubic)
    assert value == pytest.approx(2 / 3, abs=0.03)
    # Unrelated corrections do not agree.
    assert abs(view_agreement(cubic + n1, cubic + n2, cubic)) < 0.05
