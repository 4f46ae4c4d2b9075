"""Device and precision choice. Imports torch, so only the local adapters import this.

``auto`` picks ``hpu`` when Habana's bridge is installed, then ``cuda``, then ``cpu``. Dtype
``auto`` picks bf16 on hpu, fp16 on cuda, and on cpu bf16 only where the CPU has native bf16
matrix units and a timing probe confirms they beat fp32 (on CPUs without them, e.g. AVX2-only,
bf16 matmuls are emulated and measured ~80x slower here); the encoder adapter then also checks
that bf16 scores stay within tolerance of fp32 before keeping it.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from typing import Any

import torch

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(device: str) -> str:
    """``auto`` -> the best available of hpu, cuda, cpu; an explicit choice is checked."""
    if device == "auto":
        if importlib.util.find_spec("habana_frameworks") is not None:
            return "hpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
    if device == "hpu":
        import_habana()
    elif device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"unknown device {device!r} (auto, cpu, cuda, hpu)")
    return device


def import_habana() -> Any:
    """Load Habana's PyTorch bridge; only ever called for ``hpu``."""
    import habana_frameworks.torch.core as htcore  # registers the "hpu" device

    return htcore


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype != "auto":
        try:
            return DTYPES[dtype]
        except KeyError:
            raise ValueError(f"unknown dtype {dtype!r} ({', '.join(DTYPES)}, auto)") from None
    if device == "hpu":
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """Native bf16 matrix units (AVX512-BF16 / AMX) that measurably beat fp32 here."""
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    if probe is None or not probe():
        return False
    return _matmul_seconds(torch.bfloat16) < 0.8 * _matmul_seconds(torch.float32)


def _matmul_seconds(dtype: torch.dtype, n: int = 256, reps: int = 20) -> float:
    a = torch.randn(n, n).to(dtype)
    with torch.inference_mode():
        a @ a  # warm the kernel cache
        start = time.perf_counter()
        for _ in range(reps):
            a @ a
    return time.perf_counter() - start


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")
