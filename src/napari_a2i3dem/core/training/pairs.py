"""Patches from a stack's lateral (xy) planes and the torch Dataset of pairs made from them.

Item ``i`` of :class:`PatchPairDataset` is a pure function of ``(seed, i)``: a random generator
seeded with ``[seed, i]`` picks the plane, the position, one of the 8 flips/rotations and the
section axis (rows or columns), then :func:`~.degradations.make_pair` degrades the patch. A trainer
can therefore resume at any index and get exactly the pairs it would have seen.

Workers and memory: the dataset keeps a reference to the stack, not a copy, and reads one patch per
item. With a NumPy array (or a memory-mapped file) DataLoader workers started by ``fork`` (the
Linux default) share the parent's pages copy-on-write, so nothing is copied; with ``spawn`` (macOS,
Windows) the array is pickled into each worker, so prefer a dask or memory-mapped stack there. A
dask array pickles as its (small) task graph and every worker reads only the chunks its patches
touch, with dask's synchronous scheduler so no thread pools are started inside workers. Forked
workers share the open file of a lazy TIFF (and its file offset), so lazy reads hold a lock that
the workers inherit from the dataset.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from ..io.lazy import is_dask
from ..normalization import IntensityScale
from ..physics.acquisition import section_map
from ..physics.degradations import DegradationConfig, make_pair
from ..validation import validate_ratio

MIN_PATCH, MAX_PATCH = 16, 1024


def read_region(stack, z: int, y0: int, x0: int, size: int, lock=None) -> np.ndarray:
    """``stack[z, y0:y0+size, x0:x0+size]`` as float32 NumPy, for NumPy or dask stacks; a lazy
    read holds ``lock`` (if given) while it touches the file."""
    region = stack[z, y0:y0 + size, x0:x0 + size]
    if hasattr(region, "compute"):
        with lock if lock is not None else contextlib.nullcontext():
            region = region.compute(scheduler="synchronous")
    return np.asarray(region, dtype=np.float32)


def _bare_lazy_source(stack):
    """The file of a lazy stack exactly as :func:`~.io.read_stack` returned it (not sliced or
    computed from), else ``None``."""
    from ..io.tiff_writer import source_of

    layers = getattr(stack.__dask_graph__(), "layers", {})
    bare = all(name in (stack.name, f"original-{stack.name}") for name in layers)
    return source_of(stack) if bare else None


def is_flat(patch: np.ndarray, *, min_std: float, max_constant_fraction: float = 0.5) -> bool:
    """True for patches that carry no structure: std below ``min_std`` (same units as the patch)
    or more than ``max_constant_fraction`` of the pixels stuck at the minimum or maximum value
    (padding, blank or saturated regions)."""
    if float(patch.std()) < min_std:
        return True
    size = patch.size
    at_min = np.count_nonzero(patch == patch.min()) / size
    at_max = np.count_nonzero(patch == patch.max()) / size
    return max(at_min, at_max) > max_constant_fraction


def dihedral(patch: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/rotations of a square patch (``k`` in 0..7)."""
    out = np.rot90(patch, k % 4)
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


@dataclass(frozen=True)
class PatchLocation:
    """Where a patch came from: plane ``z``, top-left corner ``(y, x)``, its size."""

    z: int
    y: int
    x: int
    size: int


class PatchSampler:
    """Random non-flat M x M patches from the xy planes of a (z, y, x) NumPy or dask stack."""

    def __init__(self, stack, patch_size: int = 128, *, scale: IntensityScale | None = None,
                 min_std: float = 0.02, max_attempts: int = 100) -> None:
        shape = tuple(getattr(stack, "shape", ()))
        if len(shape) != 3:
            raise InputError(f"patches need a 3-D (z, y, x) stack, got shape {shape}")
        patch_size = int(patch_size)
        if not MIN_PATCH <= patch_size <= MAX_PATCH:
            raise InputError(
                f"patch size must be between {MIN_PATCH} and {MAX_PATCH}, got {patch_size}"
            )
        if patch_size > min(shape[1], shape[2]):
            raise InputError(
                f"patch size {patch_size} is larger than the xy planes ({shape[1]} x {shape[2]}); "
                f"choose a patch size of at most {min(shape[1], shape[2])}"
            )
        self.stack = stack
        # Forked DataLoader workers inherit the open file of a lazy (tifffile/zarr) stack and would
        # share its file offset: concurrent seek+read pairs then return wrong pixels. One lock,
        # created here and inherited by the workers, serialises the (short) reads.
        self._read_lock = multiprocessing.get_context().Lock() if is_dask(stack) else None
        self.patch_size = patch_size
        self.scale = scale or IntensityScale.from_stack(stack)
        self.min_std = float(min_std)
        self.max_attempts = int(max_attempts)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.stack.shape)  # type: ignore[return-value]

    def __getstate__(self) -> dict:
        """Pickling for ``spawn`` workers: a lazy TIFF stack holds an open file, which cannot be
        pickled; it travels as its path and each worker opens the file itself (and needs no
        read lock)."""
        state = self.__dict__.copy()
        # only forked processes share a file; a pickled copy reads through its own
        state["_read_lock"] = None
        if is_dask(self.stack):
            try:
                pickle.dumps(self.stack)
            except Exception as exc:
                path = _bare_lazy_source(self.stack)
                if path is None:
                    raise InputError(
                        "this lazy stack cannot be sent to worker processes started with "
                        "'spawn'; use num_workers=0, the 'fork' start method, or a NumPy stack"
                    ) from exc
                state["stack"] = None
                state["_reopen"] = (str(path), tuple(self.stack.shape))
        return state

    def __setstate__(self, state: dict) -> None:
        reopen = state.pop("_reopen", None)
        self.__dict__.update(state)
        if reopen is not None:
            from ..io.tiff import read_stack

            path, shape = reopen
            self.stack = read_stack(path, lazy=True).data
            if tuple(self.stack.shape) != tuple(shape):
                raise InputError(f"{path} changed on disk while training pairs were being made")

    def locate(self, rng: np.random.Generator) -> PatchLocation:
        """A random patch position (not checked for flatness)."""
        nz, ny, nx = self.shape
        m = self.patch_size
        return PatchLocation(int(rng.integers(nz)), int(rng.integers(ny - m + 1)),
                             int(rng.integers(nx - m + 1)), m)

    def read(self, loc: PatchLocation) -> np.ndarray:
        """The patch at ``loc`` in network units (float32)."""
        return self.scale.normalize(
            read_region(self.stack, loc.z, loc.y, loc.x, loc.size, self._read_lock))

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, PatchLocation]:
        """A non-flat patch (network units) and where it came from; raises after
        ``max_attempts`` flat draws (an empty or blank stack)."""
        for _ in range(self.max_attempts):
            loc = self.locate(rng)
            patch = self.read(loc)
            if not is_flat(patch, min_std=self.min_std):
                return patch, loc
        raise InputError(
            f"found no patch with structure in {self.max_attempts} tries: the stack looks blank or "
            f"flat (patch std below {self.min_std} of the intensity range)"
        )


class PatchPairDataset(Dataset):
    """Map-style dataset of synthetic pairs ``(input, target)``: float32 tensors (1, M, M), network
    units. Item ``i`` depends only on ``(seed, i)``.

    ``axes``: section axes to draw from (0 = rows, 1 = columns) so the network serves xz and yz
    planes alike; ``augment``: random flips/rotations of the clean patch (applied *before* the
    acquisition so the sample grid stays at fine coordinates ``0, rho, 2 rho, ...`` like on real
    planes). ``section_channel``: inputs carry a second channel, the section map of their section
    axis (:func:`~.acquisition.section_map`), for networks built with ``section_input``.
    """

    def __init__(self, stack, ratio: float, config: DegradationConfig | None = None, *,
                 patch_size: int = 128, scale: IntensityScale | None = None, seed: int = 0,
                 length: int = 10_000, axes: tuple[int, ...] = (0, 1), augment: bool = True,
                 min_std: float = 0.02, section_channel: bool = False) -> None:
        self.ratio = validate_ratio(ratio)
        self.config = config or DegradationConfig()
        self.sampler = PatchSampler(stack, patch_size, scale=scale, min_std=min_std)
        self.seed = int(seed)
        if int(length) < 1:
            raise InputError(f"dataset length must be positive, got {length}")
        self.length = int(length)
        if not axes or any(a not in (0, 1) for a in axes):
            raise InputError(f"axes must be a non-empty subset of (0, 1), got {axes}")
        self.axes = tuple(axes)
        self.augment = bool(augment)
        self.section_channel = bool(section_channel)

    @property
    def scale(self) -> IntensityScale:
        return self.sampler.scale

    @property
    def patch_size(self) -> int:
        return self.sampler.patch_size

    def __len__(self) -> int:
        return self.length

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray, PatchLocation]:
        """NumPy ``(input, target, location)`` of item ``index`` (the input without its
        section map)."""
        degraded, clean, loc, _ = self._draw(index)
        return degraded, clean, loc

    def _draw(self, index: int) -> tuple[np.ndarray, np.ndarray, PatchLocation, int]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} pairs")
        rng = np.random.default_rng([self.seed, int(index)])
        patch, loc = self.sampler.sample(rng)
        if self.augment:
            patch = dihedral(patch, int(rng.integers(8)))
        axis = self.axes[int(rng.integers(len(self.axes)))]
        degraded, clean = make_pair(patch, self.ratio, self.config, rng, axis=axis)
        return degraded, clean, loc, axis

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        degraded, clean, _, axis = self._draw(int(index))
        channels = [degraded]
        if self.section_channel:
            channels.append(section_map(degraded.shape, self.ratio, axis))
        return torch.from_numpy(np.stack(channels)), torch.from_numpy(clean[None])


def make_validation_pairs(stack, ratio: float, config: DegradationConfig | None = None, *,
                          patch_size: int = 128, count: int = 16,
                          scale: IntensityScale | None = None, seed: int = 1,
                          section_channel: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed set of ``count`` pairs as tensors: inputs ``(N, 1 or 2, M, M)`` (with
    ``section_channel``, the section map second), targets ``(N, 1, M, M)``."""
    dataset = PatchPairDataset(stack, ratio, config, patch_size=patch_size, scale=scale,
                               seed=seed, length=max(1, int(count)),
                               section_channel=section_channel)
    items = [dataset[i] for i in range(int(count))]
    if not items:
        raise InputError("validation needs at least one pair")
    return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])

