"""Classifiers served elsewhere: guard models and encoders on serving engines (vLLM, SGLang,
TEI, KServe / Triton) and other gateways, behind the ``Classifier`` seam. aiohttp only; no
torch. See docs/classifiers.md ("Classifiers on serving engines") for the spec forms.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.metrics import Metrics
from models import labels
from models.serving.backend import Backend, check_score_mode, split_labels
from models.serving.classifier import ServedClassifier
from models.serving.spec import OPTIONS, ServedSpec, SpecError, parse_spec
from models.serving.transport import Transport

__all__ = ["ServedClassifier", "ServedSpec", "SpecError", "load_served", "parse_spec"]

_INTS = frozenset({"max_batch", "max_inflight", "max_queue", "max_wait_us", "window_chars",
                   "window_overlap", "max_tokens"})  # fmt: skip
_BOOLS = frozenset({"normalize", "markers"})
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def load_served(
    spec: ServedSpec,
    *,
    metrics: Metrics | None = None,
    stage: str = "primary",
    api_key: str | None = None,
    connect_timeout_s: float = 2.0,
    total_timeout_s: float = 10.0,
    max_connections: int = 64,
    cache_size: int = 0,
    cache_ttl_s: int = 86_400,
    redis: Any = None,
    redis_url: str | None = None,
    redis_prefix: str = "gw:verdict:",
    **defaults: Any,
) -> ServedClassifier:
    """The classifier ``spec`` names. ``defaults`` are options as keyword arguments (the
    spec's query string wins over them); a bad option is a ``SpecError`` naming it."""
    unknown = sorted(set(defaults) - OPTIONS[spec.backend])
    if unknown:
        raise SpecError(f"classifier {spec.display()}: unknown option(s) {', '.join(unknown)}")
    options = {**defaults, **_typed(spec)}
    label_map = {}
    if options.get("label_map"):
        label_map = labels.load_label_map_file(Path(str(options["label_map"])))
    transport = Transport(
        api_key=api_key, connect_timeout_s=connect_timeout_s,
        total_timeout_s=total_timeout_s, max_connections=max_connections,
    )  # fmt: skip
    cache = None
    if cache_size > 0 or redis is not None or redis_url:
        cache = {"max_entries": cache_size, "redis": redis, "redis_url": redis_url,
                 "redis_prefix": redis_prefix, "ttl_s": cache_ttl_s, "metrics": metrics}  # fmt: skip
    common: dict[str, Any] = {
        "path": spec.display(),
        "fingerprint": _fingerprint(spec, options, label_map),
        "stage": stage,
        "metrics": metrics,
        "timeout_s": total_timeout_s,
        "max_queue": options.get("max_queue", 2048),
        "max_wait_us": options.get("max_wait_us", 0),
        "cache_options": cache,
    }
    try:
        if spec.backend == "gateway":
            from models.remote import RemoteClassifier

            common.pop("path")  # the remote gateway's full /v1/moderations URL instead
            return RemoteClassifier(
                spec.url, transport=transport, max_batch=options.get("max_batch", 256),
                max_inflight=options.get("max_inflight", 8), **common,
            )  # fmt: skip
        backend = _backend(spec, options, label_map)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"classifier {spec.display()}: {exc}") from exc
    # A guard takes one text per call and the engine batches concurrent calls itself, so it
    # gets as many calls in flight as connections; batchable protocols get few, full calls.
    inflight = max_connections if backend.max_batch == 1 else 8
    return ServedClassifier(
        backend, transport,
        max_inflight=options.get("max_inflight", inflight),
        window_overlap=options.get("window_overlap"),
        normalize_text=options.get("normalize", False),
        markers=options.get("markers", False),
        **common,
    )  # fmt: skip


def _backend(spec: ServedSpec, o: dict[str, Any], label_map: dict[str, tuple[str, ...]]) -> Backend:
    scores = check_score_mode(o.get("scores", "as-is"))
    if spec.backend == "openai_guard":
        from models.serving.chat_guard import ChatGuardBackend

        return ChatGuardBackend(
            spec.url, model=o.get("model"), guard_format=o.get("format"),
            max_tokens=o.get("max_tokens", 64),
            controversial_score=o.get("controversial_score", 0.5),
            output_role=o.get("output_role", "assistant"), label_map=label_map,
            window_chars=o.get("window_chars", 4000),
        )  # fmt: skip
    if spec.backend == "tei":
        from models.serving.tei import TeiBackend

        return TeiBackend(spec.url, label_map=label_map, scores=scores,
                          max_batch=o.get("max_batch"), window_chars=o.get("window_chars"))  # fmt: skip
    if spec.backend == "vllm_classify":
        from models.serving.vllm_classify import VllmClassifyBackend

        return VllmClassifyBackend(
            spec.url, model=o.get("model"), labels=split_labels(o.get("labels")),
            label_map=label_map, scores=scores, max_batch=o.get("max_batch", 64),
            window_chars=o.get("window_chars"),
        )  # fmt: skip
    from models.serving.kserve import KServeBackend

    return KServeBackend(
        spec.url, labels=split_labels(o.get("labels")), label_map=label_map, scores=scores,
        input_name=o.get("input"), output_name=o.get("output"),
        max_batch=o.get("max_batch", 64), window_chars=o.get("window_chars"),
    )  # fmt: skip


def _typed(spec: ServedSpec) -> dict[str, Any]:
    """The query options as numbers and booleans where they are such."""
    out: dict[str, Any] = {}
    for key, raw in spec.options.items():
        try:
            if key in _INTS:
                value: Any = int(raw)
                if value < (0 if key in ("max_wait_us", "window_overlap") else 1):
                    raise ValueError("too small")
            elif key == "controversial_score":
                value = float(raw)
            elif key in _BOOLS:
                if raw.lower() not in (*_TRUE, *_FALSE):
                    raise ValueError("not a boolean")
                value = raw.lower() in _TRUE
            else:
                value = raw
        except ValueError as exc:
            raise SpecError(f"classifier {spec.display()}: option {key}={raw!r}: {exc}") from exc
        out[key] = value
    return out


def _fingerprint(spec: ServedSpec, options: dict[str, Any], label_map: dict[str, Any]) -> str:
    return json.dumps(
        [spec.backend, spec.display(), sorted((k, str(v)) for k, v in options.items()),
         sorted((k, list(v)) for k, v in label_map.items())],
        ensure_ascii=False,
    )  # fmt: skip
