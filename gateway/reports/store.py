"""Tickets, their submissions and incident records in SQL (SQLite or PostgreSQL).

Merging is enforced by the database, not only by a lookup: a partial unique index allows
one ticket that is not closed per (tenant, reported content), so two replicas filing the
same decision at once end with one ticket (the loser's transaction fails and is retried
as a merge).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from gateway.reports.db import Database, Tx
from gateway.reports.model import Incident, Status, Submission, Ticket, TicketFilter

PAGE = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS report_tickets (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, merge_key TEXT NOT NULL,
    decision_id TEXT NOT NULL, record_ids TEXT NOT NULL, text TEXT, text_source TEXT NOT NULL,
    reason TEXT NOT NULL, categories TEXT NOT NULL, policy_version TEXT NOT NULL,
    decision_action TEXT NOT NULL, status TEXT NOT NULL, created DOUBLE PRECISION NOT NULL,
    due DOUBLE PRECISION NOT NULL, answered_at DOUBLE PRECISION, closed_at DOUBLE PRECISION,
    assignee TEXT NOT NULL, answer TEXT NOT NULL, outcome TEXT NOT NULL,
    reports INTEGER NOT NULL, updated DOUBLE PRECISION NOT NULL, history TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS report_tickets_created ON report_tickets (created, id);
CREATE INDEX IF NOT EXISTS report_tickets_status_due ON report_tickets (status, due);
CREATE UNIQUE INDEX IF NOT EXISTS report_tickets_open_key
    ON report_tickets (tenant, merge_key) WHERE status <> 'closed';
CREATE TABLE IF NOT EXISTS report_submissions (
    id TEXT PRIMARY KEY, ticket_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL, detail TEXT NOT NULL, contact TEXT NOT NULL, reporter TEXT,
    source TEXT NOT NULL, lang TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS report_submissions_ticket ON report_submissions (ticket_id, ts);
CREATE TABLE IF NOT EXISTS report_incidents (
    id TEXT PRIMARY KEY, tenant TEXT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL,
    occurred_at DOUBLE PRECISION NOT NULL, created DOUBLE PRECISION NOT NULL,
    created_by TEXT NOT NULL, decision_ids TEXT NOT NULL, ticket_ids TEXT NOT NULL,
    categories TEXT NOT NULL, measures TEXT NOT NULL, authority TEXT NOT NULL,
    reported_at DOUBLE PRECISION, notes TEXT NOT NULL, updated DOUBLE PRECISION NOT NULL,
    history TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS report_incidents_created ON report_incidents (created, id);
"""

_TICKET = tuple(f.name for f in dataclasses.fields(Ticket))
_SUBMISSION = tuple(f.name for f in dataclasses.fields(Submission))
_INCIDENT = tuple(f.name for f in dataclasses.fields(Incident))
_JSON = frozenset({"record_ids", "categories", "history", "decision_ids", "ticket_ids",
                   "measures"})  # fmt: skip


def _encode(names: Sequence[str], obj: Any) -> list[Any]:
    return [
        orjson.dumps(list(getattr(obj, n))).decode() if n in _JSON else getattr(obj, n)
        for n in names
    ]


def _decode(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return {n: tuple(orjson.loads(v)) if n in _JSON else v for n, v in zip(names, row, strict=True)}


def _ticket(row: Sequence[Any]) -> Ticket:
    values = _decode(_TICKET, row)
    values["reports"] = int(values["reports"])
    return Ticket(**values)


def _incident(row: Sequence[Any]) -> Incident:
    return Incident(**_decode(_INCIDENT, row))


def _insert(table: str, names: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


_SELECT_TICKET = f"SELECT {', '.join(_TICKET)} FROM report_tickets"
_SELECT_INCIDENT = f"SELECT {', '.join(_INCIDENT)} FROM report_incidents"
_INSERT_TICKET = _insert("report_tickets", _TICKET)
_INSERT_SUBMISSION = _insert("report_submissions", (*_SUBMISSION, "token_sha256"))
_INSERT_INCIDENT = _insert("report_incidents", _INCIDENT)
# What staff actions and merges may change; the rest of a ticket is fixed at filing.
_MUTABLE = ("categories", "due", "status", "answered_at", "closed_at", "assignee", "answer",
            "outcome", "reports", "updated", "history")  # fmt: skip
_UPDATE_TICKET = f"UPDATE report_tickets SET {', '.join(f'{n} = ?' for n in _MUTABLE)} WHERE id = ?"
_INCIDENT_MUTABLE = tuple(n for n in _INCIDENT if n not in ("id", "created", "created_by"))
_UPDATE_INCIDENT = (
    f"UPDATE report_incidents SET {', '.join(f'{n} = ?' for n in _INCIDENT_MUTABLE)} WHERE id = ?"
)


def _where(flt: TicketFilter, after: tuple[float, str] | None) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    if flt.statuses is not None:
        parts.append(f"status IN ({', '.join('?' * len(flt.statuses))})" if flt.statuses
                     else "1 = 0")  # fmt: skip
        params += flt.statuses
    for column, value in (("tenant", flt.tenant), ("reason", flt.reason)):
        if value is not None:
            parts.append(f"{column} = ?")
            params.append(value)
    if flt.since is not None:
        parts.append("created >= ?")
        params.append(flt.since)
    if flt.until is not None:
        parts.append("created < ?")
        params.append(flt.until)
    if flt.overdue_at is not None:
        parts.append("answered_at IS NULL AND due < ?")
        params.append(flt.overdue_at)
    if after is not None:
        parts.append("(created > ? OR (created = ? AND id > ?))")
        params += [after[0], after[0], after[1]]
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


class TicketStore:
    """The complaint queue's tables; every method is one transaction."""

    def __init__(self, url: str) -> None:
        self.db = Database(url, SCHEMA)

    async def close(self) -> None:
        await self.db.close()

    # --- filing
    async def file(
        self,
        new: Ticket,
        submission: Submission,
        token_sha256: str,
        merge: Callable[[Ticket], Ticket],
    ) -> tuple[Ticket, bool]:
        """Insert ``new`` with its first submission, or, when a ticket for the same content
        is still open, add the submission to that one (``merge`` says how it changes).
        Returns the ticket and whether it was merged."""

        def run(tx: Tx) -> tuple[Ticket, bool]:
            row = tx.one(
                f"{_SELECT_TICKET} WHERE tenant = ? AND merge_key = ? AND status <> ?",
                (new.tenant, new.merge_key, Status.CLOSED.value),
            )
            if row is None:
                tx.run(_INSERT_TICKET, _encode(_TICKET, new))
                ticket, merged = new, False
            else:
                ticket, merged = merge(_ticket(row)), True
                tx.run(_UPDATE_TICKET, [*_encode(_MUTABLE, ticket), ticket.id])
            sub = dataclasses.replace(submission, ticket_id=ticket.id)
            tx.run(_INSERT_SUBMISSION, [*_encode(_SUBMISSION, sub), token_sha256])
            return ticket, merged

        try:
            return await self.db.run(run, write=True)
        except self.db.integrity_errors:
            # Another replica filed the same content a moment ago: merge into its ticket.
            return await self.db.run(run, write=True)

    # --- reading
    async def get(self, ticket_id: str) -> Ticket | None:
        row = await self.db.run(lambda tx: tx.one(f"{_SELECT_TICKET} WHERE id = ?", (ticket_id,)))
        return _ticket(row) if row is not None else None

    async def by_token(self, ticket_id: str, token_sha256: str) -> Ticket | None:
        """The ticket if one of its submissions holds this lookup token."""
        sql = (
            f"{_SELECT_TICKET} WHERE id = ? AND EXISTS (SELECT 1 FROM report_submissions s"
            " WHERE s.ticket_id = report_tickets.id AND s.token_sha256 = ?)"
        )
        row = await self.db.run(lambda tx: tx.one(sql, (ticket_id, token_sha256)))
        return _ticket(row) if row is not None else None

    async def submissions(self, ticket_id: str) -> list[Submission]:
        sql = f"SELECT {', '.join(_SUBMISSION)} FROM report_submissions WHERE ticket_id = ? ORDER BY ts"
        rows = await self.db.run(lambda tx: tx.all(sql, (ticket_id,)))
        return [Submission(*r) for r in rows]

    async def query(
        self,
        flt: TicketFilter,
        *,
        after: tuple[float, str] | None = None,
        limit: int = PAGE,
        by_due: bool = False,
        newest_first: bool = False,
    ) -> list[Ticket]:
        """Tickets matching ``flt``: by ``(created, id)`` after the cursor, by deadline, or
        newest first (neither of the last two pages)."""
        paged = not (by_due or newest_first)
        clause, params = _where(flt, after if paged else None)
        order = "due, id" if by_due else "created DESC, id DESC" if newest_first else "created, id"
        sql = f"{_SELECT_TICKET}{clause} ORDER BY {order} LIMIT ?"
        rows = await self.db.run(lambda tx: tx.all(sql, [*params, limit]))
        return [_ticket(r) for r in rows]

    async def counts(self, now: float) -> tuple[int, int]:
        """Tickets not closed, and of those the ones unanswered past their deadline."""
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN answered_at IS NULL AND due < ?"
            " THEN 1 ELSE 0 END), 0) FROM report_tickets WHERE status <> ?"
        )
        row = await self.db.run(lambda tx: tx.one(sql, (now, Status.CLOSED.value)))
        assert row is not None
        return int(row[0]), int(row[1])

    # --- staff actions
    async def modify(self, ticket_id: str, change: Callable[[Ticket], Ticket]) -> Ticket | None:
        """Apply ``change`` to the ticket inside one transaction (it may raise to refuse);
        None when there is no such ticket."""

        def run(tx: Tx) -> Ticket | None:
            row = tx.one(f"{_SELECT_TICKET} WHERE id = ?", (ticket_id,))
            if row is None:
                return None
            ticket = change(_ticket(row))
            tx.run(_UPDATE_TICKET, [*_encode(_MUTABLE, ticket), ticket.id])
            return ticket

        return await self.db.run(run, write=True)

    async def purge(self, cutoff: float) -> int:
        """Delete closed tickets filed before ``cutoff`` with their submissions."""

        def run(tx: Tx) -> int:
            old = "SELECT id FROM report_tickets WHERE status = ? AND created < ?"
            args = (Status.CLOSED.value, cutoff)
            tx.run(f"DELETE FROM report_submissions WHERE ticket_id IN ({old})", args)
            return tx.run("DELETE FROM report_tickets WHERE status = ? AND created < ?", args)

        return await self.db.run(run, write=True)

    # --- incident records
    async def add_incident(self, incident: Incident) -> None:
        await self.db.run(
            lambda tx: tx.run(_INSERT_INCIDENT, _encode(_INCIDENT, incident)), write=True
        )

    async def incident(self, incident_id: str) -> Incident | None:
        row = await self.db.run(
            lambda tx: tx.one(f"{_SELECT_INCIDENT} WHERE id = ?", (incident_id,))
        )
        return _incident(row) if row is not None else None

    async def incidents(
        self,
        *,
        tenant: str | None = None,
        limit: int = PAGE,
        after: tuple[float, str] | None = None,
        newest_first: bool = False,
    ) -> list[Incident]:
        parts: list[str] = []
        params: list[Any] = []
        if tenant is not None:
            parts.append("tenant = ?")
            params.append(tenant)
        if after is not None and not newest_first:
            parts.append("(created > ? OR (created = ? AND id > ?))")
            params += [after[0], after[0], after[1]]
        where = (" WHERE " + " AND ".join(parts)) if parts else ""
        order = "created DESC, id DESC" if newest_first else "created, id"
        sql = f"{_SELECT_INCIDENT}{where} ORDER BY {order} LIMIT ?"
        rows = await self.db.run(lambda tx: tx.all(sql, [*params, limit]))
        return [_incident(r) for r in rows]

    async def modify_incident(
        self, incident_id: str, change: Callable[[Incident], Incident]
    ) -> Incident | None:
        def run(tx: Tx) -> Incident | None:
            row = tx.one(f"{_SELECT_INCIDENT} WHERE id = ?", (incident_id,))
            if row is None:
                return None
            incident = change(_incident(row))
            tx.run(_UPDATE_INCIDENT, [*_encode(_INCIDENT_MUTABLE, incident), incident.id])
            return incident

        return await self.db.run(run, write=True)


async def iter_tickets(store: TicketStore, flt: TicketFilter) -> AsyncIterator[Ticket]:
    """Every ticket matching ``flt`` in filing order, one page in memory at a time."""
    after: tuple[float, str] | None = None
    while True:
        page = await store.query(flt, after=after)
        for t in page:
            yield t
        if len(page) < PAGE:
            return
        after = (page[-1].created, page[-1].id)


async def iter_incidents(store: TicketStore, tenant: str | None = None) -> AsyncIterator[Incident]:
    after: tuple[float, str] | None = None
    while True:
        page = await store.incidents(tenant=tenant, after=after)
        for i in page:
            yield i
        if len(page) < PAGE:
            return
        after = (page[-1].created, page[-1].id)
