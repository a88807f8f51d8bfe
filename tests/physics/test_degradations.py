"""The degradation model: each artefact changes what it should and nothing else, seeds reproduce,
and the settings survive a round trip through a plain dict."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.physics.acquisition import SliceProfile, simulate_acquisition
from napari_a2i3dem.core.physics.degradations import (
    ARTEFACT_NAMES,
    Artefact,
    DegradationConfig,
    NoiseSettings,
    add_noise,
    apply_drift,
    apply_dust,
    apply_misalignment,
    apply_missing,
    apply_smear,
    apply_stripes,
    config_summary,
    make_pair,
    shift_rows,
)

POINT = SliceProfile("none")


def textured(rng, shape=(128, 128)) -> np.ndarray:
    image = ndimage.gaussian_filter(rng.random(shape), 1.5)
    return ((image - image.min()) / np.ptp(image)).astype(np.float32)


def only(name: str, strength: float, **kw) -> DegradationConfig:
    """Acquisition with point sampling plus one artefact that always fires."""
    base = DegradationConfig.clean(POINT)
    return base.with_artefact(name, enabled=True, probability=1.0, strength=(strength, strength),
                              **kw)


def gaussian_noise(sigma: float) -> NoiseSettings:
    return NoiseSettings(kind="gaussian", probability=1.0, sigma=(sigma, sigma), poisson=(0, 0))


# ------------------------------------------------------------------------------ make_pair


@pytest.mark.parametrize("ratio", (1.5, 2.5, 3.0, 10 / 3, 5.0, 10.0))
def test_default_pairs_have_the_patch_shape_for_every_ratio(ratio, rng):
    patch = textured(rng)
    degraded, clean = make_pair(patch, ratio, DegradationConfig(), rng)
    assert degraded.shape == clean.shape == patch.shape
    assert degraded.dtype == clean.dtype == np.float32
    assert np.isfinite(degraded).all()
    np.testing.assert_array_equal(clean, patch)


def test_same_seed_same_pair_other_seed_other_pair(rng):
    patch = textured(rng)
    first = make_pair(patch, 4.0, DegradationConfig(), np.random.default_rng(7))[0]
    again = make_pair(patch, 4.0, DegradationConfig(), np.random.default_rng(7))[0]
    other = make_pair(patch, 4.0, DegradationConfig(), np.random.default_rng(8))[0]
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).mean() > 1e-3


def test_clean_config_is_the_acquisition_alone(rng):
    patch = textured(rng)
    profile = SliceProfile("gaussian", 0.8)
    degraded, _ = make_pair(patch, 3.5, DegradationConfig.clean(profile), rng, axis=1)
    np.testing.assert_allclose(degraded, simulate_acquisition(patch, 3.5, 1, profile), atol=1e-6)


def test_columns_orientation_is_the_transpose_of_rows(rng):
    patch = textured(rng)
    rows, _ = make_pair(patch, 5.0, DegradationConfig(), np.random.default_rng(3), axis=0)
    cols, _ = make_pair(patch.T, 5.0, DegradationConfig(), np.random.default_rng(3), axis=1)
    np.testing.assert_allclose(cols, rows.T, atol=1e-6)


def test_switching_one_artefact_leaves_the_others_unchanged(rng):
    """Each artefact draws from its own stream: the noise realisation with and without drift is
    the same, so the difference pairs match exactly."""
    patch = textured(rng)
    base = replace(DegradationConfig.clean(POINT), noise=gaussian_noise(0.03))
    plain = DegradationConfig.clean(POINT)
    drift = only("drift", 0.05)

    def degraded(config):
        return make_pair(patch, 4.0, config, np.random.default_rng(11))[0]

    noise_alone = degraded(base) - degraded(plain)
    noise_with_drift = degraded(replace(drift, noise=base.noise)) - degraded(drift)
    np.testing.assert_allclose(noise_with_drift, noise_alone, atol=1e-5)


def test_fixed_profile_width_versus_a_drawn_one(rng):
    patch = textured(rng)
    drawn = replace(DegradationConfig.clean(SliceProfile("gaussian", 1.0)), fixed_profile=False,
                    profile_width=(0.3, 1.5))
    fixed = replace(drawn, fixed_profile=True)
    a = make_pair(patch, 6.0, fixed, np.random.default_rng(1))[0]
    b = make_pair(patch, 6.0, fixed, np.random.default_rng(2))[0]
    np.testing.assert_array_equal(a, b)
    c = make_pair(patch, 6.0, drawn, np.random.default_rng(1))[0]
    d = make_pair(patch, 6.0, drawn, np.random.default_rng(2))[0]
    assert np.abs(c - d).max() > 1e-3


def test_probability_zero_never_fires_probability_one_always(rng):
    patch = textured(rng)
    reference = make_pair(patch, 4.0, DegradationConfig.clean(POINT), rng)[0]
    never = only("stripes", 0.1).with_artefact("stripes", probability=0.0)
    for seed in range(5):
        np.testing.assert_allclose(make_pair(patch, 4.0, never, np.random.default_rng(seed))[0],
                                   reference, atol=1e-6)
        hit = make_pair(patch, 4.0, only("stripes", 0.1), np.random.default_rng(seed))[0]
        assert np.abs(hit - reference).max() > 1e-3


def test_disabled_artefact_never_fires(rng):
    patch = textured(rng)
    reference = make_pair(patch, 4.0, DegradationConfig.clean(POINT), rng)[0]
    off = only("dust", 0.5).with_artefact("dust", enabled=False)
    np.testing.assert_allclose(make_pair(patch, 4.0, off, rng)[0], reference, atol=1e-6)


def test_section_artefacts_act_on_acquired_rows_before_interpolation(rng):
    """With integer rho and point sampling, a stripe offset is constant over each acquired row
    and varies smoothly (cubic) between them: fine rows between samples carry interpolated
    offsets, not independent ones."""
    patch = textured(rng)
    ratio = 4
    reference = make_pair(patch, ratio, DegradationConfig.clean(POINT), rng)[0]
    degraded = make_pair(patch, ratio, only("stripes", 0.05), np.random.default_rng(5))[0]
    offsets = (degraded - reference).mean(axis=1)
    np.testing.assert_allclose((degraded - reference), offsets[:, None] * np.ones((1, 128)),
                               atol=1e-5)
    # adjacent fine rows are strongly correlated (one offset per acquired row, interpolated)
    assert np.corrcoef(offsets[:-1], offsets[1:])[0, 1] > 0.8


def test_noise_after_interpolation_is_smooth_along_sections_and_white_along_them(rng):
    patch = np.full((128, 128), 0.5, dtype=np.float32)
    config = replace(DegradationConfig.clean(POINT), noise=gaussian_noise(0.05))
    degraded = make_pair(patch, 5.0, config, rng)[0] - 0.5
    along_sections = np.corrcoef(degraded[:-1].ravel(), degraded[1:].ravel())[0, 1]
    along_rows = np.corrcoef(degraded[:, :-1].ravel(), degraded[:, 1:].ravel())[0, 1]
    assert along_sections > 0.8
    assert abs(along_rows) < 0.05
    np.testing.assert_allclose(degraded[::5].std(), 0.05, rtol=0.05)  # exact at sample rows


# ---------------------------------------------------------------------------- artefacts


def test_noise_strength_matches_the_request(rng):
    flat = np.full((200, 200), 0.5, dtype=np.float32)
    gaussian = add_noise(flat, gaussian_noise(0.04), rng) - flat
    assert gaussian.std() == pytest.approx(0.04, rel=0.03)
    assert abs(gaussian.mean()) < 0.002
    shot = NoiseSettings(kind="poisson_gaussian", probability=1.0, sigma=(0.0, 0.0),
                         poisson=(0.1, 0.1))
    for level in (0.2, 0.8):
        image = np.full((200, 200), level, dtype=np.float32)
        noisy = add_noise(image, shot, rng)
        assert noisy.std() == pytest.approx(0.1 * np.sqrt(level), rel=0.05)
        assert noisy.mean() == pytest.approx(level, abs=0.003)
    off = NoiseSettings(kind="none")
    np.testing.assert_array_equal(add_noise(flat, off, rng), flat)


def test_drift_changes_row_brightness_and_contrast_not_the_in_row_structure(rng):
    low = textured(rng, (40, 128))
    out = apply_drift(low, 0.1, rng)
    assert np.abs(out.mean(axis=1) - low.mean(axis=1)).max() > 0.02
    assert np.abs(out.std(axis=1) / low.std(axis=1) - 1).max() > 0.02

    def standardised(a):
        return (a - a.mean(axis=1, keepdims=True)) / a.std(axis=1, keepdims=True)

    np.testing.assert_allclose(standardised(out), standardised(low), atol=1e-3)


def test_stripes_add_one_offset_per_row_with_the_requested_spread(rng):
    low = textured(rng, (2000, 32))
    out = apply_stripes(low, 0.03, rng)
    offsets = (out - low).mean(axis=1)
    np.testing.assert_allclose(out - low, offsets[:, None] * np.ones((1, 32)), atol=1e-6)
    assert offsets.std() == pytest.approx(0.03, rel=0.06)
    assert abs(np.corrcoef(offsets[:-1], offsets[1:])[0, 1]) < 0.1  # independent per section


def test_missing_section_blanks_whole_rows_and_nothing_else(rng):
    low = textured(rng, (20, 64)) + 0.1
    for seed in range(10):
        out = apply_missing(low, 1.0, np.random.default_rng(seed))
        blank = np.flatnonzero((out == 0).all(axis=1))
        assert 1 <= len(blank) <= 2 and np.all(np.diff(blank) == 1)
        untouched = np.setdiff1d(np.arange(20), blank)
        np.testing.assert_array_equal(out[untouched], low[untouched])


def test_damaged_section_loses_a_contiguous_segment(rng):
    low = textured(rng, (20, 100)) + 0.1
    out = apply_missing(low, 0.3, np.random.default_rng(4))
    rows, cols = np.nonzero(out != low)
    for row in np.unique(rows):
        segment = cols[rows == row]
        assert len(segment) == 30 and np.all(np.diff(segment) == 1)
        assert np.all(out[row, segment] == 0)


def test_shift_rows_moves_each_row_by_its_shift(rng):
    x = np.arange(128)
    row = np.sin(2 * np.pi * x / 32.0).astype(np.float32)
    low = np.stack([row, row, row])
    out = shift_rows(low, np.array([0.0, 2.0, -1.5]))
    np.testing.assert_allclose(out[0], row, atol=1e-5)
    interior = slice(10, -10)
    np.testing.assert_allclose(out[1, interior], np.sin(2 * np.pi * (x - 2.0) / 32.0)[interior],
                               atol=2e-3)
    np.testing.assert_allclose(out[2, interior], np.sin(2 * np.pi * (x + 1.5) / 32.0)[interior],
                               atol=2e-3)


def test_misalignment_shifts_rows_and_keeps_their_content(rng):
    low = textured(rng, (30, 128))
    out = apply_misalignment(low, 1.5, rng)
    interior = slice(10, -10)
    assert np.abs(out - low)[:, interior].mean() > 0.01
    np.testing.assert_allclose(out[:, interior].mean(axis=1), low[:, interior].mean(axis=1),
                               atol=0.02)
    np.testing.assert_allclose(out[:, interior].std(axis=1), low[:, interior].std(axis=1),
                               rtol=0.15)


def test_smear_blurs_a_segment_of_a_few_rows(rng):
    low = textured(rng, (30, 128))
    low = low + 0.2 * rng.standard_normal(low.shape).astype(np.float32)  # fine detail to lose
    out = apply_smear(low, 3.0, rng)
    changed = np.flatnonzero(np.abs(out - low).max(axis=1) > 1e-6)
    assert 1 <= len(changed) <= 3
    for row in changed:
        detail_before = np.abs(np.diff(low[row])).mean()
        detail_after = np.abs(np.diff(out[row])).mean()
        assert detail_after < 0.9 * detail_before
        unchanged_cols = np.abs(out[row] - low[row]) < 1e-6
        assert unchanged_cols.any()  # only a segment of the section is smeared


def test_dust_adds_local_blobs_only(rng):
    low = textured(rng, (30, 128))
    out = apply_dust(low, 0.4, np.random.default_rng(2))
    diff = out - low
    assert np.abs(diff).max() == pytest.approx(0.4, rel=0.25)  # peak contrast ~ strength
    assert (np.abs(diff) > 0.01).mean() < 0.1  # blobs cover a small part of the rows


# ------------------------------------------------------------------------- configuration


def test_config_round_trips_through_json():
    config = DegradationConfig().with_artefact("dust", enabled=False, strength=(0.2, 0.3))
    config = replace(config, profile=SliceProfile("custom", 1.0, (0.25, 0.5, 0.25)),
                     noise=NoiseSettings(kind="gaussian", sigma=(0.0, 0.1)))
    text = json.dumps(config.to_dict())
    assert DegradationConfig.from_dict(json.loads(text)) == config
    assert DegradationConfig.from_dict(DegradationConfig.clean().to_dict()) == \
        DegradationConfig.clean()


def test_from_dict_fills_missing_keys_with_defaults():
    assert DegradationConfig.from_dict({}) == DegradationConfig()
    partial = DegradationConfig.from_dict({"artefacts": {"drift": {"enabled": False}}})
    assert not partial.artefacts["drift"].enabled
    assert partial.artefacts["dust"] == DegradationConfig().artefacts["dust"]


@pytest.mark.parametrize("settings, message", [
    ({"nois": {}}, r"unknown degradation setting\(s\) \['nois'\]"),
    ({"noise": {"sigmas": [0, 1]}}, r"unknown noise setting\(s\) \['sigmas'\]"),
    ({"artefacts": {"fog": {}}}, r"unknown artefact setting\(s\) \['fog'\]"),
    ({"artefacts": {"dust": {"strenght": [0, 1]}}}, r"unknown dust setting\(s\) \['strenght'\]"),
    ({"profile": {"kind": "box", "size": 2}}, r"unknown slice profile setting\(s\) \['size'\]"),
    ({"noise": {"kind": "speckle"}}, "noise kind must be one of"),
    ({"artefacts": {"dust": {"probability": 1.5}}}, r"probability must be in \[0, 1\]"),
    ({"artefacts": {"dust": {"strength": [0.5, 0.1]}}}, "min <= max"),
    ({"profile_width": [-1, 1]}, "min <= max"),
    ({"artefacts": {"dust": {"strength": "strong"}}}, r"\(min, max\) pair"),
])
def test_from_dict_refuses_bad_settings_with_a_clear_message(settings, message):
    with pytest.raises(InputError, match=message):
        DegradationConfig.from_dict(settings)


def test_clean_config_switches_everything_off():
    clean = DegradationConfig.clean()
    assert clean.fixed_profile
    assert clean.noise.kind == "none"
    assert not any(a.enabled for a in clean.artefacts.values())
    assert set(clean.artefacts) == set(ARTEFACT_NAMES)
    assert all(DegradationConfig().artefacts[name].enabled for name in ARTEFACT_NAMES)


def test_unknown_artefact_names_are_refused():
    with pytest.raises(InputError, match="unknown artefact"):
        DegradationConfig(artefacts={"fog": Artefact()})
    with pytest.raises(InputError, match="unknown artefact"):
        DegradationConfig().with_artefact("fog", enabled=True)


def test_make_pair_refuses_bad_input(rng):
    with pytest.raises(InputError, match="2-D patch"):
        make_pair(np.zeros((4, 16, 16)), 2.0, DegradationConfig(), rng)
    with pytest.raises(InputError, match="axis"):
        make_pair(np.zeros((16, 16)), 2.0, DegradationConfig(), rng, axis=2)
    with pytest.raises(InputError, match="ratio"):
        make_pair(np.zeros((16, 16)), 0.5, DegradationConfig(), rng)


def test_only_keeps_the_named_effects_and_summary_names_them():
    config = DegradationConfig().only("drift", "noise")
    assert [n for n, a in config.artefacts.items() if a.enabled] == ["drift"]
    assert config.noise.kind == DegradationConfig().noise.kind
    assert DegradationConfig().only("dust").noise.kind == "none"
    assert config_summary(config) == "box profile width 0.4-1.2, noise poisson_gaussian, drift"
    assert config_summary(DegradationConfig.clean()).endswith("acquisition only")
