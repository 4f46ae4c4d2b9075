"""Pure edits of a policy bundle (``{relative path: text}``): rules, refusals, terms, diffs.

A bundle is the policy YAML plus every term and allow file it uses, exactly as
``PolicyHolder.bundle()`` returns it. The console edits a copy (the draft) and only ever
writes the live folder when an approver publishes. Every edit is validated as it is made,
so a draft is always a policy the gateway would accept.
"""

from __future__ import annotations

import csv
import difflib
import fnmatch
import io
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gateway import taxonomy
from gateway.decision import Action
from gateway.lexicon.library import HEADER, LexiconError, load_term_file
from gateway.lexicon.matcher import Term
from gateway.policy.compiled import PolicySet, compile_policy
from gateway.policy.loader import PolicyError, Problem, load_policy, parse_policy
from gateway.policy.model import Policy

CONSOLE_TERMS = "lexicon/console.csv"  # where terms added in the console go
MAX_TERM_CHARS = 64


@dataclass(frozen=True, slots=True)
class RuleEdit:
    """One category's rule in one direction, as the policy form submits it."""

    enabled: bool
    action: Action
    threshold: float
    review_threshold: float | None
    flag_threshold: float | None


@dataclass(frozen=True, slots=True)
class LibraryTerm:
    text: str
    category: str
    level: int
    file: str


def _dump(data: dict[str, Any]) -> str:
    # Flow style for leaf mappings keeps the category table one line per direction, as
    # compliance staff wrote it; comments of the original file are not kept (see docs).
    out: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return out


def _load(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise PolicyError([Problem("policy", 1, "a policy must be a mapping")])
    return data


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _splice(text: str, code: str, entry: dict[str, Any]) -> str | None:
    """``text`` with only the ``categories.<code>`` entry rewritten, so every comment and
    the layout of the rest of the file survive an edit. None when the file's layout is not
    the plain one this understands (the caller then rewrites the whole file)."""
    lines = text.split("\n")
    top = next((i for i, ln in enumerate(lines) if ln.rstrip() == "categories:"), None)
    if top is None:
        return None
    end = next(
        (i for i in range(top + 1, len(lines))
         if lines[i].strip() and not lines[i].lstrip().startswith("#") and _indent(lines[i]) == 0),
        len(lines),
    )  # fmt: skip
    children = [i for i in range(top + 1, end)
                if lines[i].strip() and not lines[i].lstrip().startswith("#")]  # fmt: skip
    indent = _indent(lines[children[0]]) if children else 2
    dumped = yaml.safe_dump({code: entry}, allow_unicode=True, sort_keys=False, width=4096,
                            default_flow_style=None).rstrip("\n").split("\n")  # fmt: skip
    new = [" " * indent + ln for ln in dumped]
    start = next((i for i in children if _indent(lines[i]) == indent
                  and lines[i].strip().split(":", 1)[0].strip("'\"") == code), None)  # fmt: skip
    if start is None:
        return "\n".join([*lines[: top + 1], *new, *lines[top + 1 :]])
    stop = start + 1
    while stop < end and (not lines[stop].strip() or _indent(lines[stop]) > indent):
        stop += 1
    while stop > start + 1 and not lines[stop - 1].strip():
        stop -= 1  # keep blank lines that separate groups
    return "\n".join([*lines[:start], *new, *lines[stop:]])


def _splice_top(text: str, key: str, value: Any) -> str | None:
    """``text`` with only the top-level ``key`` rewritten (None when it is not there)."""
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.startswith(f"{key}:")), None)
    if start is None:
        return None
    stop = start + 1
    while stop < len(lines) and (not lines[stop].strip() or _indent(lines[stop]) > 0):
        stop += 1
    while stop > start + 1 and not lines[stop - 1].strip():
        stop -= 1
    dumped = yaml.safe_dump({key: value}, allow_unicode=True, sort_keys=False, width=4096)
    return "\n".join([*lines[:start], *dumped.rstrip("\n").split("\n"), *lines[stop:]])


def set_default_refusal(text: str, direction: str, zh: str, en: str, file: str = "policy") -> str:
    """The policy text with the default refusal for ``direction`` (used by every category
    without its own) replaced; both languages are required."""
    key = "refusal" if direction == "input" else "output_refusal"
    data = _load(text)
    data[key] = {"zh": zh.strip(), "en": en.strip()}
    spliced = _splice_top(text, key, data[key])
    new = spliced if spliced is not None and yaml.safe_load(spliced) == data else _dump(data)
    parse_policy(new, file)
    return new


def _with_category(text: str, data: dict[str, Any], code: str) -> str:
    """The new policy text for ``data``, where only ``categories.<code>`` changed."""
    spliced = _splice(text, code, data["categories"][code])
    if spliced is not None and yaml.safe_load(spliced) == data:
        return spliced
    return _dump(data)


def set_rule(text: str, code: str, direction: str, rule: RuleEdit, file: str = "policy") -> str:
    """The policy text with ``code``'s rule for ``direction`` replaced; validated."""
    if not taxonomy.is_code(code) or direction not in ("input", "output"):
        raise PolicyError([Problem(file, 1, f"unknown category or direction: {code} {direction}")])
    data = _load(text)
    cats = data.setdefault("categories", {}) or {}
    data["categories"] = cats
    cat = cats.get(code) or {}
    entry: dict[str, Any] = {
        "enabled": rule.enabled,
        "action": rule.action.value,
        "threshold": rule.threshold,
    }
    if rule.review_threshold is not None:
        entry["review_threshold"] = rule.review_threshold
    if rule.flag_threshold is not None:
        entry["flag_threshold"] = rule.flag_threshold
    cat[direction] = entry
    cats[code] = cat
    new = _with_category(text, data, code)
    parse_policy(new, file)
    return new


def set_refusal(text: str, code: str, zh: str, en: str, file: str = "policy") -> str:
    """The policy text with ``code``'s refusal set (both languages) or cleared (both empty)."""
    data = _load(text)
    cats = data.setdefault("categories", {}) or {}
    data["categories"] = cats
    cat = cats.get(code) or {}
    zh, en = zh.strip(), en.strip()
    if zh or en:
        cat["refusal"] = {"zh": zh, "en": en}
    else:
        cat.pop("refusal", None)
    cats[code] = cat
    new = _with_category(text, data, code)
    parse_policy(new, file)
    return new


def _term_files(files: dict[str, str]) -> list[str]:
    return sorted(p for p in files if p.lower().endswith(".csv"))


def _read_terms(rel: str, text: str) -> list[Term]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePosixPath(rel).name
        path.write_text(text, "utf-8")
        try:
            return load_term_file(path)
        except LexiconError as e:
            raise PolicyError([Problem(rel, 1, str(e).replace(str(path), rel))]) from None


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


@lru_cache(maxsize=8)
def parsed(text: str, file: str) -> Policy:
    """``parse_policy``, remembered: YAML parsing is pure Python (~50-100 ms for the
    shipped policy) and every policy page needs the model. ``Policy`` is immutable."""
    return parse_policy(text, file)


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


def _covered(policy_text: str, rel: str) -> bool:
    lexicon = (_load(policy_text).get("lexicon") or {}).get("files") or []
    return any(fnmatch.fnmatchcase(rel, str(p)) for p in lexicon)


def add_terms(
    files: dict[str, str], policy: str, terms: Iterable[Term]
) -> tuple[dict[str, str], int]:
    """The bundle with ``terms`` appended to the console's term file (created and listed in
    the policy when needed); terms already present with that category are skipped."""
    present = {(t.text, t.category) for t in library(files)}
    new = [t for t in dict.fromkeys(terms) if (t.text, t.category) not in present]
    if not new:
        return files, 0
    out = dict(files)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if CONSOLE_TERMS not in out:
        buf.write("# Terms added in the compliance console.\n")
        writer.writerow(HEADER)
    for t in new:
        writer.writerow((t.text, t.category, t.level))
    existing = out.get(CONSOLE_TERMS, "")
    if existing and not existing.endswith("\n"):
        existing += "\n"
    out[CONSOLE_TERMS] = existing + buf.getvalue()
    if not _covered(out[policy], CONSOLE_TERMS):
        data = _load(out[policy])
        lexicon = data.setdefault("lexicon", {}) or {}
        data["lexicon"] = lexicon
        lexicon["files"] = [*(lexicon.get("files") or []), CONSOLE_TERMS]
        out[policy] = _dump(data)
    return out, len(new)


def remove_term(files: dict[str, str], term: str, category: str) -> tuple[dict[str, str], int]:
    """The bundle without rows for (``term``, ``category``) in any term file; comments and
    other rows stay as they were."""
    out = dict(files)
    removed = 0
    for rel in _term_files(files):
        kept: list[str] = []
        for line in files[rel].split("\n"):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                row = next(csv.reader([line]), [])
                if len(row) >= 2 and row[0].strip() == term and row[1].strip() == category:
                    removed += 1
                    continue
            kept.append(line)
        out[rel] = "\n".join(kept)
    return out, removed


@dataclass(frozen=True, slots=True)
class FileDiff:
    file: str
    lines: tuple[str, ...]  # unified diff lines, without the two file headers


def diff(live: dict[str, str], draft: dict[str, str]) -> list[FileDiff]:
    """Per-file unified diffs of the draft against the live bundle (added/removed files too)."""
    out: list[FileDiff] = []
    for rel in sorted(set(live) | set(draft)):
        a, b = live.get(rel, ""), draft.get(rel, "")
        if a == b:
            continue
        lines = difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=2)
        out.append(FileDiff(rel, tuple(list(lines)[2:])))
    return out


def safe_rel(rel: str) -> PurePosixPath:
    """A bundle path that stays inside the policy folder; raises ``ValueError`` otherwise."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"path outside the policy folder: {rel!r}")
    return p


@contextmanager
def materialized(files: dict[str, str], policy: str) -> Iterator[Path]:
    """The bundle written to a temporary folder; yields the policy file's path."""
    with tempfile.TemporaryDirectory(prefix="console-draft-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            dest = root / safe_rel(rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, "utf-8")
        yield root / safe_rel(policy)


def compile_bundle(files: dict[str, str], policy: str) -> PolicySet:
    """Validate fully (load, term files, matcher) exactly as a reload would; the returned
    set's version is the one the gateway will report once this bundle is live."""
    with materialized(files, policy) as path:
        source = load_policy(path)
        compiled = compile_policy(source)
    # Problems name the temporary folder; callers show them with the bundle's own paths.
    return compiled


def problems_text(err: PolicyError, tmp_hint: str = "console-draft-") -> list[str]:
    """Problems with temporary folders cut from the file names."""
    out = []
    for p in err.problems:
        file = p.file
        if tmp_hint in file:
            file = file.split(tmp_hint, 1)[1].split("/", 1)[-1]
        out.append(f"{file}:{p.line}: {p.message}")
    return out
