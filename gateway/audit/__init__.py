"""The decision log: one durable, hash-chained record per moderation decision.

Public seams: ``DecisionRecord`` (what is kept), ``open_store(url)`` (where it is kept),
``AuditWriter`` (how the request path commits it, with group commits and a spool),
``admin_routes`` (authenticated read access) and ``cli.register`` (``gateway audit ...``).
"""

from gateway.audit.backends import open_store
from gateway.audit.errors import AuditError, AuditUnavailable
from gateway.audit.record import DecisionRecord, TextRetention, keep_text, pseudonymize
from gateway.audit.store import AuditStore, RecordFilter
from gateway.audit.writer import AuditWriter

__all__ = [
    "AuditError",
    "AuditStore",
    "AuditUnavailable",
    "AuditWriter",
    "DecisionRecord",
    "RecordFilter",
    "TextRetention",
    "keep_text",
    "open_store",
    "pseudonymize",
]
