"""``gateway audit verify|export|report|purge|hash-text``: the decision log from the host's shell.

Each subcommand reads the store URL from ``--audit-url``, else from the settings
(``GATEWAY_AUDIT_URL`` or the settings file), like the server does. ``verify``, ``purge``,
``report`` and ``hash-text`` also need the gateway's secret (``GATEWAY_PSEUDONYM_KEY``):
the chain, the anchors, the checkpoints and kept text hashes are all keyed with it.
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

from gateway.audit.anchors import AnchorForged
from gateway.audit.backends import open_store
from gateway.audit.checkpoint import CheckpointReader
from gateway.audit.export import FORMATS, export
from gateway.audit.filters import BadFilter, describe, filter_from
from gateway.audit.keys import AuditKeys, text_hash
from gateway.audit.report import build_report, render_html
from gateway.audit.retention import purge_cutoff
from gateway.audit.store import AuditStore, iter_records
from gateway.audit.verify import Verification, min_purge_age, verify_log
from gateway.reports.store import TicketStore
from gateway.settings import InsecureSettings, Settings, load_settings

Command = Callable[[argparse.Namespace], int]


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``audit`` and its subcommands to the ``gateway`` command line."""
    audit = subparsers.add_parser("audit", help="decision log: verify, export, report, purge")
    sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    verify = sub.add_parser(
        "verify", help="check the keyed chains, anchors and checkpoints; exit 1 on tampering"
    )
    _common(verify)
    verify.add_argument(
        "--checkpoint-dir", type=Path, default=None,
        help="signed checkpoints (default: settings audit_checkpoint_dir)",
    )  # fmt: skip
    verify.add_argument(
        "--no-checkpoints", action="store_true",
        help="skip the checkpoint checks (deleted newest records then go unseen)",
    )  # fmt: skip
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

    ht = sub.add_parser(
        "hash-text", help="the keyed hash audit.text: hash keeps for a text (to check one)"
    )
    ht.add_argument(
        "text", nargs="?", help="the text; omitted: read stdin (one trailing newline dropped)"
    )
    ht.set_defaults(func=_hash_text)


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
    p.add_argument(
        "--ending",
        help="complete|blocked|client_disconnected|upstream_failed|upstream_error|log_unavailable",
    )


def _settings(args: argparse.Namespace) -> Settings:
    config = getattr(args, "config", None)
    return load_settings(Path(config) if config else None)


def _keys(args: argparse.Namespace) -> AuditKeys:
    return AuditKeys.from_secret(_settings(args).pseudonym_secret())


def _sync(fn: Callable[[argparse.Namespace, AuditStore], Awaitable[int]]) -> Command:
    def run(args: argparse.Namespace) -> int:
        try:
            return _run(args)
        except InsecureSettings as e:
            print(f"error: the decision log is keyed with the gateway's secret: {e}",
                  file=sys.stderr)  # fmt: skip
            return 2
        except AnchorForged as e:
            print(f"error: {e}", file=sys.stderr)
            return 1

    def _run(args: argparse.Namespace) -> int:
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
    settings = _settings(args)
    keys = AuditKeys.from_secret(settings.pseudonym_secret())
    directory: Path | None = args.checkpoint_dir or settings.audit_checkpoint_dir
    if args.no_checkpoints:
        directory = None
        print("WARNING: checkpoints not checked: deleted newest records and emptied chains "
              "cannot be detected")  # fmt: skip
    elif directory is not None and not directory.is_dir():
        print(
            f"error: no checkpoint directory at {directory} (--checkpoint-dir, "
            "GATEWAY_AUDIT_CHECKPOINT_DIR; --no-checkpoints to check without)",
            file=sys.stderr,
        )
        return 2
    result = await verify_log(
        store, keys, checkpoint_dir=directory,
        min_age=min_purge_age(settings.audit_retention_days),
    )  # fmt: skip
    _print_verification(result)
    return 0 if result.ok else 1


def _print_verification(result: Verification) -> None:
    for problem in result.problems:
        print(f"TAMPERED: {problem}")
    for c in result.chains.values():
        if c.head is not None:
            print(f"chain {c.chain_id}: head seq {c.head.seq} hash {c.head.hash}")
        if c.anchor is not None:
            print(f"chain {c.chain_id}: purged up to seq {c.anchor.seq} "
                  f"(anchor hash {c.anchor.hash})")  # fmt: skip
        if c.checkpoint is not None:
            cp = c.checkpoint
            print(f"chain {c.chain_id}: checkpoint seq {cp.seq} hash {cp.hash} "
                  f"at {cp.at.isoformat()}")  # fmt: skip
    for note in result.notes:
        print(f"note: {note}")
    if (
        result.problems
        and all(p.kind == "modified" for p in result.problems)
        and all(p.seq == 1 for p in result.problems)
    ):
        print(f"note: every chain fails at its first record: is this the secret the gateway "
              f"ran with (key id {result.key_id})?")  # fmt: skip
    status = "FAILED" if result.problems else "OK"
    print(f"{status}: {result.checked} records checked in {len(result.chains)} chains "
          f"(key id {result.key_id})")  # fmt: skip


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
    settings = _settings(args)
    reader: CheckpointReader | None = None
    try:
        keys = AuditKeys.from_secret(settings.pseudonym_secret())
        reader = CheckpointReader(settings.audit_checkpoint_dir, keys)
    except InsecureSettings as e:
        # The statistics need no key; the checkpoints do (to list only genuine ones).
        print(f"warning: checkpoints not listed (they are checked with the gateway's "
              f"secret): {e}", file=sys.stderr)  # fmt: skip
    result = await build_report(iter_records(store, flt), describe(flt), reader)
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
    required = min_purge_age(_settings(args).audit_retention_days)
    if datetime.now(UTC) - cutoff.at < required:
        print(
            f"warning: deleting records younger than the retention ({required.days} days): "
            "`gateway audit verify` will report this purge as early-purge",
            file=sys.stderr,
        )
    if cutoff.clamped:
        print(
            f"note: not deleting records younger than the six-month legal minimum "
            f"(CSL Art. 21): cutoff moved from {cutoff.requested:%Y-%m-%d %H:%M} to "
            f"{cutoff.legal:%Y-%m-%d %H:%M} UTC; use --force to override",
            file=sys.stderr,
        )
    result = await store.purge(cutoff.at, _keys(args).anchor)
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


def _hash_text(args: argparse.Namespace) -> int:
    """Print the keyed hash of a text, to check a record kept with ``audit.text: hash``:
    the texts of one decision are joined with newlines, as the log joins them."""
    try:
        keys = _keys(args)
    except InsecureSettings as e:
        print(f"error: text hashes are keyed with the gateway's secret: {e}", file=sys.stderr)
        return 2
    text = args.text if args.text is not None else sys.stdin.read().removesuffix("\n")
    print(text_hash(text, keys.text))
    return 0
