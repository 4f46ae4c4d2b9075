"""The ASGI application: the lifespan that owns every resource, and the app around the
routes of ``gateway.http``.

Resources open in order at start-up (upstream client, policy, classifier, decision log)
and close in reverse. Handlers reach them through ``request.app.state.gateway``.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from gateway.audit.recording import NullRecorder, Recorder
from gateway.audit.service import as_recorder, log_routes, open_log_store, start_log
from gateway.audit.store import AuditStore
from gateway.classifier import Classifier
from gateway.console import console_mount
from gateway.http.middleware import GatewayMiddleware
from gateway.http.routes import EXCEPTION_HANDLERS, api_routes
from gateway.http.state import AppState
from gateway.http.upstream import Upstream
from gateway.metrics import Metrics
from gateway.moderation.cascade import Cascade
from gateway.moderation.pipeline import Pipeline
from gateway.moderation.sanctions import SanctionStore
from gateway.policy.holder import PolicyHolder
from gateway.policy.reloader import PolicyReloader
from gateway.reports import open_reports
from gateway.reports.pages import page_routes
from gateway.reports.routes import api_routes as report_api_routes
from gateway.settings import Settings
from gateway.shadow import Shadow

log = logging.getLogger("gateway")


def load_classifier(
    settings: Settings, metrics: Metrics, redis: Any = None, *, second: bool = False
) -> Classifier | None:
    """The configured classifier (``second``: the cascade's second stage), or None.
    ``models`` (and torch) load only when asked. Every batching and cache option comes from
    ``settings``; the verdict cache shares the app's Redis pool under the deployment's
    ``redis_prefix``."""
    spec = (settings.classifier_second if second else settings.classifier).strip()
    if spec.lower() in ("", "none", "off"):
        return None
    if spec.lower() == "auto" and not second:
        shipped = Path(__file__).resolve().parent.parent / "models" / "zh_safety_ngram"
        if not (shipped / "config.json").exists() or importlib.util.find_spec("torch") is None:
            log.info("no classifier: the shipped model or torch is not installed")
            return None
        spec = str(shipped)
    models = importlib.import_module("models")
    options = _classifier_options(settings, redis, second, served=models.is_served(spec))
    classifier: Classifier = models.load_classifier(
        spec, device=settings.classifier_device, metrics=metrics, **options
    )
    info = classifier.info()
    metrics.classifier_model_info.labels(
        name=info.get("name", ""), version=info.get("version", ""),
        device=info.get("device", ""), dtype=info.get("dtype", ""),
    ).set(1)  # fmt: skip
    return classifier


def _classifier_options(
    settings: Settings, redis: Any, second: bool, *, served: bool
) -> dict[str, Any]:
    """What ``models.load_classifier`` takes, from settings: every batching, cache and
    connection option is a setting (``gateway serve --set ...``)."""
    cache = {
        "cache_size": settings.classifier_cache_size,
        "cache_ttl_s": settings.classifier_cache_ttl_s,
        "redis": redis,
        "redis_prefix": f"{settings.redis_prefix}:verdict:",
    }
    if served:
        key = settings.classifier_second_api_key if second else settings.classifier_api_key
        return {
            "stage": "second" if second else "primary",
            "api_key": key.get_secret_value() if key is not None else None,
            "total_timeout_s": settings.classifier_timeout_s,
            "max_connections": settings.classifier_max_connections,
            **cache,
        }
    return {
        "request_timeout_s": settings.classifier_timeout_s,
        "max_batch": settings.classifier_max_batch,
        "max_batch_tokens": settings.classifier_max_batch_tokens,
        "max_wait_us": settings.classifier_max_wait_us,
        "max_queue": settings.classifier_max_queue,
        "workers": settings.classifier_workers,
        **cache,
    }


def app_from_env() -> Starlette:
    """The app built from ``GATEWAY_*`` variables: the factory each uvicorn worker calls
    when ``gateway serve --workers N`` runs several."""
    from gateway.settings import load_settings

    config = os.environ.get("GATEWAY_CONFIG")
    return create_app(load_settings(Path(config) if config else None))


def open_redis(settings: Settings) -> Any:
    """A bounded Redis pool with short timeouts, or None when no Redis is configured."""
    if not settings.redis_url:
        return None
    import redis.asyncio as aioredis

    pool: Any = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=64, timeout=1.0,
        socket_timeout=0.5, socket_connect_timeout=0.5,
    )  # fmt: skip
    return aioredis.Redis(connection_pool=pool)


async def _open(
    stack: AsyncExitStack,
    settings: Settings,
    metrics: Metrics,
    audit_store: AuditStore | None,
    recorder: Recorder | None,
    classifier: Classifier | None,
) -> AppState:
    """Every resource, in order (upstream client, Redis, policy, decision log, classifiers,
    reports); each one's close is pushed on ``stack`` as it opens."""
    upstream = Upstream(settings, metrics)
    await upstream.start()
    stack.push_async_callback(upstream.aclose)
    redis = open_redis(settings)
    if redis is not None:
        stack.push_async_callback(redis.aclose)
    policies = PolicyHolder(settings.policy, metrics)
    reloader = PolicyReloader(
        policies, settings.policy_reload_interval, redis, settings.policy_cache_dir,
        settings.redis_prefix,
    )  # fmt: skip
    await reloader.start()
    stack.push_async_callback(reloader.aclose)
    decision_log = None
    if audit_store is not None:
        stack.push_async_callback(audit_store.close)
        decision_log = await start_log(audit_store, settings, metrics, policies)
        stack.push_async_callback(decision_log.aclose)  # flushed before the store closes
    pipeline = _pipeline(stack, settings, metrics, redis, policies, classifier)
    reports = open_reports(settings, metrics, policies.get, audit_store=audit_store, redis=redis)
    if reports is not None:
        stack.push_async_callback(reports.aclose)
    state = AppState(
        settings=settings, metrics=metrics, policies=policies, pipeline=pipeline,
        upstream=upstream,
        recorder=as_recorder(decision_log, recorder if recorder is not None else NullRecorder()),
        sanctions=_sanctions(settings, metrics, redis), redis=redis, audit_store=audit_store,
        reloader=reloader, decision_log=decision_log, reports=reports,
        shadow=Shadow(pipeline.classifier),
    )  # fmt: skip
    stack.push_async_callback(state.shadow.aclose)
    stack.push_async_callback(state.drain)  # first at shutdown: records of streams left open
    return state


def _pipeline(
    stack: AsyncExitStack,
    settings: Settings,
    metrics: Metrics,
    redis: Any,
    policies: PolicyHolder,
    classifier: Classifier | None,
) -> Pipeline:
    clf = classifier if classifier is not None else load_classifier(settings, metrics, redis)
    second = load_classifier(settings, metrics, redis, second=True)
    for model in (clf, second):
        if model is not None:
            stack.push_async_callback(model.aclose)
    if second is not None and clf is None:
        log.warning("classifier_second is set but there is no first classifier: no cascade")
    cascade = Cascade(clf, second, metrics) if clf is not None and second is not None else None
    return Pipeline(policies.get, metrics, clf, cascade)


def _sanctions(settings: Settings, metrics: Metrics, redis: Any) -> SanctionStore | None:
    if redis is None:
        return None
    key = settings.pseudonym_secret().encode()
    return SanctionStore(redis, key, metrics, prefix=f"{settings.redis_prefix}:sanction")


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    recorder: Recorder | None = None,
    classifier: Classifier | None = None,
    extra_routes: list[BaseRoute] | None = None,
) -> Starlette:
    """The gateway app. ``extra_routes`` (e.g. the console's ``Mount``) are added before
    the catch-all ``/v1/*`` pass-through."""
    settings.check_secrets()
    if settings.dev:
        log.warning("development mode: built-in secrets allowed; never run this in production")
    metrics = metrics if metrics is not None else Metrics()
    # Opening a store does no I/O; the admin routes need it when the app is built.
    audit_store = open_log_store(settings) if recorder is None else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:  # closes in the reverse order of opening
            state = await _open(stack, settings, metrics, audit_store, recorder, classifier)
            app.state.gateway = state
            # Everything loaded at startup (lexicon automaton, pinyin tables, policy) lives
            # as long as the process: move it out of the collector's view, so a full
            # collection under load does not walk millions of objects (tail latency).
            gc.freeze()
            log.info("gateway ready: policy %s, upstream %s", state.policies.current.version,
                     settings.upstream_url)  # fmt: skip
            yield

    routes: list[BaseRoute] = [
        *(extra_routes or []),
        *log_routes(audit_store, settings),
        console_mount(settings),
        *report_api_routes(),
        *page_routes(),
        *api_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(GatewayMiddleware, metrics=metrics)],
    )
