"""The ASGI application: routes, and the lifespan that owns every resource.

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

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.classifier import Classifier
from gateway.console import console_mount
from gateway.decision_log import as_recorder, log_routes, open_log_store, start_log
from gateway.errors import GatewayError, MethodNotAllowed, NotFound, error_response
from gateway.flavors import CHAT, COMPLETIONS
from gateway.metrics import Metrics, exposition
from gateway.moderations import moderations
from gateway.passthrough import passthrough
from gateway.pipeline import Pipeline
from gateway.policy.holder import PolicyHolder
from gateway.policy.reloader import PolicyReloader
from gateway.proxy import Proxy
from gateway.recording import NullRecorder, Recorder
from gateway.reports import open_reports
from gateway.reports.pages import page_routes
from gateway.reports.routes import api_routes as report_api_routes
from gateway.responses import JSONResponse
from gateway.sanctions import SanctionStore
from gateway.settings import Settings
from gateway.state import AppState
from gateway.upstream import Upstream

log = logging.getLogger("gateway")


def load_classifier(settings: Settings, metrics: Metrics) -> Classifier | None:
    """The configured classifier, or None. ``models`` (and torch) load only when asked."""
    spec = settings.classifier.strip()
    if spec.lower() in ("", "none", "off"):
        return None
    if spec.lower() == "auto":
        shipped = Path(__file__).resolve().parent.parent / "models" / "zh_safety_small"
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
        reports = open_reports(settings, metrics, policies.get, audit_store=audit_store,
                               redis=redis)  # fmt: skip
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
            reports=reports,
        )
        app.state.gateway = state
        app.state.proxy = Proxy(state)
        log.info("gateway ready: policy %s, upstream %s", policies.current.version,
                 settings.upstream_url)  # fmt: skip
        try:
            yield
        finally:
            if clf is not None:
                await clf.aclose()
            if reports is not None:
                await reports.aclose()
            if decision_log is not None:
                await decision_log.aclose()  # flush the decision log before anything else goes
            if audit_store is not None:
                await audit_store.close()
            await reloader.aclose()
            if redis is not None:
                await redis.aclose()
            await upstream.aclose()

    async def chat(request: Request) -> Response:
        proxy: Proxy = request.app.state.proxy
        return await proxy.handle(request, CHAT)

    async def completions(request: Request) -> Response:
        proxy: Proxy = request.app.state.proxy
        return await proxy.handle(request, COMPLETIONS)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        state: AppState = request.app.state.gateway
        active = state.policies.current.base
        clf = state.pipeline.classifier
        return JSONResponse(
            {
                "status": "ready",
                "policy": {
                    "name": active.policy.name,
                    "version": active.version,
                    "tenants": sorted(state.policies.current.tenants),
                    "path": str(state.policies.path),
                    "terms": len(active.matcher),
                },
                "classifier": clf.info() if clf is not None else "none",
            }
        )

    async def metrics_endpoint(request: Request) -> Response:
        state: AppState = request.app.state.gateway
        if state.reports is not None:
            await state.reports.refresh_metrics()  # ticket counts as of this scrape
        return Response(exposition(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            return error_response(NotFound(f"No route for {request.url.path}."))
        if exc.status_code == 405:
            return error_response(MethodNotAllowed(f"{request.method} is not allowed here."))
        return error_response(GatewayError(str(exc.detail)))

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(GatewayError("The gateway failed to handle the request."))

    routes: list[BaseRoute] = [
        *(extra_routes or []),
        *log_routes(audit_store, settings),
        console_mount(settings),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/moderations", moderations, methods=["POST"]),
        *report_api_routes(),
        *page_routes(),
        Route("/v1/{path:path}", passthrough, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {HTTPException: http_error, Exception: internal_error}
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
