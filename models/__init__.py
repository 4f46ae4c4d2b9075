"""The inference core behind ``gateway.classifier.Classifier``.

``import models`` is cheap: torch and transformers are imported only when a local model is
loaded. The gateway calls :func:`load_classifier` once at start-up when a classifier is
configured and then only ever ``await classifier.classify(texts)``.
"""

from __future__ import annotations

from typing import Any

from gateway.classifier import Classifier
from gateway.metrics import Metrics

__all__ = ["is_served", "load_classifier"]


def is_served(spec: str) -> bool:
    """Whether ``spec`` names a model served elsewhere (``http(s)://``, ``tei+http://`` ...)
    rather than a local directory or hub id. An unknown ``scheme+http://`` is an error."""
    from models.serving.spec import parse_spec

    return parse_spec(spec) is not None


def load_classifier(
    spec: str,
    *,
    device: str = "auto",
    metrics: Metrics | None = None,
    redis_url: str | None = None,
    **options: Any,
) -> Classifier:
    """Build the classifier ``spec`` names: a local model directory, a Hugging Face hub id
    (downloaded unless ``HF_HUB_OFFLINE``), an ``http(s)://`` URL of another gateway, or a
    model on a serving engine: ``openai-guard+``/``vllm+``/``sglang+http://`` (a guard model
    behind an OpenAI-compatible chat API), ``tei+http://``, ``vllm-classify+http://``,
    ``kserve+http://HOST/v2/models/NAME`` (see ``docs/classifiers.md``).

    ``options`` tune the local core (see ``docs/classifiers.md``): ``max_batch``,
    ``max_batch_tokens``, ``max_wait_us``, ``max_queue``, ``length_buckets``, ``batch_sizes``,
    ``dtype``, ``compile``, ``warmup``, ``cache_size``, ``cache_ttl_s``, ``kind``, ...;
    for a served classifier: ``api_key``, ``connect_timeout_s``, ``total_timeout_s``,
    ``max_connections``, ``stage``, ``cache_size``, ``redis``, and the spec's query options.
    """
    from models.serving.spec import parse_spec

    served = parse_spec(spec)
    if served is not None:
        from models.serving import load_served

        return load_served(served, metrics=metrics, redis_url=redis_url, **options)
    from models.loader import load_local

    return load_local(spec, device=device, metrics=metrics, redis_url=redis_url, **options)
