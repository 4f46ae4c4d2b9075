"""Exports of tickets and incident records: JSONL, CSV and XLSX, streamed page by page.

Contact details and reporter pseudonyms are never exported: a record for regulators needs
what was reported and what was done, not who reported it (Interim Measures Art. 11).
Cells a spreadsheet would run as a formula stay text, as in the decision-log exports.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from gateway.reports.model import Incident, Ticket

FORMATS = ("jsonl", "csv", "xlsx")
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
TICKET_COLUMNS = (
    "id", "tenant", "created", "due", "status", "reason", "categories", "reports",
    "decision_id", "record_ids", "policy_version", "decision_action", "text_source", "text",
    "assignee", "answered_at", "answer_hours", "answered_late", "answer", "outcome",
    "closed_at", "history",
)  # fmt: skip
INCIDENT_COLUMNS = (
    "id", "tenant", "title", "description", "occurred_at", "created", "created_by",
    "decision_ids", "ticket_ids", "categories", "measures", "authority", "reported_at",
    "notes", "updated", "history",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FLUSH_BYTES = 64 * 1024


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ticket_row(t: Ticket) -> dict[str, Any]:
    seconds = t.answer_seconds()
    return {
        "id": t.id, "tenant": t.tenant, "created": iso(t.created), "due": iso(t.due),
        "status": t.status, "reason": t.reason, "categories": list(t.categories),
        "reports": t.reports, "decision_id": t.decision_id, "record_ids": list(t.record_ids),
        "policy_version": t.policy_version, "decision_action": t.decision_action,
        "text_source": t.text_source, "text": t.text, "assignee": t.assignee,
        "answered_at": iso(t.answered_at),
        "answer_hours": round(seconds / 3600, 3) if seconds is not None else None,
        "answered_late": t.answered_late(), "answer": t.answer, "outcome": t.outcome,
        "closed_at": iso(t.closed_at), "history": list(t.history),
    }  # fmt: skip


def incident_row(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id, "tenant": i.tenant, "title": i.title, "description": i.description,
        "occurred_at": iso(i.occurred_at), "created": iso(i.created), "created_by": i.created_by,
        "decision_ids": list(i.decision_ids), "ticket_ids": list(i.ticket_ids),
        "categories": list(i.categories), "measures": list(i.measures),
        "authority": i.authority, "reported_at": iso(i.reported_at), "notes": i.notes,
        "updated": iso(i.updated), "history": list(i.history),
    }  # fmt: skip


def _cell(v: Any) -> Any:
    """A spreadsheet cell: lists of strings joined with ``;``, other structures as JSON."""
    if isinstance(v, list):
        return ";".join(v) if all(isinstance(x, str) for x in v) else orjson.dumps(v).decode()
    return v


def _csv_safe(v: Any) -> Any:
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v


async def jsonl_chunks(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    buf = bytearray()
    async for row in rows:
        buf += orjson.dumps(row) + b"\n"
        if len(buf) >= _FLUSH_BYTES:
            yield bytes(buf)
            buf.clear()
    yield bytes(buf)


async def csv_chunks(
    columns: tuple[str, ...], rows: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    text = io.StringIO()
    writer = csv.writer(text)
    text.write("\ufeff")  # so that Excel reads the UTF-8 (Chinese) text correctly
    writer.writerow(columns)
    async for row in rows:
        writer.writerow([_csv_safe(_cell(row[c])) for c in columns])
        if text.tell() >= _FLUSH_BYTES:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


async def write_xlsx(
    columns: tuple[str, ...], rows: AsyncIterator[dict[str, Any]], out: BinaryIO | Path,
    sheet: str,
) -> int:  # fmt: skip
    """Write a workbook with one sheet; returns the row count."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(columns))
    count = 0

    def cell(v: Any) -> WriteOnlyCell:
        v = _cell(v)
        if isinstance(v, str):
            c = WriteOnlyCell(ws, ILLEGAL_CHARACTERS_RE.sub("", v))
            c.data_type = "s"  # never a formula, whatever the text starts with
            return c
        return WriteOnlyCell(ws, v)

    async for row in rows:
        ws.append([cell(row[c]) for c in columns])
        count += 1
    await asyncio.to_thread(wb.save, out)
    return count


async def write(
    fmt: str, columns: tuple[str, ...], rows: AsyncIterator[dict[str, Any]], out: BinaryIO,
    sheet: str,
) -> int:  # fmt: skip
    """Write ``rows`` to ``out`` in ``fmt``; returns the row count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "xlsx":
        return await write_xlsx(columns, rows, out, sheet)
    count = 0

    async def counted() -> AsyncIterator[dict[str, Any]]:
        nonlocal count
        async for row in rows:
            count += 1
            yield row

    chunks = jsonl_chunks(counted()) if fmt == "jsonl" else csv_chunks(columns, counted())
    async for chunk in chunks:
        out.write(chunk)
    return count


async def ticket_rows(tickets: AsyncIterator[Ticket]) -> AsyncIterator[dict[str, Any]]:
    async for t in tickets:
        yield ticket_row(t)


async def incident_rows(incidents: AsyncIterator[Incident]) -> AsyncIterator[dict[str, Any]]:
    async for i in incidents:
        yield incident_row(i)
