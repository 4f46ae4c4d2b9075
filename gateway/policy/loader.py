"""Loading policy files: YAML -> strict model, with every problem as ``file:line: message``.

A policy's version is a content hash over the policy file and every term file it or any
tenant uses, so the same rules always carry the same version, on every replica, and an edit
to any of those files is a new version. The YAML is parsed once; term-file patterns are
expanded once, here, and the lists travel with the ``PolicySource``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.policy.model import Policy


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class PolicyError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class PolicySource:
    """A validated policy plus the files it was built from."""

    path: Path
    policy: Policy
    version: str
    term_files: tuple[Path, ...]
    allow_files: tuple[Path, ...]
    tenants: dict[str, Policy] = field(default_factory=dict)  # merged tenant policies
    # Each tenant's (term files, allow files), as its merged policy names them.
    tenant_files: dict[str, tuple[tuple[Path, ...], tuple[Path, ...]]] = field(default_factory=dict)

    def files_for(self, tenant: str | None) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        if tenant is None:
            return self.term_files, self.allow_files
        return self.tenant_files[tenant]

    @property
    def all_files(self) -> tuple[Path, ...]:
        """Every term and allow file the base policy or any tenant uses, once, sorted."""
        files = {*self.term_files, *self.allow_files}
        for terms, allow in self.tenant_files.values():
            files.update(terms)
            files.update(allow)
        return tuple(sorted(files))


def _line_of(node: yaml.Node | None, loc: Iterable[Any]) -> int:
    """The 1-based line of the deepest YAML node that ``loc`` reaches."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node: yaml.Node | None, file: str) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                problems.append(
                    Problem(file, key.start_mark.line + 1, f"duplicate key '{key.value}'")
                )
            seen.add(key.value)
            problems.extend(_duplicate_keys(value, file))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems.extend(_duplicate_keys(item, file))
    return problems


def _message(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'" + (
            f" in '{'.'.join(map(str, err['loc'][:-1]))}'" if len(err["loc"]) > 1 else ""
        )
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{loc}: {msg}" if loc else msg


def _parse_yaml(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """The YAML's node tree (for line numbers) and its data, from one parse."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.SafeLoader(text).construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        raise PolicyError([Problem(file, line, f"invalid YAML: {problem}")]) from None
    return node, data


def parse_policy(text: str, file: str) -> Policy:
    """Validate policy text; raise ``PolicyError`` listing every problem with its line."""
    node, data = _parse_yaml(text, file)
    return _validate(node, data, file)


def _validate(node: yaml.Node | None, data: Any, file: str) -> Policy:
    problems = _duplicate_keys(node, file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError([Problem(file, 1, "a policy must be a mapping of keys to values")])
    try:
        policy = Policy.model_validate(data)
    except ValidationError as e:
        problems += [Problem(file, _line_of(node, err["loc"]), _message(err)) for err in e.errors()]
        raise PolicyError(sorted(problems, key=lambda p: p.line)) from None
    if problems:
        raise PolicyError(problems)
    return policy


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def tenant_policies(text: str, policy: Policy, file: str) -> dict[str, Policy]:
    """Each tenant's policy: the base with its overrides merged in, validated strictly."""
    node, data = _parse_yaml(text, file)
    return _tenants(node, data or {}, policy, file)


def _tenants(
    node: yaml.Node | None, data: dict[str, Any], policy: Policy, file: str
) -> dict[str, Policy]:
    if not policy.tenants:
        return {}
    base = {k: v for k, v in data.items() if k != "tenants"}
    out: dict[str, Policy] = {}
    problems: list[Problem] = []
    for name, tenant in policy.tenants.items():
        try:
            out[name] = Policy.model_validate(_merge(base, tenant.overrides))
        except ValidationError as e:
            for err in e.errors():
                loc = ("tenants", name, "overrides", *err["loc"])
                problems.append(Problem(file, _line_of(node, loc), _message({**err, "loc": loc})))
    seen: dict[str, str] = {}
    for name, tenant in policy.tenants.items():
        for digest in tenant.api_keys_sha256:
            if digest in seen:
                line = _line_of(node, ("tenants", name, "api_keys_sha256"))
                problems.append(
                    Problem(file, line, f"API key is used by tenants '{seen[digest]}' and '{name}'")
                )
            seen[digest] = name
    if problems:
        raise PolicyError(problems)
    return out


def expand_patterns(
    base: Path, patterns: tuple[str, ...], file: str, problems: list[Problem]
) -> tuple[Path, ...]:
    """Term-file names relative to the policy; glob patterns (``lexicon/*.csv``) allowed."""
    out: list[Path] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(base.glob(pattern))
            if not matches:
                problems.append(Problem(file, 1, f"lexicon pattern '{pattern}' matches no file"))
            out.extend(matches)
        else:
            out.append(base / pattern)
    return tuple(out)


def load_policy(path: Path) -> PolicySource:
    """Read, validate and hash a policy and the term files it names."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PolicyError([Problem(file, 1, f"cannot read policy: {e.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError([Problem(file, 1, "policy file is not valid UTF-8")]) from None
    node, data = _parse_yaml(text, file)
    policy = _validate(node, data, file)
    tenants = _tenants(node, data or {}, policy, file)
    base = path.parent
    problems: list[Problem] = []

    def files_of(p: Policy) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
        return (expand_patterns(base, p.lexicon.files, file, problems),
                expand_patterns(base, p.lexicon.allow_files, file, problems))  # fmt: skip

    term_files, allow_files = files_of(policy)
    tenant_files = {name: files_of(p) for name, p in tenants.items()}
    source = PolicySource(path, policy, "", term_files, allow_files, tenants, tenant_files)
    digest = hashlib.sha256(raw)
    for f in source.all_files:  # tenant-only files too: editing one is a new version
        try:
            rel = f.relative_to(base) if f.is_relative_to(base) else f
            digest.update(str(rel).encode() + b"\0" + f.read_bytes())
        except OSError as e:
            problems.append(Problem(file, 1, f"lexicon file '{f}': {e.strerror}"))
    if problems:
        raise PolicyError(problems)
    return PolicySource(path, policy, digest.hexdigest()[:16], term_files, allow_files,
                        tenants, tenant_files)  # fmt: skip
