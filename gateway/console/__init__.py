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
    """The ``/console`` mount. ``db_path`` overrides ``GATEWAY_CONSOLE_DB`` (tests)."""
    from gateway.console.routes import console_routes
    from gateway.console.web import Console

    del settings  # the console reads the live policy and log from the app state
    return Mount("/console", routes=console_routes(Console(db_path)))


__all__ = ["console_mount"]
