"""The decision log's small exception hierarchy."""

from __future__ import annotations


class AuditError(Exception):
    """Base class for decision-log errors."""


class AuditUnavailable(AuditError):
    """A record could not be made durable (store down in fail-closed mode, spool failed,
    writer overloaded or closed). The request that produced it must not complete normally."""


class AuditConfigError(AuditError):
    """A bad audit URL or option (unknown scheme, malformed path)."""
