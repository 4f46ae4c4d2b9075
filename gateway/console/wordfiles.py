"""Edits of a bundle's word files: the keyword library (CSV term files) and the allow list
(plain text, one entry per line). Pure functions of ``{relative path: text}``.

Terms and allow entries added in the console go to files of their own
(``lexicon/console.csv``, ``lexicon/console-allow.txt``), listed in the policy when its
patterns do not cover them; removals edit whichever file holds the row, keeping its
comments and other rows.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from gateway import taxonomy
from gateway.console import yaml_edit
from gateway.console.draft import set_value
from gateway.lexicon.library import HEADER, LexiconError, load_term_file
from gateway.lexicon.matcher import Term
from gateway.policy.loader import PolicyError, Problem

CONSOLE_TERMS = "lexicon/console.csv"  # where terms added in the console go
CONSOLE_ALLOW = "lexicon/console-allow.txt"  # where allow entries added in the console go
MAX_TERM_CHARS = 64


@dataclass(frozen=True, slots=True)
class LibraryTerm:
    text: str
    category: str
    level: int
    file: str


@dataclass(frozen=True, slots=True)
class AllowEntry:
    text: str
    file: str


def _term_files(files: dict[str, str]) -> list[str]:
    return sorted(p for p in files if p.lower().endswith(".csv"))


def _read_terms(rel: str, text: str) -> list[Term]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePosixPath(rel).name
        path.write_text(text, "utf-8")
        try:
            return load_term_file(path)
        except LexiconError as e:
            raise PolicyError([Problem(rel, line, message, (), "term_file",
                                       (("message", message),)) for line, message in e.rows]) from None  # fmt: skip


def library(files: dict[str, str]) -> list[LibraryTerm]:
    """Every term of the bundle's term files, with the file it lives in."""
    return list(_library(tuple((rel, files[rel]) for rel in _term_files(files))))


@lru_cache(maxsize=8)
def _library(term_files: tuple[tuple[str, str], ...]) -> tuple[LibraryTerm, ...]:
    # Pages re-read the same bundle on every request; parsing ~10 files costs tens of ms.
    return tuple(
        LibraryTerm(t.text, t.category, t.level, rel)
        for rel, text in term_files
        for t in _read_terms(rel, text)
    )


def check_term(term: str, category: str, level: int) -> Term:
    """A term as a form submitted it, validated like a term-file row."""
    term = term.strip()
    if not term or len(term) > MAX_TERM_CHARS or any(ch in term for ch in "\r\n"):
        raise ValueError(f"a term must have 1 to {MAX_TERM_CHARS} characters on one line")
    if not taxonomy.is_code(category):
        raise ValueError(f"unknown category {category!r}")
    if not 1 <= level <= 3:
        raise ValueError("level must be 1, 2 or 3")
    return Term(term, category, level)


def _listed(policy_text: str, key: str, rel: str) -> bool:
    lexicon = (yaml_edit.load(policy_text) or {}).get("lexicon") or {}
    return any(fnmatch.fnmatchcase(rel, str(p)) for p in lexicon.get(key) or [])


def _list_file(policy_text: str, key: str, rel: str) -> str:
    """The policy text with ``rel`` added to ``lexicon.<key>`` unless a pattern covers it."""
    if _listed(policy_text, key, rel):
        return policy_text
    lexicon = (yaml_edit.load(policy_text) or {}).get("lexicon") or {}
    return set_value(policy_text, ("lexicon", key), [*(lexicon.get(key) or []), rel])


def _append(existing: str, lines: str) -> str:
    if existing and not existing.endswith("\n"):
        existing += "\n"
    return existing + lines


def add_terms(
    files: dict[str, str], policy: str, terms: Iterable[Term]
) -> tuple[dict[str, str], list[Term]]:
    """The bundle with ``terms`` appended to the console's term file (created and listed in
    the policy when needed), and the terms that were new; a term already present with that
    category is skipped."""
    present = {(t.text, t.category) for t in library(files)}
    new = [t for t in dict.fromkeys(terms) if (t.text, t.category) not in present]
    if not new:
        return files, []
    out = dict(files)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if CONSOLE_TERMS not in out:
        buf.write("# Terms added in the compliance console.\n")
        writer.writerow(HEADER)
    for t in new:
        writer.writerow((t.text, t.category, t.level))
    out[CONSOLE_TERMS] = _append(out.get(CONSOLE_TERMS, ""), buf.getvalue())
    out[policy] = _list_file(out[policy], "files", CONSOLE_TERMS)
    return out, new


def _without_rows(text: str, drop: object) -> tuple[str, int]:
    """``text`` without the data lines for which ``drop(line)`` is true."""
    assert callable(drop)
    kept: list[str] = []
    removed = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and drop(line):
            removed += 1
            continue
        kept.append(line)
    return "\n".join(kept), removed


def remove_term(files: dict[str, str], term: str, category: str) -> tuple[dict[str, str], int]:
    """The bundle without rows for (``term``, ``category``) in any term file; comments and
    other rows stay as they were."""

    def match(line: str) -> bool:
        row = next(csv.reader([line]), [])
        return len(row) >= 2 and row[0].strip() == term and row[1].strip() == category

    out = dict(files)
    removed = 0
    for rel in _term_files(files):
        out[rel], n = _without_rows(files[rel], match)
        removed += n
    return out, removed


# --- the allow list: entries that must never fire (one per line)


def _allow_files(files: dict[str, str], policy: str) -> list[str]:
    patterns = ((yaml_edit.load(files[policy]) or {}).get("lexicon") or {}).get("allow_files") or []
    return sorted(rel for rel in files if rel != policy
                  and any(fnmatch.fnmatchcase(rel, str(p)) for p in patterns))  # fmt: skip


def allow_entries(files: dict[str, str], policy: str) -> list[AllowEntry]:
    """Every allow-list entry of the bundle, with the file it lives in."""
    return [
        AllowEntry(line.strip(), rel)
        for rel in _allow_files(files, policy)
        for line in files[rel].split("\n")
        if line.strip() and not line.strip().startswith("#")
    ]


def check_allow(text: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_TERM_CHARS or any(ch in text for ch in "\r\n"):
        raise ValueError(f"an allow entry must have 1 to {MAX_TERM_CHARS} characters on one line")
    if text.startswith("#"):
        raise ValueError("an allow entry cannot start with #")
    return text


def add_allow(
    files: dict[str, str], policy: str, entries: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """The bundle with ``entries`` added to the console's allow file (created and listed in
    the policy when needed), and the entries that were new."""
    present = {e.text for e in allow_entries(files, policy)}
    new = [e for e in dict.fromkeys(entries) if e not in present]
    if not new:
        return files, []
    out = dict(files)
    head = "" if CONSOLE_ALLOW in out else "# Allow-list entries added in the compliance console.\n"
    out[CONSOLE_ALLOW] = _append(out.get(CONSOLE_ALLOW, ""), head + "".join(e + "\n" for e in new))
    out[policy] = _list_file(out[policy], "allow_files", CONSOLE_ALLOW)
    return out, new


def remove_allow(files: dict[str, str], policy: str, entry: str) -> tuple[dict[str, str], int]:
    """The bundle without ``entry`` in any allow file."""
    out = dict(files)
    removed = 0
    for rel in _allow_files(files, policy):
        out[rel], n = _without_rows(files[rel], lambda line: line.strip() == entry)
        removed += n
    return out, removed
