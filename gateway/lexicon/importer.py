"""Importing third-party word lists (plain text or CSV) into the term-file format.

Public lists are blunt: they mix categories, carry single characters and bare names, and
come in any encoding. The importer reads any encoding (:mod:`gateway.lexicon.textfile`),
assigns the category the operator names, and drops what cannot be a safe term: entries
shorter than ``min_len`` characters after normalization (a lone ``法`` would fire
everywhere), duplicates, and entries with control characters. It reports what it dropped
so the operator can see it.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gateway import taxonomy
from gateway.lexicon.library import LexiconError
from gateway.lexicon.matcher import Term
from gateway.lexicon.normalize import normalize
from gateway.lexicon.textfile import read_text

# Header names accepted for the term column of a CSV, in preference order.
_TERM_COLUMNS = ("term", "关键词", "keyword", "word", "词")
_CATEGORY_COLUMNS = ("category", "二级分类")


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Imported terms plus a count of dropped entries by reason."""

    terms: tuple[Term, ...]
    dropped: dict[str, int] = field(default_factory=dict)


def import_terms(
    path: str | Path,
    category: str,
    fmt: str | None = None,
    level: int = 1,
    min_len: int = 2,
) -> ImportResult:
    """Read a plain list (``txt``: one term per line) or a ``csv`` and tag it.

    ``fmt`` defaults to the file extension. In a CSV the term column is the first of
    ``term``/``关键词``/``keyword``/``word`` found in the header, else the first column; a
    ``category`` (or filing-format ``二级分类``) column, when present and valid, overrides
    ``category`` row by row.
    """
    if not taxonomy.is_code(category):
        raise LexiconError(f"unknown category {category!r} (expected a code like A1.04)")
    if level < 1:
        raise LexiconError(f"level must be >= 1, got {level}")
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "txt").lower()
    text = read_text(path)
    if fmt == "txt":
        rows = [(line.strip(), category) for line in text.split("\n")]
    elif fmt == "csv":
        rows = _csv_rows(text, category)
    else:
        raise LexiconError(f"unknown format {fmt!r} (expected txt or csv)")
    return _clean(rows, level, min_len)


def _csv_rows(text: str, default_category: str) -> list[tuple[str, str]]:
    lines = [ln for ln in text.split("\n") if not ln.lstrip().startswith("#")]
    records = list(csv.reader(io.StringIO("\n".join(lines))))
    if not records:
        return []
    header = [c.strip().lower() for c in records[0]]
    term_col = next((header.index(c) for c in _TERM_COLUMNS if c in header), None)
    cat_col = next((header.index(c) for c in _CATEGORY_COLUMNS if c in header), None)
    body = records[1:] if term_col is not None else records
    term_col = term_col or 0
    rows: list[tuple[str, str]] = []
    for rec in body:
        if len(rec) <= term_col:
            continue
        category = default_category
        if cat_col is not None and len(rec) > cat_col:
            code = rec[cat_col].strip().split(" ")[0]  # "A1.04 宣扬…" -> "A1.04"
            if taxonomy.is_code(code):
                category = code
        rows.append((rec[term_col].strip(), category))
    return rows


def _clean(rows: list[tuple[str, str]], level: int, min_len: int) -> ImportResult:
    dropped: Counter[str] = Counter()
    seen: set[tuple[str, str]] = set()
    terms: list[Term] = []
    for term, category in rows:
        if not term or term.startswith("#"):
            continue
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in term):
            dropped["control characters"] += 1
            continue
        key = normalize(term).text.strip()
        if len(key) < min_len:
            dropped[f"shorter than {min_len} characters"] += 1
            continue
        if (key, category) in seen:
            dropped["duplicate"] += 1
            continue
        seen.add((key, category))
        terms.append(Term(term, category, level))
    return ImportResult(tuple(terms), dict(dropped))
