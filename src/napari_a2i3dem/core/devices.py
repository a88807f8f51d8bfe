"""Choice of the torch device and of mixed precision for it."""

from __future__ import annotations

import contextlib
import functools
import os
import time

import torch

from .choices import DEVICE_CHOICES
from .errors import InputError


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """Devices usable on this machine, best first (always ends with ``"cpu"``)."""
    found = []
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if mps_available():
        found.append("mps")
    return [*found, "cpu"]


def select_device(preference: str | torch.device = "auto") -> torch.device:
    """CUDA > MPS > CPU for ``"auto"``; otherwise the named device, checked to exist."""
    if isinstance(preference, torch.device):
        return preference
    name = str(preference).strip().lower()
    if name == "auto":
        return torch.device(available_devices()[0])
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError("device 'cuda' was requested but no CUDA GPU is available")
        return torch.device(name)
    if name == "mps":
        if not mps_available():
            raise InputError("device 'mps' was requested but Apple MPS is not available")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise InputError(f"unknown device {preference!r}; choose one of {DEVICE_CHOICES}")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed precision for training and inference on ``device``: bf16 on CUDA GPUs that support
    it, else fp16 on CUDA; bf16 on a CPU where it is natively fast (:func:`cpu_bf16_is_fast`);
    ``None`` (fp32) elsewhere (MPS, CPUs that emulate bf16). Weights and optimiser state stay
    fp32 either way; on the CPU bf16 changes a reconstruction by < 0.05 dB and trains as well
    as fp32 (docs/hardware.md)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_bf16_is_fast() else None
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    """``"bfloat16"`` / ``"float16"`` for an autocast dtype, ``"float32"`` for ``None``."""
    return str(dtype or torch.float32).removeprefix("torch.")


CPU_BF16_SWITCH = "A2I3DEM_CPU_BF16"


@functools.lru_cache(maxsize=1)
def cpu_bf16_is_fast() -> bool:
    """Whether bf16 matrix products run natively fast on this CPU (AVX512-BF16 / AMX), measured
    once: a 512^2 ``torch.mm`` in bf16 must take under 60 % of the fp32 time. Where bf16 is
    emulated it is tens of times slower, and the CPU stays fp32. ``A2I3DEM_CPU_BF16=0`` / ``1``
    forces it off / on."""
    forced = os.environ.get(CPU_BF16_SWITCH)
    if forced in ("0", "1"):
        return forced == "1"
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        a = torch.rand(512, 512, dtype=dtype)
        torch.mm(a, a)
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            torch.mm(a, a)
            best = min(best, time.perf_counter() - started)
        times[dtype] = best
    return times[torch.bfloat16] < 0.6 * times[torch.float32]


def autocast(device: torch.device, enabled: bool = True):
    """Context manager for mixed precision on ``device`` (:func:`autocast_dtype`); a no-op
    where it is ``None`` or ``enabled`` is false."""
    dtype = autocast_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run with ``threads`` torch CPU threads (``None`` or 0: leave them), restored afterwards."""
    if not threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
