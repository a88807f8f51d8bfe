"""The reconstruction engine: geometry, plumbing, tiling, streaming, laziness, stores."""

from __future__ import annotations

import json
import threading

import dask.array as da
import numpy as np
import pytest
import torch
from _recon_models import IdentityNet, OffsetNet, small_conv_net

from napari_a2i3dem.core.errors import Cancelled, InputError
from napari_a2i3dem.core.inference.reconstruction import (
    XZ_ROWS_PER_PIECE,
    cubic_upsample_stack,
    isotropic_spacing,
    output_shape,
    reconstruct,
    reconstruct_volume,
    row_bands,
    z_bands,
)
from napari_a2i3dem.core.inference.tiling import axis_tiles, tile_starts
from napari_a2i3dem.core.io.outputs import open_target, read_zarr_stack
from napari_a2i3dem.core.normalization import IntensityScale
from napari_a2i3dem.core.physics.acquisition import upsample_axis


@pytest.fixture
def float_stack(rng) -> np.ndarray:
    return rng.random((9, 70, 52)).astype(np.float32)


@pytest.mark.parametrize(("ratio", "depth"), [(3.0, 27), (2.5, 22), (1.7, 15)])
def test_output_shape_and_spacing(float_stack, ratio, depth):
    assert output_shape(float_stack.shape, ratio) == (depth, 70, 52)
    volume, conf = reconstruct_volume(float_stack, IdentityNet(), ratio, tile=32, overlap=8)
    assert volume.shape == (depth, 70, 52)
    assert conf.shape == volume.shape
    assert isotropic_spacing((45.0, 15.0, 15.0)) == (15.0, 15.0, 15.0)


@pytest.mark.parametrize("ratio", [3.0, 2.5])
@pytest.mark.parametrize(("tile", "overlap"), [(256, 32), (16, 4), (24, 8)])
def test_identity_model_gives_the_cubic_volume(float_stack, ratio, tile, overlap):
    volume, conf = reconstruct_volume(float_stack, IdentityNet(), ratio, tile=tile,
                                      overlap=overlap, batch=5)
    cubic = upsample_axis(float_stack, ratio, axis=0)
    np.testing.assert_allclose(volume, cubic, atol=2e-6)
    np.testing.assert_allclose(cubic_upsample_stack(float_stack, ratio), cubic)
    assert conf.max() < 1e-5


def test_identity_on_uint8_matches_cubic_and_keeps_dtype(rng):
    stack = rng.integers(0, 256, size=(8, 48, 40), dtype=np.uint8)
    volume, _ = reconstruct_volume(stack, IdentityNet(), 3, tile=16, overlap=4)
    cubic = cubic_upsample_stack(stack, 3)
    assert volume.dtype == np.uint8 and cubic.dtype == np.uint8
    differ = volume != cubic
    assert differ.mean() < 1e-3  # only float rounding at exact .5 boundaries may flip
    assert np.abs(volume.astype(int) - cubic.astype(int)).max() <= 1


def test_integer_output_is_clipped_to_the_dtype_range(rng):
    stack = rng.integers(0, 256, size=(6, 32, 32), dtype=np.uint8)
    brighter, _ = reconstruct_volume(stack, OffsetNet(0.5), 2, tile=32, overlap=8)
    assert brighter.dtype == np.uint8 and brighter.max() == 255
    cubic = cubic_upsample_stack(stack, 2).astype(int)
    assert (brighter.astype(int) >= cubic).all()
    floats, _ = reconstruct_volume(stack.astype(np.float32), OffsetNet(0.5), 2, tile=32, overlap=8)
    assert floats.dtype == np.float32 and floats.max() > 255


def test_constant_prediction_shows_no_seams(float_stack):
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.full_like(x, 0.25)

    volume, conf = reconstruct_volume(float_stack, Constant(), 2.0, tile=16, overlap=6,
                                      scale=IntensityScale(0.0, 1.0))
    np.testing.assert_allclose(volume, 0.25, atol=1e-6)
    assert conf.max() < 1e-6


def test_tiling_matches_whole_planes_for_a_conv_net(float_stack):
    net = small_conv_net()
    whole, _ = reconstruct_volume(float_stack, net, 3.0, tile=256, overlap=32)
    tiled, _ = reconstruct_volume(float_stack, net, 3.0, tile=24, overlap=10)
    assert len(axis_tiles(27, 24, 10)) == 2 and len(axis_tiles(70, 24, 10)) == 5
    spread = float(whole.max() - whole.min())
    # the blend drops each tile's outer overlap // 4 = 2 pixels, the conv net's padding reach
    assert np.abs(tiled - whole).max() < 1e-4 * spread
    assert np.abs(whole - upsample_axis(float_stack, 3.0, 0)).mean() > 0.05 * spread


class _PaddingConvNet(torch.nn.Module):
    """``small_conv_net`` that pads its planes to a multiple of 8 (like the presets) and
    records the tile shapes it is given."""

    class config:
        size_multiple = 8

    def __init__(self) -> None:
        super().__init__()
        self.net, self.shapes = small_conv_net(), []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape[-2:]))
        h, w = x.shape[-2:]
        padded = torch.nn.functional.pad(x, (0, -w % 8, 0, -h % 8), mode="replicate")
        return self.net(padded)[..., :h, :w]


def test_tiles_are_balanced_to_the_networks_size_multiple(float_stack):
    # output 27 x 70 x 52 at tile 40, overlap 8: z in one tile, y in 2 and x in 2 tiles; tiles of
    # 40 would compute 80 of 70 rows and 80 of 52 columns, balanced ones 40 (39 -> 40) and 32
    net = _PaddingConvNet()
    tiled, _ = reconstruct_volume(float_stack, net, 3.0, tile=40, overlap=8)
    assert set(net.shapes) == {(27, 32), (27, 40)}
    whole, _ = reconstruct_volume(float_stack, net, 3.0, tile=256, overlap=32)
    inside = (slice(2, -2),) * 3  # the plane's own edges are padded differently in one piece
    assert np.abs(tiled - whole)[inside].max() < 1e-4 * float(whole.max() - whole.min())


def test_fusion_mean_is_the_average_of_the_two_passes(float_stack):
    net = small_conv_net(1)
    kwargs = {"tile": 32, "overlap": 8}
    mean, conf = reconstruct_volume(float_stack, net, 2.0, **kwargs)
    xz, xz_conf = reconstruct_volume(float_stack, net, 2.0, fusion="xz", **kwargs)
    yz, _ = reconstruct_volume(float_stack, net, 2.0, fusion="yz", **kwargs)
    assert xz_conf is None
    np.testing.assert_allclose(mean, 0.5 * (xz + yz), atol=1e-5)
    np.testing.assert_allclose(conf, np.abs(xz - yz), atol=1e-5)
    assert conf.max() > 1e-3


def test_pieces_stream_in_order_and_cover_every_row_once(float_stack):
    seen = []
    fractions = []
    for piece in reconstruct(float_stack, IdentityNet(), 2.0, tile=24, overlap=6):
        seen.extend(range(piece.rows.start, piece.rows.stop))
        fractions.append(piece.progress.fraction)
        assert piece.data.shape == (18, piece.rows.stop - piece.rows.start, 52)
        # a few rows at a time (the xz pass's copies stay small), never across tile-rows
        assert piece.rows.stop - piece.rows.start <= XZ_ROWS_PER_PIECE
    assert seen == list(range(70))
    assert len(fractions) >= len(tile_starts(70, 24, 6)) > 1
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


def test_bands_reproduce_the_full_run(float_stack):
    net = small_conv_net(2)
    full, _ = reconstruct_volume(float_stack, net, 2.5, tile=20, overlap=6)
    bands = row_bands(70, 20, 6, 3)
    assert bands[0][0] == 0 and bands[-1][1] == 70 and len(bands) == 3
    stitched = np.zeros_like(full)
    for band in bands:
        for piece in reconstruct(float_stack, net, 2.5, tile=20, overlap=6, rows=band):
            assert band[0] <= piece.rows.start < piece.rows.stop <= band[1]
            stitched[:, piece.rows] = piece.data
    np.testing.assert_allclose(stitched, full, atol=1e-5)


def _counting_dask(stack: np.ndarray, chunks, reads: list):
    def load(block_info=None):
        loc = block_info[None]["array-location"]
        reads.append(tuple(loc))
        return stack[tuple(slice(a, b) for a, b in loc)]

    return da.map_blocks(load, chunks=chunks, dtype=stack.dtype, meta=np.empty((0, 0, 0)))


def test_lazy_input_is_read_slab_by_slab(rng):
    stack = rng.integers(0, 256, size=(6, 128, 40), dtype=np.uint8)
    reads: list = []
    lazy = _counting_dask(stack, ((6,), (16,) * 8, (40,)), reads)
    scale = IntensityScale.from_stack(stack)
    pieces = reconstruct(lazy, IdentityNet(), 2.0, tile=32, overlap=8, scale=scale)
    first = next(pieces)
    assert first.rows == slice(0, XZ_ROWS_PER_PIECE)  # the first rows of the first slab (0:24)
    assert 0 < len(reads) <= 2  # only the chunks of the first 32-row slab
    rest = list(pieces)
    assert rest[-1].rows.stop == 128
    assert len(set(reads)) == 8 and len(reads) <= 2 * 8  # overlaps re-read, never all at once
    eager, _ = reconstruct_volume(stack, IdentityNet(), 2.0, tile=32, overlap=8, scale=scale)
    np.testing.assert_array_equal(np.concatenate([first.data] + [p.data for p in rest], 1), eager)


def test_cubic_upsample_of_dask_is_lazy_and_equal(rng):
    stack = rng.integers(0, 60000, size=(7, 64, 48), dtype=np.uint16)
    reads: list = []
    lazy = _counting_dask(stack, ((7,), (32, 32), (24, 24)), reads)
    cubic = cubic_upsample_stack(lazy, 2.5)
    assert reads == [] and cubic.shape == (18, 64, 48) and cubic.chunks[0] == (18,)
    corner = cubic[:, :32, :24].compute()
    assert len(reads) == 1
    np.testing.assert_array_equal(corner, cubic_upsample_stack(stack, 2.5)[:, :32, :24])


def test_cancel_stops_within_a_batch(float_stack):
    stop = threading.Event()
    seen = []

    def on_progress(progress):
        seen.append(progress)
        stop.set()

    with pytest.raises(Cancelled):
        list(reconstruct(float_stack, IdentityNet(), 2.0, tile=16, overlap=4, batch=4,
                         cancel=stop, on_progress=on_progress))
    assert len(seen) == 1 and 0 < seen[0].fraction < 0.1
    assert seen[0].planes_per_s > 0 and seen[0].eta_s > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"ratio": 0.5}, "at least 1"), ({"fusion": "median"}, "fusion"),
     ({"tile": 4}, "tile size"), ({"overlap": 20, "tile": 32}, "overlap"),
     ({"batch": 0}, "batch")],
)
def test_bad_settings_are_named(float_stack, kwargs, message):
    kwargs = {"ratio": 2.0, **kwargs}
    ratio = kwargs.pop("ratio")
    with pytest.raises(InputError, match=message):
        list(reconstruct(float_stack, IdentityNet(), ratio, **kwargs))


def test_bad_inputs_are_named(float_stack):
    with pytest.raises(InputError, match="2-D"):
        list(reconstruct(float_stack[0], IdentityNet(), 2.0))

    class Shrinks(torch.nn.Module):
        def forward(self, x):
            return x[..., :-1, :]

    with pytest.raises(InputError, match="it must give"):
        list(reconstruct(float_stack, Shrinks(), 2.0))
    with pytest.raises(InputError, match="torch module"):
        list(reconstruct(float_stack, object(), 2.0))


def test_zarr_target_is_atomic_ome_zarr(tmp_path, rng):
    dest = tmp_path / "iso.zarr"
    target = open_target(dest, (12, 20, 16), np.uint8, (15.0, 15.0, 15.0))
    target.write(slice(0, 20), rng.integers(0, 255, (12, 20, 16), dtype=np.uint8))
    assert not dest.exists()
    result = target.commit()
    assert dest.is_dir() and [p.name for p in tmp_path.iterdir()] == ["iso.zarr"]
    meta = json.loads((dest / "zarr.json").read_text())
    scale = meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]
    assert scale["coordinateTransformations"][0]["scale"] == [15.0, 15.0, 15.0]
    lazy, spacing = read_zarr_stack(dest)
    assert spacing == (15.0, 15.0, 15.0)
    np.testing.assert_array_equal(lazy.compute(), result[:])


def test_targets_refuse_the_input_and_unknown_suffixes(tmp_path):
    src = tmp_path / "stack.tif"
    src.write_bytes(b"original")
    with pytest.raises(InputError, match="input stack"):
        open_target(src, (4, 8, 8), np.uint8, (1, 1, 1), protect=(src,))
    with pytest.raises(InputError, match=r"\.tif"):
        open_target(tmp_path / "out.png", (4, 8, 8), np.uint8, (1, 1, 1))
    assert src.read_bytes() == b"original"
    discarded = open_target(tmp_path / "gone.zarr", (4, 8, 8), np.uint8, (1, 1, 1))
    discarded.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]


def test_eta_is_measured_after_the_first_batch():
    """Set-up and the first batch's warm-up (4 s here) must not inflate the time left: after
    it, 10 % more took 1 s, so 80 % more takes 8 s (the whole-run average would say 20 s)."""
    from napari_a2i3dem.core.inference.reconstruction import Progress

    progress = Progress(fraction=0.2, planes_done=20, planes_total=100, elapsed_s=5.0,
                        warm_s=4.0, warm_fraction=0.1)
    assert progress.eta_s == pytest.approx(8.0)
    assert progress.planes_per_s == pytest.approx(10.0)
    before_warm = Progress(fraction=0.2, planes_done=20, planes_total=100, elapsed_s=5.0)
    assert before_warm.eta_s == pytest.approx(20.0)  # no warm-up mark yet: the plain average
    assert Progress(0.0, 0, 100, 1.0).eta_s == float("inf")


@pytest.mark.parametrize("fusion", ["mean", "xz", "yz"])
def test_z_bands_reproduce_one_band(rng, fusion):
    """Bands of a few z tiles carry their overlap into the next band: same volume, every
    voxel written once, no piece deeper than a band."""
    stack = rng.random((20, 40, 36)).astype(np.float32)
    net = small_conv_net(3)
    kwargs = {"tile": 16, "overlap": 6, "fusion": fusion}
    whole, whole_conf = reconstruct_volume(stack, net, 2.5, **kwargs)
    bands = z_bands(50, 16, 6, planes=20)
    assert len(bands) >= 3 and sum(len(b.tiles) for b in bands) == len(axis_tiles(50, 16, 6))
    covered = np.zeros(whole.shape, np.int32)
    banded = np.zeros_like(whole)
    conf = np.zeros_like(whole)
    for piece in reconstruct(stack, net, 2.5, band_planes=20, **kwargs):
        assert piece.planes.stop - piece.planes.start <= 20
        covered[piece.planes, piece.rows] += 1
        banded[piece.planes, piece.rows] = piece.data
        if piece.confidence is not None:
            conf[piece.planes, piece.rows] = piece.confidence
    assert (covered == 1).all()
    np.testing.assert_allclose(banded, whole, atol=1e-5)
    if whole_conf is not None:
        np.testing.assert_allclose(conf, whole_conf, atol=1e-5)


def test_z_bands_read_only_the_input_planes_they_need(rng):
    stack = rng.random((120, 24, 20)).astype(np.float32)
    asked = []

    def read_block(z0, z1, a, b):
        asked.append((z0, z1))
        return stack[z0:z1, a:b]

    volume = np.zeros(output_shape(stack.shape, 4.0), np.float32)
    for piece in reconstruct(stack, IdentityNet(), 4.0, tile=16, overlap=4, band_planes=32,
                             read_block=read_block, confidence=False):
        volume[piece.planes, piece.rows] = piece.data
    # a band of <= 32 planes spans 8 input planes; the spline's prefilter reaches ~21 planes
    # further each way before its weights drop below 1e-12
    assert max(z1 - z0 for z0, z1 in asked) <= 8 + 2 * 24
    np.testing.assert_allclose(volume, upsample_axis(stack, 4.0, axis=0), atol=2e-6)


def test_provisional_pieces_across_z_bands_match_the_final_ones(rng):
    stack = rng.random((12, 20, 18)).astype(np.float32)
    net = small_conv_net(4)
    early = np.full(output_shape(stack.shape, 3.0), np.nan, np.float32)
    final = np.zeros_like(early)
    for piece in reconstruct(stack, net, 3.0, tile=16, overlap=4, band_planes=16,
                             fusion="yz", provisional=True):
        target = final if piece.final else early
        target[piece.planes, piece.rows, piece.cols] = piece.data
    assert not np.isnan(early).any()
    np.testing.assert_allclose(early, final, atol=1e-5)  # yz alone: the early look is final
