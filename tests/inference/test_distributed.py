"""The reconstruction under dask.distributed equals the in-process one."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from _recon_models import small_conv_net

from napari_a2i3dem.core.errors import InputError
from napari_a2i3dem.core.inference.distributed import (
    dask_client,
    model_from_payload,
    model_payload,
    reconstruct_distributed,
)
from napari_a2i3dem.core.inference.reconstruction import reconstruct_volume
from napari_a2i3dem.core.model import A2I3DEMNet, preset


def _collect(pieces, shape, dtype):
    volume = np.zeros(shape, dtype=dtype)
    confidence = np.zeros(shape, dtype=np.float32)
    covered = np.zeros(shape[1], dtype=int)
    for piece in pieces:
        volume[:, piece.rows] = piece.data
        confidence[:, piece.rows] = piece.confidence
        covered[piece.rows] += 1
    return volume, confidence, covered


def test_local_cluster_matches_in_process(rng):
    stack = rng.integers(0, 60000, size=(8, 90, 40), dtype=np.uint16)
    net = small_conv_net(3)
    expected, expected_conf = reconstruct_volume(stack, net, 2.5, tile=24, overlap=8)
    with dask_client("local", workers=2, processes=False) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        pieces = reconstruct_distributed(stack, net, 2.5, client, tile=24, overlap=8, bands=3)
        volume, confidence, covered = _collect(pieces, expected.shape, expected.dtype)
    assert (covered == 1).all()
    assert np.abs(volume.astype(int) - expected).max() <= 1
    np.testing.assert_allclose(confidence, expected_conf, atol=1e-2)
    assert confidence.max() > 1.0


def test_network_is_shipped_as_state_dict_and_config(rng):
    torch.manual_seed(0)
    net = A2I3DEMNet(preset("tiny")).eval()
    payload = pickle.loads(pickle.dumps(model_payload(net)))
    assert set(payload) == {"token", "config", "state"}
    rebuilt = model_from_payload(payload)
    assert rebuilt is not net and model_from_payload(payload) is rebuilt  # built once per worker
    planes = torch.from_numpy(rng.random((2, 2, 40, 36)).astype(np.float32))
    with torch.inference_mode():
        torch.testing.assert_close(rebuilt(planes), net(planes))


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(InputError, match="scheduler"), dask_client("tcp://127.0.0.1:9", timeout=1):
        pass
