"""A procedurally generated, EM-like anisotropic sample stack with its isotropic ground truth.

The truth is a (96, 256, 256) volume at 15 nm isotropic: neurite-like cells (a 3-D tessellation
around randomly oriented line and point seeds, with curved walls) bounded by thin dark membranes
that cross z at every angle, granular cytoplasm, mitochondria aligned with their neurite (dark
matrix, cristae, double outer membrane) and clusters of synaptic-vesicle rings. The sample stack is
that volume acquired with thick sections: box slice profile over rho = 3 planes
(:func:`.acquisition.downsample_axis`), then per-section EM noise, giving
(32, 256, 256) at (45, 15, 15) nm. Everything is deterministic from ``seed``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from .acquisition import SliceProfile, downsample_axis

#: Isotropic voxel size of the truth and the acquisition ratio of the sample.
TRUTH_SPACING_NM = 15.0
SAMPLE_RATIO = 3
TRUTH_SHAPE = (96, 256, 256)
SAMPLE_SPACING = (TRUTH_SPACING_NM * SAMPLE_RATIO, TRUTH_SPACING_NM, TRUTH_SPACING_NM)
SAMPLE_PROFILE = SliceProfile(kind="box", width=1.0)


def make_sample_truth(seed: int = 0) -> np.ndarray:
    """The isotropic uint8 (96, 256, 256) volume at 15 nm the sample stack is acquired from."""
    return _truth(int(seed)).copy()


def make_sample_stack(seed: int = 0) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The anisotropic uint8 (32, 256, 256) sample stack and its spacing (45, 15, 15) nm."""
    return _stack(int(seed)).copy(), SAMPLE_SPACING


@lru_cache(maxsize=4)
def _stack(seed: int) -> np.ndarray:
    truth = _truth(seed).astype(np.float32) / 255.0
    sections = downsample_axis(truth, SAMPLE_RATIO, axis=0, profile=SAMPLE_PROFILE)
    rng = np.random.default_rng([seed, 1])
    noisy = _em_noise(sections, rng)
    stack = np.clip(np.rint(noisy * 255.0), 0, 255).astype(np.uint8)
    stack.setflags(write=False)
    return stack


@lru_cache(maxsize=4)
def _truth(seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0])
    shape = TRUTH_SHAPE
    wall_gap, cell_tone, lines = _tessellation(shape, rng)
    membrane = np.exp(-0.5 * (wall_gap / 1.3) ** 2)
    texture = _texture(shape, rng)
    volume = cell_tone + texture
    volume *= 1.0 - 0.72 * membrane
    _add_mitochondria(volume, lines, rng)
    _add_vesicles(volume, rng)
    truth = np.clip(np.rint(volume * 255.0), 0, 255).astype(np.uint8)
    truth.setflags(write=False)
    return truth


def _coarse_grid(shape: tuple[int, int, int]) -> np.ndarray:
    """Centres of the half-resolution voxels, in full-resolution pixel units, as (3, ...) array."""
    axes = [np.arange(n // 2, dtype=np.float32) * 2.0 + 0.5 for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"))


def _random_directions(count: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(count, 3))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _tessellation(shape, rng):
    """Distance gap to the nearest wall (full res) and per-cell grey, cells around line/point seeds.

    Additively weighted distances (each seed has its own radius) give cells of varied calibre and
    curved walls; a smooth random warp of space bends them further.
    """
    grid = _coarse_grid(shape)
    extent = np.asarray(shape, dtype=np.float32)
    # smooth warp: a few long-wavelength waves displace the sampling positions
    warped = grid.copy()
    for _ in range(4):
        k = _random_directions(1, rng)[0] * rng.uniform(2 * np.pi / 160, 2 * np.pi / 70)
        phase = rng.uniform(0, 2 * np.pi)
        amplitude = _random_directions(1, rng)[0] * rng.uniform(3.0, 6.0)
        wave = np.sin(np.tensordot(k, grid, axes=1) + phase)
        warped += amplitude[:, None, None, None] * wave[None]

    n_lines, n_points = 46, 8
    anchors = rng.uniform(-0.05, 1.05, size=(n_lines + n_points, 3)).astype(np.float32) * extent
    directions = _random_directions(n_lines, rng)
    weights = rng.uniform(0.0, 10.0, size=n_lines + n_points).astype(np.float32)
    weights[n_lines:] += 8.0  # point seeds grow into larger, rounder profiles (boutons, somata)
    tones = rng.uniform(0.60, 0.80, size=n_lines + n_points).astype(np.float32)

    z, y, x = warped
    nearest = np.full(grid.shape[1:], np.inf, dtype=np.float32)
    second = np.full_like(nearest, np.inf)
    tone = np.zeros_like(nearest)
    distance, along, tmp = np.empty_like(nearest), np.empty_like(nearest), np.empty_like(nearest)
    closer = np.empty(nearest.shape, dtype=bool)
    for i in range(n_lines + n_points):
        dz, dy, dx = z - anchors[i, 0], y - anchors[i, 1], x - anchors[i, 2]
        np.multiply(dz, dz, out=distance)
        distance += np.square(dy, out=tmp)
        distance += np.square(dx, out=tmp)
        if i < n_lines:  # distance to the line: remove the component along its direction
            u = directions[i]
            np.multiply(dz, u[0], out=along)
            along += np.multiply(dy, u[1], out=tmp)
            along += np.multiply(dx, u[2], out=tmp)
            distance -= np.square(along, out=tmp)
            np.maximum(distance, 0.0, out=distance)
        np.sqrt(distance, out=distance)
        distance -= weights[i]
        np.less(distance, nearest, out=closer)
        np.minimum(second, np.maximum(nearest, distance, out=tmp), out=second)
        np.minimum(nearest, distance, out=nearest)
        np.copyto(tone, tones[i], where=closer)
    gap = np.minimum(second - nearest, 50.0)
    gap_full = _upsample2(gap)
    tone_full = tone.repeat(2, 0).repeat(2, 1).repeat(2, 2)
    lines = [(anchors[i], directions[i]) for i in range(n_lines)]
    return gap_full[: shape[0], : shape[1], : shape[2]], tone_full, lines


def _upsample2(a: np.ndarray) -> np.ndarray:
    """Linear up-sampling by 2 along every axis, voxel centres aligned (edge values repeated)."""
    for axis in range(a.ndim):
        a = np.moveaxis(a, axis, 0)
        before = np.concatenate([a[:1], a[:-1]])
        after = np.concatenate([a[1:], a[-1:]])
        out = np.empty((2 * a.shape[0], *a.shape[1:]), dtype=a.dtype)
        out[0::2] = 0.75 * a + 0.25 * before
        out[1::2] = 0.75 * a + 0.25 * after
        a = np.moveaxis(out, 0, axis)
    return np.ascontiguousarray(a)


def _binomial_smooth(a: np.ndarray) -> np.ndarray:
    """[1, 2, 1] / 4 along every axis (about a Gaussian of sigma 0.7 px), edges repeated."""
    for axis in range(a.ndim):
        a = np.moveaxis(a, axis, 0)
        out = a * 0.5
        out[1:] += 0.25 * a[:-1]
        out[:-1] += 0.25 * a[1:]
        out[0] += 0.25 * a[0]
        out[-1] += 0.25 * a[-1]
        a = np.moveaxis(out, 0, axis)
    return a


def _texture(shape, rng) -> np.ndarray:
    """Granular cytoplasm: fine grain plus blotches a few tens of nm across."""
    fine = _binomial_smooth(rng.standard_normal(shape, dtype=np.float32))
    fine *= 0.05 / max(float(fine.std()), 1e-6)
    coarse = rng.standard_normal(tuple(n // 4 for n in shape), dtype=np.float32)
    coarse = ndimage.gaussian_filter(coarse, 1.2)
    coarse = _upsample2(_upsample2(coarse))
    coarse *= 0.04 / max(float(coarse.std()), 1e-6)
    return fine + coarse


def _box(center: np.ndarray, radius, shape) -> tuple[tuple[slice, ...], np.ndarray] | None:
    """Slices of the box ``center +- radius`` (scalar or per axis) and its voxel coordinates."""
    radius = np.asarray(radius, dtype=np.float32)
    lo = np.maximum(np.floor(center - radius).astype(int), 0)
    hi = np.minimum(np.ceil(center + radius).astype(int) + 1, np.asarray(shape))
    if np.any(hi <= lo):
        return None
    slices = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    coords = np.stack(np.meshgrid(*(np.arange(a, b, dtype=np.float32) for a, b in zip(
        lo, hi, strict=True)), indexing="ij"))
    return slices, coords


def _add_mitochondria(volume: np.ndarray, lines, rng: np.random.Generator, count: int = 16):
    """Elongated dark bodies along neurites, with cristae and a dark double outer membrane."""
    shape = np.asarray(volume.shape)
    for _ in range(count):
        anchor, direction = lines[int(rng.integers(len(lines)))]
        # a point on the neurite's axis inside the volume
        t = rng.uniform(-150, 150)
        center = anchor + t * direction
        if np.any(center < 10) or np.any(center > shape - 10):
            center = rng.uniform(0.15, 0.85, size=3).astype(np.float32) * shape
        length, width = rng.uniform(18, 34), rng.uniform(6.0, 9.0)
        half_extent = np.sqrt((length * direction) ** 2 + width**2 * (1 - direction**2)) + 2.5
        found = _box(center, half_extent, volume.shape)
        if found is None:
            continue
        slices, coords = found
        rel = coords - center[:, None, None, None]
        along = np.tensordot(direction, rel, axes=1)
        across = np.sqrt(np.maximum(np.einsum("i...,i...->...", rel, rel) - along**2, 0.0))
        r = np.sqrt((along / length) ** 2 + (across / width) ** 2)
        edge = (r - 1.0) * width  # approximately the signed distance to the surface, in pixels
        inside = np.clip(0.5 - edge, 0.0, 1.0)
        cristae = 0.5 + 0.5 * np.cos(2 * np.pi * along / rng.uniform(5.0, 7.0)
                                     + 0.6 * np.sin(across))
        matrix = 0.40 + 0.10 * cristae
        outline = np.exp(-0.5 * (edge / 0.9) ** 2) + np.exp(-0.5 * ((edge + 2.2) / 0.8) ** 2)
        target = volume[slices]
        target[...] = target * (1 - inside) + matrix * inside
        target *= 1.0 - 0.45 * np.clip(outline, 0.0, 1.0)


def _add_vesicles(volume: np.ndarray, rng: np.random.Generator, clusters: int = 10,
                  per_cluster: int = 40) -> None:
    """Clusters of small vesicles: dark rings ~ 2 px thick around a lighter lumen."""
    shape = np.asarray(volume.shape, dtype=np.float32)
    for _ in range(clusters):
        hub = rng.uniform(0.1, 0.9, size=3).astype(np.float32) * shape
        spread = rng.uniform(5.0, 9.0)
        for _ in range(per_cluster):
            center = hub + rng.normal(scale=spread, size=3).astype(np.float32)
            radius = rng.uniform(1.8, 3.0)
            found = _box(center, radius + 2.5, volume.shape)
            if found is None:
                continue
            slices, coords = found
            distance = np.sqrt(((coords - center[:, None, None, None]) ** 2).sum(axis=0))
            ring = np.exp(-0.5 * ((distance - radius) / 0.7) ** 2)
            lumen = np.clip(radius - 0.8 - distance, 0.0, 1.0)
            target = volume[slices]
            target *= 1.0 - 0.6 * ring
            target += 0.05 * lumen


def _em_noise(sections: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-section detector noise: signal-dependent shot noise, read noise, brightness drift."""
    drift = 1.0 + rng.normal(scale=0.015, size=(sections.shape[0], 1, 1)).astype(np.float32)
    signal = np.clip(sections * drift, 0.0, None)
    shot = rng.standard_normal(sections.shape, dtype=np.float32) * np.sqrt(signal) * 0.035
    read = rng.standard_normal(sections.shape, dtype=np.float32) * 0.02
    return signal + shot + read
