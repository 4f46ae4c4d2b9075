"""Complaints and reports (Interim Measures Art. 14-15; TC260-003 §7).

Providers must run a complaint and reporting mechanism with a convenient entry point, a
published handling process and answer deadline, and prompt handling with the result
returned; confirmed illegal content must be stopped, corrected and reported. This package
gives the provider's apps ``POST /v1/reports``, reporters a plain form at ``/report``, staff
a queue in the console, and regulators records and exports.

Public seams: ``open_reports`` (the service the app's lifespan owns), ``api_routes`` and
``page_routes`` (HTTP), ``cli.register`` (``gateway reports ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.metrics import Metrics
from gateway.policy.compiled import PolicySet
from gateway.reports.ratelimit import RateLimiter
from gateway.reports.service import Reports
from gateway.reports.store import TicketStore
from gateway.settings import Settings


def open_reports(
    settings: Settings,
    metrics: Metrics,
    policies: Callable[[], PolicySet],
    *,
    audit_store: Any | None = None,
    redis: Any | None = None,
) -> Reports | None:
    """The complaint service, or None when ``reports_url`` (or the log) is ``none``.
    Opening does no I/O; the tables are created on first use."""
    url = settings.reports_database()
    if url is None:
        return None
    secret = settings.pseudonym_secret()
    return Reports(
        TicketStore(url),
        policies=policies,
        limiter=RateLimiter(secret, redis, settings.redis_prefix),
        metrics=metrics,
        pseudonym_key=secret,
        audit_store=audit_store,
    )


__all__ = ["Reports", "open_reports"]
