"""Exports of the decision log for filing and inspections: JSONL, CSV and XLSX.

Records are streamed page by page from the store, so an export of six months of log
holds one page in memory (XLSX: openpyxl's write-only mode spills rows to a temp file).
Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) are kept as
text: in CSV with a leading ``'`` (the OWASP advice), in XLSX by typing the cell as a string.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from gateway.audit.record import DecisionRecord, record_columns
from gateway.audit.store import AuditStore, RecordFilter, iter_records

FORMATS = ("jsonl", "csv", "xlsx")
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
COLUMNS = tuple(record_columns())
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FLUSH_BYTES = 64 * 1024


def flat_row(r: DecisionRecord) -> list[Any]:
    """One record as spreadsheet cells: lists joined with ``;``, mappings as JSON."""
    d = r.to_dict()
    for key in ("categories", "matched_terms"):
        d[key] = ";".join(d[key])
    for key in ("scores", "latency_ms"):
        d[key] = orjson.dumps(d[key]).decode()
    return [d[c] for c in COLUMNS]


def _csv_safe(v: Any) -> Any:
    return "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v


async def jsonl_chunks(records: AsyncIterator[DecisionRecord]) -> AsyncIterator[bytes]:
    buf = bytearray()
    async for r in records:
        buf += orjson.dumps(r.to_dict()) + b"\n"
        if len(buf) >= _FLUSH_BYTES:
            yield bytes(buf)
            buf.clear()
    yield bytes(buf)


async def csv_chunks(records: AsyncIterator[DecisionRecord]) -> AsyncIterator[bytes]:
    text = io.StringIO()
    writer = csv.writer(text)
    # A BOM so that Excel opens the UTF-8 (Chinese) text correctly.
    text.write("\ufeff")
    writer.writerow(COLUMNS)
    async for r in records:
        writer.writerow([_csv_safe(v) for v in flat_row(r)])
        if text.tell() >= _FLUSH_BYTES:
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()
    yield text.getvalue().encode()


async def write_xlsx(records: AsyncIterator[DecisionRecord], out: BinaryIO | Path) -> int:
    """Write an XLSX workbook (sheet ``decisions``); returns the record count."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("decisions")
    ws.append(list(COLUMNS))
    count = 0

    def cell(v: Any) -> WriteOnlyCell:
        if isinstance(v, str):
            c = WriteOnlyCell(ws, ILLEGAL_CHARACTERS_RE.sub("", v))
            c.data_type = "s"  # never a formula, whatever the text starts with
            return c
        return WriteOnlyCell(ws, v)

    async for r in records:
        ws.append([cell(v) for v in flat_row(r)])
        count += 1
    await asyncio.to_thread(wb.save, out)
    return count


async def export(store: AuditStore, flt: RecordFilter, fmt: str, out: BinaryIO) -> int:
    """Write the records matching ``flt`` to ``out`` in ``fmt``; returns the record count."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "xlsx":
        return await write_xlsx(iter_records(store, flt), out)
    count = 0

    async def counted() -> AsyncIterator[DecisionRecord]:
        nonlocal count
        async for r in iter_records(store, flt):
            count += 1
            yield r

    chunks = jsonl_chunks(counted()) if fmt == "jsonl" else csv_chunks(counted())
    async for chunk in chunks:
        out.write(chunk)
    return count
