"""Training loss: a pixel term + alpha * PDL (projected distribution loss).

The pixel term is the paper's L1 (``pixel="l1"``) or the root-mean-square error (``"rmse"``, our
default). Why RMSE: in a synthetic pair the rows that were sampled are exact, so the correction
the network must learn is exactly zero there and noise-like between them; without knowing which
rows were sampled, L1 drives the network to the *median* of that mixture, which is zero — on the
decimated FIB-SEM benchmark an L1-trained network stayed at cubic's PSNR (+0.00 dB after 300
steps) while RMSE, whose optimum is the mean, gained +0.46 dB on the same pairs, and both did the
same on thick sections (docs/model.md). RMSE has L1's scale, so ``alpha`` keeps its meaning.

PDL compares *distributions* of feature responses, not pixels: for each feature channel the values
of prediction and target are sorted and the mean absolute difference of the sorted vectors is the
1-D Wasserstein-1 distance between the two empirical distributions. It penalises a prediction
whose statistics of edges and textures differ from the target's (for example an over-smoothed
one) without asking for pixel-exact texture, which L1 already does.

No pretrained VGG can be downloaded here, so PDL uses a fixed, deterministic feature bank that
needs no weights (see :class:`FixedFeatureBank`).
"""

from __future__ import annotations

import itertools
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..choices import PIXEL_LOSSES


def _unit(kernel: torch.Tensor) -> torch.Tensor:
    """Zero-mean, unit-L2-norm kernel, so that every channel has a comparable scale."""
    kernel = kernel - kernel.mean()
    return kernel / kernel.norm().clamp_min(1e-12)


def _gabor(size: int, theta: float, wavelength: float, sigma: float) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    along = x * math.cos(theta) + y * math.sin(theta)
    envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
    return envelope * torch.cos(2 * math.pi * along / wavelength)


def feature_kernels(random_projections: int = 8, seed: int = 0) -> torch.Tensor:
    """The ``(K, 1, 5, 5)`` filter bank: derivatives, Laplacian, Gabors, random projections."""
    size = 5
    kernels = []
    d = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64)
    s = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    for k3 in (torch.outer(s, d), torch.outer(d, s),  # Sobel x, y
               torch.tensor([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=torch.float64)):
        kernels.append(F.pad(k3, (1, 1, 1, 1)))
    for i in range(4):  # Gabor, 4 orientations, period 4 px
        kernels.append(_gabor(size, math.pi * i / 4, wavelength=4.0, sigma=1.5))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(random_projections):
        kernels.append(torch.randn(size, size, generator=generator, dtype=torch.float64))
    bank = torch.stack([_unit(k) for k in kernels]).unsqueeze(1)
    return bank.float()


class FixedFeatureBank(nn.Module):
    """Weight-free features at several scales: the image plus fixed 5x5 filters of it.

    At each scale (1, 1/2, 1/4 by average pooling) the features are the (pooled) image itself and
    its responses to Sobel x/y, a Laplacian, four Gabor filters and ``random_projections`` fixed
    random zero-mean filters (a fixed random-projection network). Reflect padding keeps every
    pixel in the statistics (valid convolution would drop 44 % of a 16 x 16 map at the coarsest
    scale of a 64 x 64 patch). Output: a list of ``(B, channels, H_s, W_s)`` maps.
    """

    def __init__(self, scales: int = 3, random_projections: int = 8, seed: int = 0) -> None:
        super().__init__()
        self.scales = scales
        self.register_buffer("kernels", feature_kernels(random_projections, seed), persistent=False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        x = image.float()
        n_in = x.shape[1]
        weights = self.kernels.repeat(n_in, 1, 1, 1)
        for scale in range(self.scales):
            if scale:
                if min(x.shape[-2:]) < 2 * self.kernels.shape[-1]:
                    break  # too small to pool again
                x = F.avg_pool2d(x, 2)
            maps.append(x)
            half = self.kernels.shape[-1] // 2
            if min(x.shape[-2:]) > half:
                padded = F.pad(x, (half, half, half, half), mode="reflect")
                maps.append(F.conv2d(padded, weights, groups=n_in))
        return maps


#: rows longer than this cannot carry their index in the spare mantissa bits (see below)
_MAX_INDEX_BITS = 28
#: the sorts are shared among at most this many threads (the torch threads idle meanwhile)
_MAX_SORT_THREADS = 4
_sort_pool: ThreadPoolExecutor | None = None
_sort_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _sort_pool
    with _sort_pool_lock:
        if _sort_pool is None:
            _sort_pool = ThreadPoolExecutor(max_workers=_MAX_SORT_THREADS - 1,
                                            thread_name_prefix="a2i3dem-sort")
        return _sort_pool


def _order_rows(values: np.ndarray, out: np.ndarray) -> None:
    """Write into ``out`` the order that sorts each row of finite float32 ``values``.

    A float32 widened to float64 has 29 zero low mantissa bits; the column index is written
    into them, the float64 rows are sorted (NumPy's vectorised sort: 3.4 against 4.5 ms for
    ``argsort`` of 120 rows of 4 096) and the indices are read back. The index sits below the
    float32 value's bits, so two keys of different values compare as the values do.
    """
    n = values.shape[-1]
    keys = values.astype(np.float64)
    bits = keys.view(np.uint64)
    bits |= np.arange(n, dtype=np.uint64)
    keys.sort(axis=-1)
    mask = np.uint64((1 << max(1, (n - 1).bit_length())) - 1)
    np.bitwise_and(bits, mask, out=out, casting="unsafe")


def row_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, axis=-1)`` for 2-D float32 rows (the order among equal values may
    differ), computed by :func:`_order_rows` with the rows shared among as many threads as
    torch uses, up to four (NumPy releases the GIL; the torch threads idle during the loss's
    sorts)."""
    n = values.shape[-1]
    if (n == 0 or (n - 1).bit_length() > _MAX_INDEX_BITS
            or not np.isfinite(values).all()):  # inf / NaN would lose their index bits
        return np.argsort(values, axis=-1)
    out = np.empty(values.shape, dtype=np.int64)
    parts = min(torch.get_num_threads(), _MAX_SORT_THREADS, values.shape[0])
    if parts < 2 or values.size < 1 << 14:
        _order_rows(values, out)
        return out
    bounds = np.linspace(0, values.shape[0], parts + 1).astype(int)
    helpers = [_pool().submit(_order_rows, values[lo:hi], out[lo:hi])
               for lo, hi in itertools.pairwise(bounds[1:])]
    _order_rows(values[:bounds[1]], out[:bounds[1]])
    for helper in helpers:
        helper.result()
    return out


def sorted_rows(x: torch.Tensor) -> torch.Tensor:
    """``x`` sorted along its last axis, differentiable like ``x.sort(dim=-1).values``.

    On the CPU NumPy sorts float32 rows about 10x faster than ``torch.sort`` (its vectorised
    AVX-512 / AVX2 sorts), and a PDL step sorts six feature maps of the prediction and six of
    the target: with ``torch.sort`` the sorts were a fifth of a CPU training step. The
    prediction's maps need the sorting order (for the gradient): :func:`row_order`. Elsewhere
    (GPU, other dtypes) it is ``torch.sort``. The sorted values are the same whichever sort
    ran; only the order among equal values can differ.
    """
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return x.sort(dim=-1).values
    values = x.detach().contiguous().numpy()
    if not x.requires_grad:
        return torch.from_numpy(np.sort(values, axis=-1))
    rows = values.reshape(-1, values.shape[-1])
    order = torch.from_numpy(row_order(rows).reshape(values.shape))
    return x.gather(-1, order)


def sorted_wasserstein(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean over (batch, channel) of the 1-D W1 distance between the spatial value sets."""
    a_sorted = sorted_rows(a.flatten(2))
    b_sorted = sorted_rows(b.flatten(2))
    return (a_sorted - b_sorted).abs().mean(dim=-1).mean()


def projected_distribution_loss(pred: torch.Tensor, target: torch.Tensor,
                                features: FixedFeatureBank) -> torch.Tensor:
    """PDL: mean over all feature channels of the sorted 1-D Wasserstein distance."""
    total, count = pred.new_zeros((), dtype=torch.float32), 0
    for fp, ft in zip(features(pred), features(target), strict=True):
        total = total + sorted_wasserstein(fp, ft) * fp.shape[1]
        count += fp.shape[1]
    return total / count


class A2ILoss(nn.Module):
    """``pixel(pred, target) + alpha * PDL(pred, target)`` with ``pixel`` RMSE or L1;
    ``.last_parts`` holds the last terms (``l1`` is always reported, for comparison)."""

    def __init__(self, alpha: float = 0.01, *, pixel: str = "rmse", scales: int = 3,
                 random_projections: int = 8, seed: int = 0) -> None:
        super().__init__()
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha}")
        if pixel not in PIXEL_LOSSES:
            raise ValueError(f"pixel loss must be one of {', '.join(PIXEL_LOSSES)}, got {pixel!r}")
        self.alpha = float(alpha)
        self.pixel = pixel
        self.features = FixedFeatureBank(scales, random_projections, seed)
        self.last_parts: dict[str, float] = {}

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape"
            )
        pred, target = pred.float(), target.float()
        l1 = F.l1_loss(pred, target)
        pixel = l1 if self.pixel == "l1" else torch.sqrt(F.mse_loss(pred, target) + 1e-12)
        if self.alpha > 0:
            pdl = projected_distribution_loss(pred, target, self.features)
            total = pixel + self.alpha * pdl
        else:
            pdl = l1.new_zeros(())
            total = pixel
        self.last_parts = {
            "pixel": float(pixel.detach()), "l1": float(l1.detach()), "pdl": float(pdl.detach()),
            "total": float(total.detach()),
        }
        return total
