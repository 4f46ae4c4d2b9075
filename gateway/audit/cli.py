"""``gateway audit verify|export|report|purge``: the decision log from the host's shell.

Each subcommand reads the store URL from ``--audit-url``, else from the settings
(``GATEWAY_AUDIT_URL`` or the settings file), like the server does.
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

from gateway.audit.backends import open_store
from gateway.audit.chain import ChainVerifier
from gateway.audit.export import FORMATS, export
from gateway.audit.filters import BadFilter, describe, filter_from
from gateway.audit.report import build_report, render_html
from gateway.audit.retention import purge_cutoff
from gateway.audit.store import AuditStore, iter_chains, iter_records
from gateway.reports.store import TicketStore
from gateway.settings import Settings, load_settings

Command = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``audit`` and its subcommands to the ``gateway`` command line."""
    audit = subparsers.add_parser("audit", help="decision log: verify, export, report, purge")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    verify = sub.add_parser("verify", help="check the hash chains; exit 1 on tampering")
    _common(verify)
    verify.set_defaults(func=_sync(_verify))

    exp = sub.add_parser("export", help="records as JSONL, CSV or XLSX")
    _common(exp)
    _filters(exp)
    exp.add_argument(
        "--format", choices=FORMATS, help="default: from --output's suffix, else jsonl"
    )
    exp.add_argument(
        "-o", "--output", type=Path, help="file to write (default: stdout; xlsx needs a file)"
    )
    exp.set_defaults(func=_sync(_export))

    rep = sub.add_parser("report", help="filing statistics as JSON or HTML")
    _common(rep)
    _filters(rep)
    rep.add_argument(
        "--format", choices=("json", "html"), default=None, help="default: from --output, else json"
    )
    rep.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    rep.set_defaults(func=_sync(_report))

    purge = sub.add_parser("purge", help="delete records past retention (never under six months)")
    _common(purge)
    purge.add_argument(
        "--older-than-days",
        type=int,
        default=None,
        help="retention in days (default: settings audit_retention_days, 180)",
    )
    purge.add_argument(
        "--force",
        action="store_true",
        help="allow deleting records younger than the six-month legal minimum",
    )
    purge.set_defaults(func=_sync(_purge))  # fmt: skip


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--audit-url",
        default=None,
        help="sqlite:///FILE or postgresql://... (default: GATEWAY_AUDIT_URL)",
    )


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="ISO 8601 date/time, inclusive (UTC if no offset)")
    p.add_argument("--until", help="ISO 8601 date/time, exclusive")
    p.add_argument("--tenant")
    p.add_argument("--category", help="taxonomy code, e.g. A1.04")
    p.add_argument("--action", help="allow|flag|review|redact|block")
    p.add_argument("--direction", help="input|output")


def _settings(args: argparse.Namespace) -> Settings:
    config = getattr(args, "config", None)
    return load_settings(Path(config) if config else None)


def _sync(fn: Callable[[argparse.Namespace, AuditStore], Awaitable[int]]) -> Command:
    def run(args: argparse.Namespace) -> int:
        url = args.audit_url or _settings(args).audit_url
        if url.startswith("sqlite:///"):
            # Opening a missing SQLite file would create an empty log that "verifies".
            path = Path(url.removeprefix("sqlite:///").partition("?")[0])
            if not path.is_file():
                print(f"error: no decision log at {path}", file=sys.stderr)
                return 2

        async def main() -> int:
            store = open_store(url)
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


async def _verify(args: argparse.Namespace, store: AuditStore) -> int:
    anchors = await store.anchors()
    verifier = ChainVerifier(anchors)
    async for r in iter_chains(store):
        verifier.feed(r)
    for problem in verifier.problems:
        print(f"TAMPERED: {problem}")
    for head in verifier.heads.values():
        print(f"chain {head.chain_id}: head seq {head.seq} hash {head.hash}")
    for a in anchors.values():
        print(f"chain {a.chain_id}: purged up to seq {a.seq} (anchor hash {a.hash})")
    chains = len(set(verifier.heads) | {p.chain_id for p in verifier.problems})
    status = "FAILED" if verifier.problems else "OK"
    print(f"{status}: {verifier.checked} records checked in {chains} chains")
    return 1 if verifier.problems else 0


def _format(args: argparse.Namespace, allowed: tuple[str, ...]) -> str:
    """``--format``, else the output file's suffix if allowed, else the first allowed."""
    if args.format:
        return str(args.format)
    suffix = args.output.suffix.lstrip(".").lower() if args.output else ""
    return suffix if suffix in allowed else allowed[0]


async def _export(args: argparse.Namespace, store: AuditStore) -> int:
    flt = filter_from(lambda k: getattr(args, k))
    fmt = _format(args, FORMATS)
    if fmt == "xlsx" and args.output is None:
        print("error: xlsx needs --output FILE", file=sys.stderr)
        return 2
    out: BinaryIO = args.output.open("wb") if args.output else sys.stdout.buffer
    try:
        count = await export(store, flt, fmt, out)
    finally:
        if args.output:
            out.close()
    print(f"exported {count} records as {fmt}", file=sys.stderr)
    return 0


async def _report(args: argparse.Namespace, store: AuditStore) -> int:
    flt = filter_from(lambda k: getattr(args, k))
    result = await build_report(iter_records(store, flt), describe(flt))
    extra = await _complaints(args, result)
    fmt = _format(args, ("json", "html"))
    data = (
        render_html(result, extra=extra).encode()
        if fmt == "html"
        else orjson.dumps(result, option=orjson.OPT_INDENT_2)
    )
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data + b"\n")
    return 0


async def _complaints(args: argparse.Namespace, result: dict[str, object]) -> list[str]:
    """Add the complaint statistics (``gateway.reports``) when tickets are kept: in the
    decision log's database unless ``reports_url`` names another."""
    from gateway.reports.stats import add_to_report

    tickets = _ticket_store(args)
    if tickets is None:
        return []
    try:
        return await add_to_report(result, tickets, time.time())
    finally:
        await tickets.close()


def _ticket_store(args: argparse.Namespace) -> TicketStore | None:
    """Where the gateway keeps complaint tickets: ``reports_url``, else this decision log."""
    settings = _settings(args)
    url = (settings.reports_url or args.audit_url or settings.audit_url).strip()
    return None if url.lower() == "none" else TicketStore(url)


async def _purge(args: argparse.Namespace, store: AuditStore) -> int:
    days = args.older_than_days
    if days is None:
        days = _settings(args).audit_retention_days
    cutoff = purge_cutoff(datetime.now(UTC), days, force=args.force)
    if cutoff.clamped:
        print(
            f"note: not deleting records younger than the six-month legal minimum "
            f"(CSL Art. 21): cutoff moved from {cutoff.requested:%Y-%m-%d %H:%M} to "
            f"{cutoff.legal:%Y-%m-%d %H:%M} UTC; use --force to override",
            file=sys.stderr,
        )
    result = await store.purge(cutoff.at)
    for a in result.anchors:
        print(f"chain {a.chain_id}: purged up to seq {a.seq}, anchor {a.hash}")
    print(f"purged {result.deleted} records older than {cutoff.at.isoformat()}")
    tickets = _ticket_store(args)
    if tickets is not None:  # complaint tickets follow the same retention rule
        try:
            deleted = await tickets.purge(cutoff.at.timestamp())
        finally:
            await tickets.close()
        print(f"purged {deleted} closed complaint tickets filed before {cutoff.at.isoformat()}")
    return 0
