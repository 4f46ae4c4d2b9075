"""Every Prometheus metric the gateway exports, defined in one place.

Labels only ever take values from fixed sets (routes, directions, actions, taxonomy
codes, error kinds), never raw user input. Tests build ``Metrics`` on their own
registry instead of the process-global one.

With several uvicorn workers (``gateway serve --workers N``) prometheus_client's
multiprocess mode is on (``PROMETHEUS_MULTIPROC_DIR``): every worker writes its values to
shared files and ``/metrics`` in any worker reports the sum over all of them.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition(registry: CollectorRegistry) -> bytes:
    """The text ``/metrics`` serves: this process's registry, or all workers' values."""
    if multiprocess():
        merged = CollectorRegistry()
        MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged)
    return generate_latest(registry)


_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
# Fixed label values of the served-classifier and cascade metrics (models/serving,
# gateway/moderation/cascade.py).
REMOTE_BACKENDS = ("gateway", "openai_guard", "tei", "vllm_classify", "kserve")
REMOTE_STAGES = ("primary", "second")  # GATEWAY_CLASSIFIER, GATEWAY_CLASSIFIER_SECOND
REMOTE_OUTCOMES = ("ok", "timeout", "connect", "status_4xx", "status_5xx", "malformed")
CASCADE_OUTCOMES = ("upheld", "raised", "lowered", "unavailable")
_FAST_BUCKETS = (0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.registry = r
        self.requests = Counter(
            "gateway_requests", "HTTP requests served", ["route", "status"], registry=r
        )
        self.request_duration = Histogram(
            "gateway_request_duration_seconds", "Time to the end of the response", ["route"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.decisions = Counter(
            "gateway_decisions", "Moderation decisions", ["direction", "action", "category"],
            registry=r,
        )  # fmt: skip
        self.moderation_duration = Histogram(
            "gateway_moderation_duration_seconds", "Time spent per moderation stage",
            ["direction", "stage"], buckets=(*_FAST_BUCKETS, 0.1, 0.5, 1.0), registry=r,
        )  # fmt: skip
        self.upstream_duration = Histogram(
            "gateway_upstream_duration_seconds", "Upstream time to response headers",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream_errors = Counter(
            "gateway_upstream_errors", "Upstream failures by kind", ["kind"], registry=r
        )
        self.stream_holdback_chars = Histogram(
            "gateway_stream_holdback_chars", "Characters held back when a stream chunk is released",
            buckets=(0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512), registry=r,
        )  # fmt: skip
        self.fail_open = Counter(
            "gateway_fail_open", "Requests let through because a check was unavailable",
            ["reason"], registry=r,
        )  # fmt: skip
        self.audit_write_seconds = Histogram(
            "gateway_audit_write_seconds", "Decision-log commit latency",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.audit_errors = Counter(
            "gateway_audit_errors", "Decision-log write failures", registry=r
        )
        self.policy_reload_failures = Counter(
            "gateway_policy_reload_failures", "Policy files refused on reload", registry=r
        )
        self.policy_info = Gauge(
            "gateway_policy_info", "Active policy version (value is 1)", ["version"],
            registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        self.reports_received = Counter(
            "gateway_reports_received", "Complaints and reports received (Art. 15)", ["source"],
            registry=r,
        )  # fmt: skip
        # Counted from the shared ticket store on every scrape: each replica reports the same
        # numbers, so alerts and panels take max(), and workers keep the latest value.
        self.reports_open = Gauge(
            "gateway_reports_open", "Complaint tickets not closed", registry=r,
            multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.reports_overdue = Gauge(
            "gateway_reports_overdue", "Complaint tickets unanswered past their deadline",
            registry=r, multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.classifier_batch_size = Histogram(
            "classifier_batch_size", "Texts per model call",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r,
        )  # fmt: skip
        self.classifier_batch_tokens = Histogram(
            "classifier_batch_tokens", "Padded tokens per model call",
            buckets=(32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384), registry=r,
        )  # fmt: skip
        self.classifier_queue_depth = Gauge(
            "classifier_queue_depth", "Texts waiting for the model", registry=r,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.classifier_queue_wait = Histogram(
            "classifier_queue_wait_seconds", "Time a text waits before its batch runs",
            buckets=(*_FAST_BUCKETS, 0.1, 0.5), registry=r,
        )  # fmt: skip
        self.classifier_inference = Histogram(
            "classifier_inference_seconds", "Model forward time per batch",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.classifier_cache_hits = Counter(
            "classifier_cache_hits", "Verdict cache hits", registry=r
        )
        self.classifier_cache_misses = Counter(
            "classifier_cache_misses", "Verdict cache misses", registry=r
        )
        self.classifier_cache_errors = Counter(
            "classifier_cache_errors", "Verdict cache Redis failures (the cache is skipped)",
            registry=r,
        )  # fmt: skip
        self.classifier_model_info = Gauge(
            "classifier_model_info", "Classifier in use (value is 1)",
            ["name", "version", "device", "dtype"], registry=r, multiprocess_mode="livemax",
        )  # fmt: skip
        # Classifiers on serving engines (models/serving). Series appear when a served
        # classifier is configured (labels: REMOTE_BACKENDS x REMOTE_STAGES).
        self.remote_requests = Counter(
            "classifier_remote_requests", "Calls to a served classifier, by outcome",
            ["backend", "stage", "outcome"], registry=r,
        )  # fmt: skip
        self.remote_duration = Histogram(
            "classifier_remote_request_seconds", "Time per call to a served classifier",
            ["backend", "stage"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.remote_batch_texts = Histogram(
            "classifier_remote_batch_texts", "Texts per call to a served classifier",
            ["backend", "stage"], buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r,
        )  # fmt: skip
        self.remote_queue_depth = Gauge(
            "classifier_remote_queue_depth", "Texts waiting for a call to a served classifier",
            ["backend", "stage"], registry=r, multiprocess_mode="livesum",
        )  # fmt: skip
        # Cascades (policy `cascade`): which stage decided each text, and what the second
        # stage did to the classifier's action for the texts it saw.
        self.cascade_texts = Counter(
            "classifier_cascade_texts", "Texts through a cascade, by the stage that decided",
            ["direction", "stage"], registry=r,
        )  # fmt: skip
        self.cascade_outcomes = Counter(
            "classifier_cascade_outcomes", "Escalated texts by what the second stage changed",
            ["direction", "outcome"], registry=r,
        )  # fmt: skip
        self.cascade_duration = Histogram(
            "classifier_cascade_seconds", "Time waiting for the second stage, per check",
            ["direction"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip

        # Known label values start at 0, so rate() and alerts see the very first event.
        for reason in ("classifier", "redis", "audit"):
            self.fail_open.labels(reason=reason)
        for kind in ("connect", "timeout", "protocol", "status_4xx", "status_5xx"):
            self.upstream_errors.labels(kind=kind)
        for source in ("api", "page"):
            self.reports_received.labels(source=source)

    def set_policy_version(self, version: str) -> None:
        for labels in list(self.policy_info._metrics):  # older versions read 0, not vanish
            self.policy_info.labels(*labels).set(0)
        self.policy_info.labels(version=version).set(1)
