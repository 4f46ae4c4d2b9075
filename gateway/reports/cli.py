"""``gateway reports export|incidents|stats|purge``: the complaint records from the host.

The database is ``--reports-url``, else the settings' ``reports_url``, else the decision
log's (``GATEWAY_AUDIT_URL``), where the gateway keeps tickets unless told otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import orjson

from gateway.audit.filters import BadFilter, parse_time
from gateway.audit.retention import purge_cutoff
from gateway.reports.export import (
    FORMATS,
    INCIDENT_COLUMNS,
    TICKET_COLUMNS,
    incident_rows,
    ticket_rows,
    write,
)
from gateway.reports.model import Status, TicketFilter
from gateway.reports.stats import ticket_filter, ticket_stats
from gateway.reports.store import TicketStore, iter_incidents, iter_tickets
from gateway.settings import Settings, load_settings

Command = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    reports = subparsers.add_parser(
        "reports", help="complaints and reports: export tickets and incidents, statistics, purge"
    )
    sub = reports.add_subparsers(dest="reports_command", required=True, metavar="COMMAND")

    exp = sub.add_parser("export", help="tickets as JSONL, CSV or XLSX (no contact details)")
    _common(exp)
    exp.add_argument("--status", choices=[s.value for s in Status])
    exp.add_argument("--tenant")
    exp.add_argument("--since", help="filed at or after (ISO 8601, UTC if no offset)")
    exp.add_argument("--until", help="filed before")
    _output(exp)
    exp.set_defaults(func=_run(_export))

    inc = sub.add_parser("incidents", help="incident records as JSONL, CSV or XLSX")
    _common(inc)
    inc.add_argument("--tenant")
    _output(inc)
    inc.set_defaults(func=_run(_incidents))

    st = sub.add_parser("stats", help="counts by reason and outcome, time to answer, overdue")
    _common(st)
    st.add_argument("--tenant")
    st.add_argument("--since")
    st.add_argument("--until")
    st.set_defaults(func=_run(_stats))

    purge = sub.add_parser(
        "purge", help="delete closed tickets past retention (never under six months)"
    )
    _common(purge)
    purge.add_argument("--older-than-days", type=int, default=None,
                       help="retention in days (default: settings audit_retention_days, 180)")  # fmt: skip
    purge.add_argument("--force", action="store_true",
                       help="allow deleting tickets younger than the six-month legal minimum")  # fmt: skip
    purge.set_defaults(func=_run(_purge))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reports-url", default=None,
                   help="sqlite:///FILE or postgresql://... (default: the gateway's setting)")  # fmt: skip


def _output(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, help="default: from --output's suffix, else jsonl")
    p.add_argument("-o", "--output", type=Path, help="file (default: stdout; xlsx needs a file)")


def _settings(args: argparse.Namespace) -> Settings:
    config = getattr(args, "config", None)
    return load_settings(Path(config) if config else None)


def _run(fn: Callable[[argparse.Namespace, TicketStore], Awaitable[int]]) -> Command:
    def run(args: argparse.Namespace) -> int:
        url = args.reports_url or _settings(args).reports_database()
        if url is None:
            print("error: complaints and reports are off (reports_url is none)", file=sys.stderr)
            return 2
        if url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///").partition("?")[0])
            if not path.is_file():
                print(f"error: no database at {path}", file=sys.stderr)
                return 2

        async def main() -> int:
            store = TicketStore(url)
            try:
                return await fn(args, store)
            finally:
                await store.close()

        try:
            return asyncio.run(main())
        except BadFilter as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    return run


def _when(args: argparse.Namespace, name: str) -> datetime | None:
    value = getattr(args, name, None)
    return parse_time(name, value) if value else None


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = args.output.suffix.lstrip(".").lower() if args.output else ""
    return suffix if suffix in FORMATS else "jsonl"


async def _write(args: argparse.Namespace, what: str, write_to: Callable[[str, BinaryIO],
                 Awaitable[int]]) -> int:  # fmt: skip
    fmt = _format(args)
    if fmt == "xlsx" and args.output is None:
        print("error: xlsx needs --output FILE", file=sys.stderr)
        return 2
    out: BinaryIO = args.output.open("wb") if args.output else sys.stdout.buffer
    try:
        count = await write_to(fmt, out)
    finally:
        if args.output:
            out.close()
    print(f"exported {count} {what} as {fmt}", file=sys.stderr)
    return 0


async def _export(args: argparse.Namespace, store: TicketStore) -> int:
    base = ticket_filter(_when(args, "since"), _when(args, "until"), args.tenant)
    flt = TicketFilter(statuses=(args.status,) if args.status else None, tenant=base.tenant,
                       since=base.since, until=base.until)  # fmt: skip

    async def to(fmt: str, out: BinaryIO) -> int:
        rows = ticket_rows(iter_tickets(store, flt))
        return await write(fmt, TICKET_COLUMNS, rows, out, "complaints")

    return await _write(args, "tickets", to)


async def _incidents(args: argparse.Namespace, store: TicketStore) -> int:
    async def to(fmt: str, out: BinaryIO) -> int:
        rows = incident_rows(iter_incidents(store, args.tenant))
        return await write(fmt, INCIDENT_COLUMNS, rows, out, "incidents")

    return await _write(args, "incident records", to)


async def _stats(args: argparse.Namespace, store: TicketStore) -> int:
    flt = ticket_filter(_when(args, "since"), _when(args, "until"), args.tenant)
    result = await ticket_stats(store, flt, time.time())
    sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    return 0


async def _purge(args: argparse.Namespace, store: TicketStore) -> int:
    """The decision log's rule (``gateway audit purge``): ``audit_retention_days``, never
    under six months unless forced; open and answered tickets are kept whatever their age."""
    days = args.older_than_days
    if days is None:
        days = _settings(args).audit_retention_days
    cutoff = purge_cutoff(datetime.now(UTC), days, force=args.force)
    if cutoff.clamped:
        print(f"note: not deleting tickets younger than the six-month legal minimum: cutoff "
              f"moved from {cutoff.requested:%Y-%m-%d %H:%M} to {cutoff.legal:%Y-%m-%d %H:%M} "
              "UTC; use --force to override", file=sys.stderr)  # fmt: skip
    deleted = await store.purge(cutoff.at.timestamp())
    print(f"purged {deleted} closed tickets filed before {cutoff.at.isoformat()}")
    return 0
