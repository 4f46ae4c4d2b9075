"""The compliance console: a server-rendered web UI under ``/console``.

Wire it into the gateway with ``create_app(settings, extra_routes=[console_mount(settings)])``.
State (users, sessions, the draft, versions, review labels, admin log) lives in its own
SQLite file, ``GATEWAY_CONSOLE_DB`` (default ``var/gateway/console.db``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount

from gateway.settings import Settings


def console_mount(settings: Settings, *, db_path: Path | None = None) -> Mount:
    """The ``/console`` mount. The database is ``db_path`` (tests), else
    ``settings.console_db`` once ``Settings`` has that field, else ``GATEWAY_CONSOLE_DB``,
    else ``var/gateway/console.db``. Everything else (live policy, decision log, classifier)
    comes from the app state at request time."""
    from gateway.console.routes import console_routes
    from gateway.console.web import Console

    configured = getattr(settings, "console_db", None)
    path = db_path or (Path(configured) if configured else None)
    return Mount("/console", routes=console_routes(Console(path)))


__all__ = ["console_mount"]
