"""The ASGI application: the lifespan that owns every resource, and the app around the
routes of ``gateway.http``.

Resources open in order at start-up (upstream client, policy, classifier, decision log)
and close in reverse. Handlers reach them through ``request.app.state.gateway``.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from gateway.audit.recording import NullRecorder, Recorder
from gateway.audit.service import as_recorder, log_routes, open_log_store, start_log
from gateway.classifier import Classifier
from gateway.console import console_mount
from gateway.http.middleware import GatewayMiddleware
from gateway.http.routes import EXCEPTION_HANDLERS, api_routes
from gateway.http.state import AppState
from gateway.http.upstream import Upstream
from gateway.metrics import Metrics
from gateway.moderation.pipeline import Pipeline
from gateway.moderation.sanctions import SanctionStore
from gateway.policy.holder import PolicyHolder
from gateway.policy.reloader import PolicyReloader
from gateway.settings import Settings

log = logging.getLogger("gateway")


def load_classifier(settings: Settings, metrics: Metrics) -> Classifier | None:
    """The configured classifier, or None. ``models`` (and torch) load only when asked."""
    spec = settings.classifier.strip()
    if spec.lower() in ("", "none", "off"):
        return None
    if spec.lower() == "auto":
        shipped = Path(__file__).resolve().parent.parent / "models" / "zh_safety_ngram"
        if not (shipped / "config.json").exists() or importlib.util.find_spec("torch") is None:
            log.info("no classifier: the shipped model or torch is not installed")
            return None
        spec = str(shipped)
    models = importlib.import_module("models")
    classifier: Classifier = models.load_classifier(
        spec, device=settings.classifier_device, metrics=metrics, redis_url=settings.redis_url
    )
    info = classifier.info()
    metrics.classifier_model_info.labels(
        name=info.get("name", ""), version=info.get("version", ""),
        device=info.get("device", ""), dtype=info.get("dtype", ""),
    ).set(1)  # fmt: skip
    return classifier


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
        upstream = Upstream(settings, metrics)
        await upstream.start()
        policies = PolicyHolder(settings.policy, metrics)
        redis = open_redis(settings)
        sanctions = (
            SanctionStore(
                redis,
                settings.pseudonym_secret().encode(),
                metrics,
                prefix=f"{settings.redis_prefix}:sanction",
            )
            if redis is not None
            else None
        )
        reloader = PolicyReloader(
            policies, settings.policy_reload_interval, redis, settings.policy_cache_dir,
            settings.redis_prefix,
        )  # fmt: skip
        await reloader.start()
        decision_log = (
            await start_log(audit_store, settings, metrics, policies)
            if audit_store is not None
            else None
        )
        clf = classifier if classifier is not None else load_classifier(settings, metrics)
        pipeline = Pipeline(policies.get, metrics, clf)
        state = AppState(
            settings=settings,
            metrics=metrics,
            policies=policies,
            pipeline=pipeline,
            upstream=upstream,
            recorder=as_recorder(
                decision_log, recorder if recorder is not None else NullRecorder()
            ),
            sanctions=sanctions,
            redis=redis,
            audit_store=audit_store,
            reloader=reloader,
        )
        app.state.gateway = state
        log.info("gateway ready: policy %s, upstream %s", policies.current.version,
                 settings.upstream_url)  # fmt: skip
        try:
            yield
        finally:
            if clf is not None:
                await clf.aclose()
            if decision_log is not None:
                await decision_log.aclose()  # flush the decision log before anything else goes
            if audit_store is not None:
                await audit_store.close()
            await reloader.aclose()
            if redis is not None:
                await redis.aclose()
            await upstream.aclose()

    routes: list[BaseRoute] = [
        *(extra_routes or []),
        *log_routes(audit_store, settings),
        console_mount(settings),
        *api_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[Middleware(GatewayMiddleware, metrics=metrics)],
    )
