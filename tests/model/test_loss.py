"""L1 + alpha * PDL: the projected distribution loss on a fixed feature bank."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from napari_a2i3dem.core.model import A2ILoss, FixedFeatureBank, projected_distribution_loss
from napari_a2i3dem.core.model.loss import feature_kernels, sorted_wasserstein


@pytest.fixture
def textured() -> torch.Tensor:
    """Smooth, periodic random texture in [0, 1], (2, 1, 64, 64): rolling it leaves no seam."""
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(2, 1, 64, 64, generator=g)
    smooth = F.avg_pool2d(F.pad(noise, (2, 2, 2, 2), mode="circular"), 5, stride=1)
    return (smooth - smooth.amin()) / (smooth.amax() - smooth.amin())


def pdl(a: torch.Tensor, b: torch.Tensor) -> float:
    return projected_distribution_loss(a, b, FixedFeatureBank()).item()


def test_sorted_wasserstein_matches_the_closed_form():
    a = torch.tensor([[[3.0, 1.0, 2.0]]])
    b = torch.tensor([[[10.0, 30.0, 20.0]]])
    # sorted: (1, 2, 3) vs (10, 20, 30): mean |diff| = (9 + 18 + 27) / 3
    assert sorted_wasserstein(a, b).item() == pytest.approx(18.0)
    assert sorted_wasserstein(a, a.flip(-1)).item() == 0.0


def test_pdl_is_zero_for_identical_inputs(textured):
    assert pdl(textured, textured.clone()) == 0.0


def test_pdl_is_symmetric(textured):
    other = textured**2
    assert pdl(textured, other) == pytest.approx(pdl(other, textured), rel=1e-6)
    assert pdl(textured, other) > 0


def test_pdl_cares_about_distributions_not_positions(textured):
    # A translation permutes the pixels but keeps the image's statistics ...
    moved = torch.roll(textured, shifts=(7, 11), dims=(-2, -1))
    # ... while gamma, contrast and blur shift the intensity and edge distributions.
    shifted = {
        "gamma": textured**1.5,
        "contrast": 0.5 + 0.7 * (textured - 0.5),
        "blur": F.avg_pool2d(F.pad(textured, (1, 1, 1, 1), mode="circular"), 3, stride=1),
    }
    for name, other in shifted.items():
        assert pdl(textured, moved) < 0.6 * pdl(textured, other), name
    # L1 sees the translation as a large error (it is larger than every shift's) ...
    translation_l1 = (textured - moved).abs().mean().item()
    assert all(translation_l1 > (textured - o).abs().mean().item() for o in shifted.values())
    # ... and the pixel-value term of PDL is blind to any permutation, random ones included.
    pixels = textured.flatten(1)  # (images, pixels)
    shuffled = pixels[:, torch.randperm(pixels.shape[1])]
    assert sorted_wasserstein(pixels[None], shuffled[None]).item() == 0


def test_pdl_penalises_oversmoothing_more_as_blur_grows(textured):
    light = F.avg_pool2d(F.pad(textured, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    heavy = F.avg_pool2d(F.pad(textured, (3, 3, 3, 3), mode="reflect"), 7, stride=1)
    assert 0 < pdl(textured, light) < pdl(textured, heavy)


def test_feature_bank_is_fixed_and_normalised():
    first, second = feature_kernels(seed=0), feature_kernels(seed=0)
    assert torch.equal(first, second)
    assert not torch.equal(first, feature_kernels(seed=1))
    norms = first.flatten(1).norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    sums = first.flatten(1).sum(dim=1)
    torch.testing.assert_close(sums, torch.zeros_like(sums), atol=1e-6, rtol=0)
    maps = FixedFeatureBank(scales=3)(torch.rand(1, 1, 32, 32))
    assert [m.shape[-1] for m in maps] == [32, 32, 16, 16, 8, 8]
    assert [m.shape[1] for m in maps] == [1, 15, 1, 15, 1, 15]


def test_a2i_loss_combines_l1_and_pdl(textured):
    pred = textured * 0.8 + 0.1
    loss_fn = A2ILoss(alpha=0.01, pixel="l1")
    total = loss_fn(pred, textured)
    parts = loss_fn.last_parts
    assert parts["l1"] == pytest.approx((pred - textured).abs().mean().item(), rel=1e-6)
    assert parts["pdl"] == pytest.approx(pdl(pred, textured), rel=1e-5)
    assert total.item() == pytest.approx(parts["l1"] + 0.01 * parts["pdl"], rel=1e-6)
    assert A2ILoss(alpha=0.0, pixel="l1")(pred, textured).item() == pytest.approx(parts["l1"],
                                                                                  rel=1e-6)


def test_default_pixel_term_is_rmse(textured):
    pred = textured * 0.8 + 0.1
    loss_fn = A2ILoss(alpha=0.01)
    total = loss_fn(pred, textured)
    rmse = ((pred - textured) ** 2).mean().sqrt().item()
    assert loss_fn.last_parts["pixel"] == pytest.approx(rmse, rel=1e-5)
    assert total.item() == pytest.approx(rmse + 0.01 * loss_fn.last_parts["pdl"], rel=1e-5)
    with pytest.raises(ValueError, match="pixel loss"):
        A2ILoss(pixel="l2")


@pytest.mark.parametrize(("pixel", "optimum"), [("l1", 0.0), ("rmse", 0.4)])
def test_l1_learns_the_median_rmse_the_mean(pixel, optimum):
    """A correction that is exactly 0 on sampled rows (60 %) and 1 elsewhere: L1's best constant is
    the median (0: nothing learned), RMSE's the mean (0.4) -- why RMSE is the default."""
    target = torch.zeros(1, 1, 10, 10)
    target[..., 6:, :] = 1.0
    correction = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.Adam([correction], lr=0.01)
    loss_fn = A2ILoss(alpha=0.0, pixel=pixel)
    for _ in range(400):
        optimiser.zero_grad()
        loss_fn(correction.expand_as(target), target).backward()
        optimiser.step()
    assert correction.item() == pytest.approx(optimum, abs=0.03)


def test_a2i_loss_gradient_flows_and_bad_input_is_refused(textured):
    pred = (textured * 0.5).requires_grad_()
    A2ILoss()(pred, textured).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="differ in shape"):
        A2ILoss()(textured, textured[..., :32])
    with pytest.raises(ValueError, match="alpha"):
        A2ILoss(alpha=-1)


@pytest.mark.parametrize("target_grad", [False, True])
def test_numpy_sort_gives_torch_sort_values_and_gradients(target_grad):
    """The CPU fast path (NumPy sorts) equals ``torch.sort`` in value and in gradient."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(3, 5, 257, generator=g, requires_grad=True)
    b = torch.randn(3, 5, 257, generator=g, requires_grad=target_grad)
    fast = sorted_wasserstein(a, b)
    grads_fast = torch.autograd.grad(fast, [a, b] if target_grad else [a])
    reference = (a.sort(dim=-1).values - b.sort(dim=-1).values).abs().mean(dim=-1).mean()
    grads_ref = torch.autograd.grad(reference, [a, b] if target_grad else [a])
    assert fast.item() == pytest.approx(reference.item(), rel=1e-7)
    for mine, theirs in zip(grads_fast, grads_ref, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=0)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_row_order_sorts_every_row_like_argsort(threads):
    """The packed-index sort gives, for every row, an order that sorts it exactly like
    ``np.argsort`` — with ties, signed zeros, subnormals, rows longer than 2^16, and its rows
    shared among threads; a row holding inf or NaN takes ``np.argsort`` itself."""
    from napari_a2i3dem.core.model.loss import row_order

    rng = np.random.default_rng(0)
    cases = [rng.standard_normal((37, 4096)).astype(np.float32),
             rng.integers(-3, 4, (9, 5000)).astype(np.float32),  # many ties
             rng.standard_normal((2, 70_000)).astype(np.float32)]
    special = rng.standard_normal((4, 4096)).astype(np.float32)
    special[0, :6] = [0.0, -0.0, 1e-45, -1e-45, 1e-38, -1e-38]
    cases.append(special)
    with_inf = special.copy()
    with_inf[1, 7], with_inf[2, 9] = np.inf, np.nan
    cases.append(with_inf)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for values in cases:
            order = row_order(values)
            assert order.dtype == np.int64 and order.shape == values.shape
            for row, row_idx in zip(values, order, strict=True):
                assert np.array_equal(np.sort(row_idx), np.arange(row.size))  # a permutation
            np.testing.assert_array_equal(np.take_along_axis(values, order, -1),
                                          np.sort(values, axis=-1))
    finally:
        torch.set_num_threads(previous)


def test_threaded_numpy_sort_gives_torch_sort_gradients_on_training_sized_maps():
    """On maps the size of a training batch's features (several threads share the rows) the
    PDL's value and gradient equal ``torch.sort``'s."""
    g = torch.Generator().manual_seed(4)
    a = torch.randn(8, 15, 4096, generator=g, requires_grad=True)
    b = torch.randn(8, 15, 4096, generator=g)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fast = sorted_wasserstein(a, b)
        (grad_fast,) = torch.autograd.grad(fast, [a])
    finally:
        torch.set_num_threads(previous)
    reference = (a.sort(dim=-1).values - b.sort(dim=-1).values).abs().mean(dim=-1).mean()
    (grad_ref,) = torch.autograd.grad(reference, [a])
    assert fast.item() == pytest.approx(reference.item(), rel=1e-6)
    torch.testing.assert_close(grad_fast, grad_ref, rtol=0, atol=0)
