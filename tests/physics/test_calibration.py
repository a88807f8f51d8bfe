"""The degradation estimate: slice profile and noise recovered from a stack made with them."""

from __future__ import annotations

import numpy as np
import pytest
from _fields import membrane_field

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.physics.acquisition import SliceProfile, downsample_axis
from napari_a2i3dem.core.physics.calibration import (
    estimate_degradation,
    line_spectrum,
    profile_label,
    training_degradation,
)

NOISE = 0.02  # of the intensity range, added to every section


@pytest.fixture(scope="module")
def isotropic_field() -> np.ndarray:
    return membrane_field((96, 96, 96), seed=1)


def acquire(volume: np.ndarray, ratio: float, profile: SliceProfile, seed: int = 0):
    sections = downsample_axis(volume, ratio, axis=0, profile=profile)
    rng = np.random.default_rng(seed)
    span = float(np.ptp(sections))
    return (sections + rng.normal(0, NOISE * span, sections.shape)).astype(np.float32)


@pytest.mark.parametrize("ratio", [3.0, 4.0])
@pytest.mark.parametrize("profile", [SliceProfile("none", 0.0), SliceProfile("box", 1.0),
                                     SliceProfile("gaussian", 1.0)],
                         ids=["point", "box1", "gaussian1"])
def test_estimate_recovers_known_profile(isotropic_field, profile, ratio):
    estimate = estimate_degradation(acquire(isotropic_field, ratio, profile), ratio)
    # Tolerance: the kind exactly, the width within 0.2 section spacings.
    assert estimate.profile.kind == profile.kind, profile_label(estimate.profile)
    if profile.kind != "none":
        assert abs(estimate.profile.width - profile.width) <= 0.2
    # The calibrated synthetic spectrum is closer to the stack than the generic default's.
    assert estimate.distance_db < estimate.uncalibrated_db


def test_noise_is_matched_to_the_profile(isotropic_field):
    point = estimate_degradation(acquire(isotropic_field, 3.0, SliceProfile("none", 0)), 3.0)
    box = estimate_degradation(acquire(isotropic_field, 3.0, SliceProfile("box", 1.0)), 3.0)
    # Point sampling keeps all of an xy patch's own noise: nothing to add.
    assert point.added_noise == 0.0 and point.config().noise.kind == "none"
    # ... and its training widths run from none up to one section (the estimate is a lower
    # bound; see training_widths).
    assert point.config().profile_width == (0.0, 1.0)
    assert point.config().profile.kind == "box" and not point.config().fixed_profile
    # A box of 3 pixels keeps 1/3 of the noise variance: add sqrt(2/3) of the section noise.
    assert box.added_noise == pytest.approx(box.noise_relative * np.sqrt(2 / 3), rel=0.05)
    config = box.config()
    assert box.profile.width <= config.profile_width[0] + 1e-9 <= 1.0 + 1e-9
    assert config.profile_width[1] == pytest.approx(max(1.0, box.profile.width))
    assert config.noise.sigma[0] < box.added_noise < config.noise.sigma[1]
    assert not any(a.enabled for a in config.artefacts.values())  # artefacts stay opt-in


def test_override_and_opt_in_artefacts(isotropic_field):
    stack = acquire(isotropic_field, 3.0, SliceProfile("none", 0))
    stack[10] = 0.0  # a blank (missing) section
    config, estimate = training_degradation(stack, 3.0, profile=SliceProfile("box", 1.0),
                                            artefacts=("missing",))
    assert config.profile == SliceProfile("box", 1.0)
    assert estimate.overridden and "set by hand" in estimate.summary()
    assert [s.name for s in estimate.suggestions] == ["missing"]
    assert config.artefacts["missing"].enabled
    assert not config.artefacts["drift"].enabled
    with pytest.raises(InputError, match="unknown artefact"):
        training_degradation(stack, 3.0, artefacts=("glitter",))


def test_drift_is_suggested_only_where_sections_jump(isotropic_field):
    stack = acquire(isotropic_field, 3.0, SliceProfile("none", 0))
    assert not estimate_degradation(stack, 3.0).suggestions
    jumps = np.random.default_rng(3).normal(0, 0.3, size=(len(stack), 1, 1)).astype(np.float32)
    names = [s.name for s in estimate_degradation(stack + jumps, 3.0).suggestions]
    assert names == ["drift"]


def test_white_noise_has_flat_line_spectrum():
    lines = np.random.default_rng(0).normal(0, 0.5, size=(4000, 24))
    spectrum = line_spectrum(lines)
    # flat (mean removal lowers only the lowest bins), at the variance 0.5^2
    assert np.allclose(spectrum[2:], 0.25, rtol=0.05)


def test_unusable_stacks_get_one_clear_error():
    with pytest.raises(InputError, match="3-D"):
        estimate_degradation(np.zeros((8, 8)), 3.0)
    with pytest.raises(InputError, match="non-blank sections"):
        estimate_degradation(np.zeros((10, 64, 64), np.float32), 3.0)
