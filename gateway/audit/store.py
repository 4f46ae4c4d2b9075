"""The storage seam of the decision log: one async protocol, two backends chosen by URL.

``sqlite:///path/to/file.db`` (default; one process; WAL mode) or
``postgresql://user@host:5432/db?schema=name`` (several replicas; psycopg 3 async). The
``schema`` query parameter is ours (PostgreSQL schema for the tables; default ``public``).
SQLite takes ``?synchronous=normal`` to skip the fsync per commit: commits then survive a
crash of the process but not of the host (the default, ``full``, survives both).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.audit.anchors import Anchor
from gateway.audit.record import DecisionRecord

PAGE = 1000  # rows per round trip when iterating; bounds memory of exports and verify


@dataclass(frozen=True, slots=True)
class RecordFilter:
    """Which records a query, export or report covers. ``None`` means any."""

    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    tenant: str | None = None
    category: str | None = None  # taxonomy code; a record matches if it lists it
    action: str | None = None
    direction: str | None = None
    ending: str | None = None  # recording.Ending value; "" matches input records


@dataclass(frozen=True, slots=True)
class PurgeResult:
    deleted: int
    anchors: tuple[Anchor, ...]  # one per chain that lost records


class AuditStore(Protocol):
    """Where decision records live. Implementations must make ``append`` atomic (one
    transaction) and idempotent by record id, so a spool replay after a crash between
    commit and spool truncation inserts nothing twice."""

    async def append(self, records: Sequence[DecisionRecord]) -> None:
        """Commit ``records`` in one transaction; ids already present are skipped."""

    async def query(
        self, flt: RecordFilter, *, after: tuple[datetime, str] | None = None, limit: int = PAGE
    ) -> list[DecisionRecord]:
        """Records matching ``flt`` ordered by ``(ts, id)``, strictly after the cursor."""

    async def get(self, record_id: str) -> DecisionRecord | None: ...

    async def scan_chains(
        self, *, after: tuple[str, int] | None = None, limit: int = PAGE
    ) -> list[DecisionRecord]:
        """All records ordered by ``(chain_id, seq)``, strictly after the cursor."""

    async def anchors(self) -> dict[str, Anchor]: ...

    async def purge(self, cutoff: datetime, anchor_key: bytes) -> PurgeResult:
        """Delete, per chain, the longest prefix of records older than ``cutoff`` and record
        an anchor for it sealed under ``anchor_key`` (``AuditKeys.anchor``; see
        ``anchors.next_anchor``), in one transaction. Raises ``AnchorForged`` (and deletes
        nothing) if a chain's existing anchor is not sealed with that key. The caller
        enforces the legal minimum."""

    async def count(self) -> int: ...

    async def close(self) -> None: ...


async def iter_records(store: AuditStore, flt: RecordFilter) -> AsyncIterator[DecisionRecord]:
    """Every record matching ``flt`` in time order, one page in memory at a time."""
    after: tuple[datetime, str] | None = None
    while True:
        page = await store.query(flt, after=after, limit=PAGE)
        for r in page:
            yield r
        if len(page) < PAGE:
            return
        after = (page[-1].ts, page[-1].id)


async def iter_chains(store: AuditStore) -> AsyncIterator[DecisionRecord]:
    """Every record in ``(chain_id, seq)`` order, for verification."""
    after: tuple[str, int] | None = None
    while True:
        page = await store.scan_chains(after=after, limit=PAGE)
        for r in page:
            yield r
        if len(page) < PAGE:
            return
        after = (page[-1].chain_id, page[-1].seq)
