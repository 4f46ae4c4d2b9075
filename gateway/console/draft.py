"""Pure edits of a policy bundle's YAML (``{relative path: text}``): rules, refusals,
settings, and the bundle's diff, validation and compilation.

A bundle is the policy YAML plus every term and allow file it uses, exactly as
``PolicyHolder.bundle()`` returns it. The console edits a copy (the draft) and only ever
writes the live folder when an approver publishes. Every edit is validated as it is made,
so a draft is always a policy the gateway would accept; edits change only the values they
set (``yaml_edit``), so the diff an approver reads is the edit and nothing else. Term and
allow files are edited in ``wordfiles``.
"""

from __future__ import annotations

import dataclasses
import difflib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gateway import taxonomy
from gateway.console import yaml_edit
from gateway.decision import Action
from gateway.policy.check import check_policy
from gateway.policy.compiled import PolicySet
from gateway.policy.loader import PolicyError, Problem, parse_policy
from gateway.policy.model import DirectionRule, Policy


@dataclass(frozen=True, slots=True)
class RuleEdit:
    """One category's rule in one direction, as the policy form submits it."""

    enabled: bool
    action: Action
    threshold: float
    review_threshold: float | None
    flag_threshold: float | None

    def values(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "action": self.action.value, "threshold": self.threshold,
                "review_threshold": self.review_threshold, "flag_threshold": self.flag_threshold}  # fmt: skip


_DEFAULT_RULE = DirectionRule()


def _dump(data: dict[str, Any]) -> str:
    # The whole-file rewrite, used only where an in-place edit is impossible (an unusual
    # layout); comments are lost then and the diff shows it.
    out: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return out


def _load(text: str) -> dict[str, Any]:
    data = _unshared(yaml_edit.load(text) or {})
    if not isinstance(data, dict):
        raise PolicyError([Problem("policy", 1, "a policy must be a mapping", (), "not_mapping")])
    return data


def _unshared(data: Any) -> Any:
    """A copy in which no mapping or list appears twice (YAML aliases share them), so
    changing one place never changes another."""
    if isinstance(data, dict):
        return {k: _unshared(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_unshared(v) for v in data]
    return data


def set_value(text: str, path: tuple[str, ...], value: Any) -> str:
    """``text`` with the value at ``path`` replaced, touching only what changes."""
    try:
        return yaml_edit.assign(text, path, value)
    except yaml_edit.EditFailed:
        data = _load(text)
        node = data
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
        return _dump(data)


def drop_value(text: str, path: tuple[str, ...]) -> str:
    """``text`` without the key at ``path``."""
    try:
        return yaml_edit.delete(text, path)
    except yaml_edit.EditFailed:
        data = _load(text)
        node: Any = data
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(path[-1], None)
        return _dump(data)


def set_rule(text: str, code: str, direction: str, rule: RuleEdit, file: str = "policy") -> str:
    """The policy text with ``code``'s rule for ``direction`` replaced; validated. Only the
    fields that change are written: an entry the file already has keeps its other keys
    and its layout, a missing one is added with the keys that differ from the defaults."""
    if not taxonomy.is_code(code) or direction not in ("input", "output"):
        raise PolicyError([Problem(file, 1, f"unknown category or direction: {code} {direction}",
                                   ("categories", code, direction), "unknown_code",
                                   (("codes", code),))])  # fmt: skip
    data = _load(text)
    cat = (data.get("categories") or {}).get(code)
    entry = cat.get(direction) if isinstance(cat, dict) else None
    path = ("categories", code, direction)
    wanted = rule.values()
    if not isinstance(entry, dict):
        value = {k: v for k, v in wanted.items()
                 if k in ("action", "threshold") or (v is not None and v != getattr(_DEFAULT_RULE, k))}  # fmt: skip
        new = set_value(text, path, value)
    else:
        new = text
        for key, value in wanted.items():
            default = getattr(_DEFAULT_RULE, key)
            default = default.value if isinstance(default, Action) else default
            if key in entry and value is None:
                new = drop_value(new, (*path, key))
            elif value is not None and entry.get(key, default) != value:
                new = set_value(new, (*path, key), value)
    parse_policy(new, file)
    return new


def set_refusal(text: str, code: str, zh: str, en: str, file: str = "policy") -> str:
    """The policy text with ``code``'s refusal set (both languages) or cleared (both empty)."""
    zh, en = zh.strip(), en.strip()
    path = ("categories", code, "refusal")
    new = set_value(text, path, {"zh": zh, "en": en}) if zh or en else drop_value(text, path)
    parse_policy(new, file)
    return new


def set_default_refusal(text: str, direction: str, zh: str, en: str, file: str = "policy") -> str:
    """The policy text with the default refusal for ``direction`` (used by every category
    without its own) replaced; both languages are required."""
    key = "refusal" if direction == "input" else "output_refusal"
    new = set_value(text, (key,), {"zh": zh.strip(), "en": en.strip()})
    parse_policy(new, file)
    return new


def set_setting(
    text: str, path: tuple[str, ...], value: Any, file: str = "policy", *, remove: bool = False
) -> str:
    """The policy text with a setting (``("audit", "text")``, a tenant, ...) set to
    ``value`` (None writes ``null``: "off" for an optional setting), or removed; validated."""
    new = drop_value(text, path) if remove else set_value(text, path, value)
    parse_policy(new, file)
    return new


@lru_cache(maxsize=8)
def parsed(text: str, file: str) -> Policy:
    """``parse_policy``, remembered: every policy page needs the model. ``Policy`` is
    immutable."""
    return parse_policy(text, file)


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
    """Validate fully (load, term files, matcher) exactly as a reload would, and report
    every problem at once; the returned set's version is the one the gateway will report
    once this bundle is live."""
    with materialized(files, policy) as path:
        compiled, problems = check_policy(path)
    # Problems name the temporary folder; ``bundle_problems`` gives them the bundle's paths.
    if compiled is None:
        raise PolicyError(problems)
    return compiled


def bundle_problems(err: PolicyError, tmp_hint: str = "console-draft-") -> list[Problem]:
    """The problems with the temporary folder cut from file names (``lexicon/a.csv``)."""
    out = []
    for p in err.problems:
        file = p.file
        if tmp_hint in file:
            file = file.split(tmp_hint, 1)[1].split("/", 1)[-1]
        out.append(dataclasses.replace(p, file=file))
    return out
