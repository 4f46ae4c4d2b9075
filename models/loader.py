"""Build a local classifier from a model directory or hub id. Imports torch (lazily, via the
adapters), so only :func:`models.load_classifier` reaches this module."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from gateway.metrics import Metrics
from models.batcher import BatchLimits
from models.cache import VerdictCache
from models.local import LocalClassifier

log = logging.getLogger(__name__)

Kind = Literal["encoder", "guard", "ngram"]
_HASHED_SUFFIXES = (".json", ".safetensors", ".bin", ".txt", ".model", ".jinja")


def resolve_path(spec: str) -> Path:
    """A local directory as is; anything else is a hub id fetched with ``snapshot_download``,
    which honours ``HF_HUB_OFFLINE`` (cache only, error when missing)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists() or spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise FileNotFoundError(f"classifier {spec!r}: not a model directory or hub id")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(spec))


def model_kind(path: Path) -> Kind:
    """``ngram`` for the character n-gram model (``model_type: char_ngram``), ``guard`` for
    causal LMs, ``encoder`` for sequence classifiers, from ``config.json``."""
    config = json.loads((path / "config.json").read_text("utf-8"))
    if config.get("model_type") == "char_ngram":
        return "ngram"
    archs = " ".join(config.get("architectures") or [])
    if "ForSequenceClassification" in archs:
        return "encoder"
    if "ForCausalLM" in archs or "ForConditionalGeneration" in archs:
        return "guard"
    raise ValueError(f"{path}: cannot tell the model kind from architectures {archs!r}; pass kind=")


def model_version(path: Path) -> str:
    """A content hash of the model's files, equal on every replica that loads the same model
    (so they share cache entries) and different for any retrained weights."""
    digest = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _HASHED_SUFFIXES):
        digest.update(str(f.relative_to(path)).encode() + b"\0")
        with f.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:16]


def load_local(
    spec: str,
    *,
    device: str = "auto",
    metrics: Metrics | None = None,
    redis_url: str | None = None,
    redis: Any = None,
    kind: Kind | None = None,
    version: str | None = None,
    max_batch: int | None = None,
    max_batch_tokens: int | None = None,
    max_wait_us: int = 0,
    max_queue: int = 2048,
    request_timeout_s: float = 30.0,
    cache_size: int = 100_000,
    cache_ttl_s: int = 86_400,
    redis_prefix: str = "gw:verdict:",
    warmup: bool | None = None,
    torch_threads: int | None = None,
    workers: int | None = None,
    **adapter_options: Any,
) -> LocalClassifier:
    """See :func:`models.load_classifier`; ``adapter_options`` go to the model adapter."""
    from models.device import resolve_device

    path = resolve_path(spec)
    dev = resolve_device(device)
    cores = os.cpu_count() or 1
    # CPU: two model calls side by side, each with half the cores (see models.batcher).
    # Accelerators: one, since CUDA/HPU graphs are captured per thread.
    workers = workers or (min(2, cores) if dev == "cpu" else 1)
    if not torch_threads and dev == "cpu" and workers > 1:
        torch_threads = max(1, cores // workers)
    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)  # process-wide: intra-op threads of the model
    ver = version or model_version(path)
    adapter: Any
    chosen = kind or model_kind(path)
    if chosen == "guard":
        from models.guard import GuardAdapter

        adapter = GuardAdapter(path, device=dev, version=ver, **adapter_options)
    elif chosen == "ngram":
        from models.ngram import NgramAdapter

        adapter = NgramAdapter(path, device=dev, version=ver, **adapter_options)
    else:
        from models.encoder import EncoderAdapter

        adapter = EncoderAdapter(path, device=dev, version=ver, **adapter_options)
    limits = BatchLimits(
        max_batch=max_batch or adapter.shapes.max_batch,
        # n-gram rows are long id lists that cost no padding: that adapter sets its own budget
        max_tokens=max_batch_tokens or int(getattr(adapter, "max_batch_tokens", 8192)),
        max_wait_us=max_wait_us,
        max_queue=max_queue,
        workers=workers,
    )
    cache = None
    if cache_size > 0 or redis_url or redis is not None:
        cache = VerdictCache(
            ver,
            max_entries=cache_size,
            redis_url=redis_url,
            redis=redis,
            redis_prefix=redis_prefix,
            ttl_s=cache_ttl_s,
            metrics=metrics,
        )
    classifier = LocalClassifier(
        adapter, limits=limits, cache=cache, metrics=metrics, request_timeout_s=request_timeout_s
    )
    if warmup if warmup is not None else dev != "cpu":
        classifier.batcher.call_in_model_thread(adapter.warmup)
    log.info("classifier loaded: %s", adapter.info())
    return classifier
