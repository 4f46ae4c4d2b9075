"""``gateway lexicon …`` subcommands: import, export, coverage, scan.

Wired into the console command by ``gateway/cli.py`` calling :func:`register`.
Every command returns a process exit code; errors in files print ``file:line: message``
and exit 2, like ``gateway policy check``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.lexicon.filing import coverage, export
from gateway.lexicon.importer import import_terms
from gateway.lexicon.library import LexiconError, load_library, write_term_file
from gateway.lexicon.matcher import Matcher
from gateway.lexicon.variants import VariantConfig


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``lexicon`` with its subcommands to the ``gateway`` command."""
    lexicon = subparsers.add_parser("lexicon", help="keyword library: import, export, coverage")
    sub = lexicon.add_subparsers(dest="lexicon_command", required=True)

    imp = sub.add_parser("import", help="convert a plain list or CSV into a term file")
    imp.add_argument("src", type=Path, help="word list (.txt, one per line) or .csv")
    imp.add_argument("--category", required=True, help="taxonomy code, e.g. A1.04")
    imp.add_argument("--format", choices=("txt", "csv"), default=None, help="default: by extension")
    imp.add_argument("--level", type=int, default=1, help="level for every term (default 1)")
    imp.add_argument("--min-len", type=int, default=2, help="drop shorter terms (default 2)")
    imp.add_argument("--out", type=Path, default=None, help="term file to write (default stdout)")
    imp.set_defaults(func=_import)

    exp = sub.add_parser("export", help="filing export (关键词/一级分类/二级分类)")
    exp.add_argument("files", type=Path, nargs="+", help="term files or directories")
    exp.add_argument("--out", type=Path, required=True, help="FILE.xlsx or FILE.csv")
    exp.set_defaults(func=_export)

    cov = sub.add_parser("coverage", help="coverage against TC260-003 §8.1 minimums")
    cov.add_argument("files", type=Path, nargs="+", help="term files or directories")
    cov.add_argument("--json", action="store_true", help="print JSON instead of a table")
    cov.add_argument("--strict", action="store_true", help="exit 1 when a minimum is not met")
    cov.set_defaults(func=_coverage)

    scan = sub.add_parser("scan", help="show what a library matches in a text")
    scan.add_argument("text", help="text to scan")
    scan.add_argument(
        "--lexicon", type=Path, nargs="+", default=[Path("policies/lexicon")], help="files or dirs"
    )
    scan.add_argument("--no-variants", action="store_true", help="no pinyin/homophone variants")
    scan.set_defaults(func=_scan)


def _import(args: argparse.Namespace) -> int:
    try:
        result = import_terms(args.src, args.category, args.format, args.level, args.min_len)
    except (LexiconError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out is None:
        sys.stdout.write("term,category,level\n")
        for t in result.terms:
            sys.stdout.write(_csv_line(t.text, t.category, t.level))
    else:
        write_term_file(args.out, result.terms)
    dropped = ", ".join(f"{n} {why}" for why, n in sorted(result.dropped.items())) or "none"
    print(
        f"imported {len(result.terms)} terms as {args.category}; dropped: {dropped}",
        file=sys.stderr,
    )
    return 0


def _csv_line(*fields: object) -> str:
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue()


def _export(args: argparse.Namespace) -> int:
    try:
        library = load_library(args.files)
        count = export(library.terms, args.out)
    except (LexiconError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {count} rows to {args.out}")
    return 0


def _coverage(args: argparse.Namespace) -> int:
    try:
        library = load_library(args.files)
    except (LexiconError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = coverage(library.terms)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(report.table())
    return 1 if args.strict and not report.ok else 0


def _scan(args: argparse.Namespace) -> int:
    try:
        library = load_library(args.lexicon)
    except (LexiconError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    variants = None if args.no_variants else VariantConfig()
    matcher = Matcher(library.terms, library.allow, variants=variants)
    for hit in matcher.scan(args.text):
        span = args.text[hit.start : hit.end]
        print(f"{hit.start}-{hit.end}\t{hit.category}\tlevel {hit.level}\t{hit.term}\t{span!r}")
    return 0
