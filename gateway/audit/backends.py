"""Where the decision log is kept: the store for an audit URL.

The factory lives apart from ``store.py`` (the protocol) so that the protocol never imports
its implementations.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from gateway.audit.errors import AuditConfigError
from gateway.audit.store import AuditStore


def open_store(url: str) -> AuditStore:
    """The store for ``url``. Opening is lazy: a store that is down at start-up is not an
    error here; the writer spools until it comes back."""
    if url.startswith("sqlite:///"):
        from gateway.audit.sqlite_store import SQLiteStore

        path, _, query = url.removeprefix("sqlite:///").partition("?")
        options = dict(parse_qsl(query))
        sync = options.pop("synchronous", "full").upper()
        if options or sync not in ("FULL", "NORMAL"):
            raise AuditConfigError(f"sqlite URL: unknown options {query!r}")
        return SQLiteStore(path, synchronous=sync)
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.audit.postgres_store import PostgresStore

        return PostgresStore(url)
    raise AuditConfigError(f"unsupported audit URL scheme: {url.split(':', 1)[0]!r}")
