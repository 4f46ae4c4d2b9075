"""The inference core behind ``gateway.classifier.Classifier``.

``import models`` is cheap: torch and transformers are imported only when a local model is
loaded. The gateway calls :func:`load_classifier` once at start-up when a classifier is
configured and then only ever ``await classifier.classify(texts)``.
"""

from __future__ import annotations

from typing import Any

from gateway.classifier import Classifier
from gateway.metrics import Metrics

__all__ = ["load_classifier"]


def load_classifier(
    spec: str,
    *,
    device: str = "auto",
    metrics: Metrics | None = None,
    redis_url: str | None = None,
    **options: Any,
) -> Classifier:
    """Build the classifier ``spec`` names: a local model directory, an ``http(s)://`` URL of
    another gateway (remote), or a Hugging Face hub id (downloaded unless ``HF_HUB_OFFLINE``).

    ``options`` tune the local core (see ``docs/classifiers.md``): ``max_batch``,
    ``max_batch_tokens``, ``max_wait_us``, ``max_queue``, ``length_buckets``, ``batch_sizes``,
    ``dtype``, ``compile``, ``warmup``, ``cache_size``, ``cache_ttl_s``, ``kind``, ...;
    for a remote classifier: ``api_key``, ``connect_timeout_s``, ``total_timeout_s``.
    """
    if spec.startswith(("http://", "https://")):
        from models.remote import RemoteClassifier

        return RemoteClassifier(spec, metrics=metrics, **options)
    from models.loader import load_local

    return load_local(spec, device=device, metrics=metrics, redis_url=redis_url, **options)
