"""The keyword library on disk: term files (CSV) and allow lists (plain text).

Term file: UTF-8 CSV whose first non-comment row is the header ``term,category,level``;
``category`` is a taxonomy code (``A1.04``), ``level`` a positive integer (default 1 when
the column is empty). Lines starting with ``#`` are comments. Allow list: one entry per
line, ``#`` comments and blank lines ignored. Both are read with encoding detection (see
:mod:`gateway.lexicon.textfile`), so files saved by Excel (BOM) or as GBK also load.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from gateway import taxonomy
from gateway.lexicon.matcher import Term
from gateway.lexicon.textfile import read_text

HEADER = ("term", "category", "level")


class LexiconError(ValueError):
    """A term or allow file that cannot be loaded; the message names file and line.

    ``rows`` holds every problem of the file as (line, message without the file name), so
    a checker can report each bad row once, under the file's own name."""

    def __init__(self, message: str, rows: tuple[tuple[int, str], ...] = ()) -> None:
        super().__init__(message)
        self.rows = rows


@dataclass(frozen=True, slots=True)
class Library:
    """Terms and allow entries loaded from a set of files."""

    terms: tuple[Term, ...]
    allow: tuple[str, ...]
    files: tuple[str, ...] = field(default=())


def _data_lines(text: str) -> Iterable[tuple[int, str]]:
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield lineno, line


def load_term_file(path: str | Path) -> list[Term]:
    """Terms of one CSV term file, validated; raises :class:`LexiconError` naming every
    bad row (not only the first), so one run finds them all."""
    text = read_text(path)
    lines = list(_data_lines(text))
    if not lines:
        return []
    header_no, header_line = lines[0]
    header = tuple(c.strip().lower() for c in next(csv.reader([header_line])))
    if header[:2] != HEADER[:2] or (len(header) > 2 and header[2] != HEADER[2]):
        message = f"header must be 'term,category,level', got {header_line!r}"
        raise LexiconError(f"{path}:{header_no}: {message}", ((header_no, message),))
    terms: list[Term] = []
    problems: list[tuple[int, str]] = []
    for lineno, line in lines[1:]:
        row = next(csv.reader(io.StringIO(line)))
        try:
            terms.append(_parse_row(row))
        except ValueError as e:
            problems.append((lineno, str(e)))
    if problems:
        text = "\n".join(f"{path}:{n}: {m}" for n, m in problems)
        raise LexiconError(text, tuple(problems))
    return terms


def _parse_row(row: list[str]) -> Term:
    if len(row) < 2 or len(row) > 3:
        raise ValueError(f"expected term,category[,level], got {len(row)} columns")
    term, category = row[0].strip(), row[1].strip()
    level_text = row[2].strip() if len(row) == 3 else ""
    if not term:
        raise ValueError("empty term")
    if not taxonomy.is_code(category):
        raise ValueError(f"unknown category {category!r} (expected a code like A1.04)")
    try:
        level = int(level_text) if level_text else 1
    except ValueError:
        raise ValueError(f"level must be an integer, got {level_text!r}") from None
    if level < 1:
        raise ValueError(f"level must be >= 1, got {level}")
    return Term(term, category, level)


def load_allow_file(path: str | Path) -> list[str]:
    """Entries of one allow list (one per line)."""
    return [line.strip() for _, line in _data_lines(read_text(path))]


def load_library(paths: Iterable[str | Path]) -> Library:
    """Load files and directories: ``*.csv`` are term files, ``*.txt`` allow lists.

    A directory contributes its ``*.csv`` and ``*.txt`` files in name order, so
    ``load_library(["policies/lexicon"])`` loads the shipped starter library.
    """
    terms: list[Term] = []
    allow: list[str] = []
    files: list[str] = []
    for path in _expand(paths):
        files.append(str(path))
        if path.suffix.lower() == ".csv":
            terms.extend(load_term_file(path))
        else:
            allow.extend(load_allow_file(path))
    return Library(tuple(dict.fromkeys(terms)), tuple(dict.fromkeys(allow)), tuple(files))


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in (".csv", ".txt")))
        elif path.suffix.lower() in (".csv", ".txt"):
            out.append(path)
        else:
            raise LexiconError(
                f"{path}: expected a .csv term file, a .txt allow list or a directory"
            )
    return out


def write_term_file(path: str | Path, terms: Iterable[Term]) -> int:
    """Write terms in the term-file format (UTF-8, header); returns the number written."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER)
    count = 0
    for term in terms:
        writer.writerow((term.text, term.category, term.level))
        count += 1
    Path(path).write_text(buf.getvalue(), encoding="utf-8")
    return count
