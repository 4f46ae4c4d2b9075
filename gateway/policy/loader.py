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

from gateway.policy.model import Policy, unknown_codes, unknown_codes_error

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a policy bundle. ``str()`` is ``file:line: message`` (English,
    for the CLI); ``loc``, ``kind`` and ``values`` say the same for a translation (the
    console speaks Chinese): the key path, the error type (pydantic's, or this project's:
    ``yaml``, ``duplicate_key``, ``not_mapping``, ``term_file``, ``lexicon_file``, ...)
    and what it is about (the value given, the values allowed, ...)."""

    file: str
    line: int
    message: str
    loc: tuple[str | int, ...] = ()
    kind: str = ""
    values: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"

    def value(self, name: str) -> str:
        return dict(self.values).get(name, "")


class PolicyError(Exception):
    """Every problem found; ``term_files`` are the readable term files of a policy that
    failed before they were checked (``gateway.policy.check`` checks them too)."""

    def __init__(self, problems: list[Problem], *, term_files: tuple[Path, ...] = ()) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems
        self.term_files = term_files


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


def _duplicate_keys(
    node: yaml.Node | None, file: str, loc: tuple[str | int, ...] = ()
) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                line = key.start_mark.line + 1
                where = (*loc, key.value)
                problems.append(
                    Problem(file, line, f"duplicate key '{key.value}'", where, "duplicate_key")
                )
            seen.add(key.value)
            problems.extend(_duplicate_keys(value, file, (*loc, key.value)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, file, (*loc, i)))
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


def _problem(file: str, node: yaml.Node | None, err: Any) -> Problem:
    """A pydantic error as a ``Problem``, keeping what a translation needs."""
    values: dict[str, str] = {}
    given = err.get("input")
    if isinstance(given, (str, int, float, bool)) or given is None:
        values["input"] = str(given)
    for k, v in (err.get("ctx") or {}).items():
        values[str(k)] = str(v)
    loc = tuple(err["loc"])
    return Problem(file, _line_of(node, loc), _message(err), loc, err["type"],
                   tuple(values.items()))  # fmt: skip


def _unknown_categories(data: dict[str, Any], node: yaml.Node | None, file: str) -> Problem | None:
    """The unknown-code check of ``categories``: pydantic runs it only when every entry is
    otherwise valid, so one mistake inside an entry would hide an unknown code until fixed."""
    cats = data.get("categories")
    unknown = unknown_codes(cats) if isinstance(cats, dict) else []
    if not unknown:
        return None
    err = {"loc": ("categories",), "type": "unknown_code", "input": None,
           "msg": unknown_codes_error(unknown).message(), "ctx": {"codes": ", ".join(unknown)}}  # fmt: skip
    return _problem(file, node, err)


def _compose(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    try:
        return yaml.compose(text, Loader=_LOADER), yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError:
        pass
    try:  # the pure-Python parser words its errors better than libyaml
        return yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e)
        raise PolicyError([Problem(file, line, f"invalid YAML: {problem}", (), "yaml",
                                   (("problem", str(problem)),))]) from None  # fmt: skip


def parse_policy(text: str, file: str) -> Policy:
    """Validate policy text; raise ``PolicyError`` listing every problem with its line."""
    node, data = _compose(text, file)
    return _validate(node, data, file)


def _validate(node: yaml.Node | None, data: Any, file: str) -> Policy:
    problems = _duplicate_keys(node, file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError([Problem(file, 1, "a policy must be a mapping of keys to values",
                                   (), "not_mapping")])  # fmt: skip
    try:
        policy = Policy.model_validate(data)
    except ValidationError as e:
        problems += [_problem(file, node, err) for err in e.errors()]
        unknown = _unknown_categories(data, node, file)
        if unknown is not None and not any(p.kind == "unknown_code" and p.loc == ("categories",)
                                           for p in problems):  # fmt: skip
            problems.append(unknown)
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


def _paths(data: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key path in nested mappings (leaves and inner nodes)."""
    if not isinstance(data, dict) or not data:
        return [prefix]
    return [p for k, v in data.items() for p in _paths(v, (*prefix, k))]


def _related(loc: tuple[str | int, ...], paths: list[tuple[str | int, ...]]) -> bool:
    return any(loc[: len(p)] == p or p[: len(loc)] == loc for p in paths)


def tenant_policies(text: str, policy: Policy | None, file: str) -> dict[str, Policy]:
    """Each tenant's policy: the base with its overrides merged in, validated strictly.

    With ``policy`` None (the base itself is invalid, its problems reported already) the
    tenants are still checked, each for the problems its own overrides cause."""
    node, data = _compose(text, file)
    return _tenants(node, data, policy, file)


def _tenants(
    node: yaml.Node | None, data: Any, policy: Policy | None, file: str
) -> dict[str, Policy]:
    raw = data.get("tenants") if isinstance(data, dict) else None
    if not isinstance(raw, dict) or not raw:
        return {}
    base = {k: v for k, v in data.items() if k != "tenants"}
    out: dict[str, Policy] = {}
    problems: list[Problem] = []
    for name, tenant in raw.items():
        overrides = tenant.get("overrides") if isinstance(tenant, dict) else None
        if not isinstance(overrides, dict):
            continue  # the base policy's validation reported it
        try:
            out[name] = Policy.model_validate(_merge(base, overrides))
        except ValidationError as e:
            mine = _paths(overrides)
            for err in e.errors():
                if policy is None and not _related(tuple(err["loc"]), mine):
                    continue  # a problem of the base policy, reported once already
                loc = ("tenants", name, "overrides", *err["loc"])
                problems.append(_problem(file, node, {**err, "loc": loc}))
    seen: dict[str, str] = {}
    for name, tenant in (policy.tenants if policy is not None else {}).items():
        for digest in tenant.api_keys_sha256:
            if digest in seen:
                line = _line_of(node, ("tenants", name, "api_keys_sha256"))
                problems.append(
                    Problem(file, line, f"API key is used by tenants '{seen[digest]}' and '{name}'",
                            ("tenants", name, "api_keys_sha256"), "shared_key",
                            (("other", seen[digest]), ("tenant", str(name))))
                )  # fmt: skip
            seen[digest] = name
    if problems:
        raise PolicyError(problems)
    return out


def expand_patterns(
    base: Path, patterns: tuple[str, ...], file: str, problems: list[Problem], line: int = 1
) -> tuple[Path, ...]:
    """Term-file names relative to the policy; glob patterns (``lexicon/*.csv``) allowed."""
    out: list[Path] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(base.glob(pattern))
            if not matches:
                problems.append(Problem(file, line, f"lexicon pattern '{pattern}' matches no file",
                                        ("lexicon",), "no_match", (("pattern", pattern),)))  # fmt: skip
            out.extend(matches)
        else:
            out.append(base / pattern)
    return tuple(out)


def _file_lists(data: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``lexicon.files`` and ``lexicon.allow_files`` as far as they can be read, even from a
    policy that failed validation (so its term files are still checked)."""
    lexicon = data.get("lexicon") if isinstance(data, dict) else None
    lexicon = lexicon if isinstance(lexicon, dict) else {}

    def strings(key: str) -> tuple[str, ...]:
        value = lexicon.get(key)
        return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

    return strings("files"), strings("allow_files")


def load_policy(path: Path) -> PolicySource:
    """Read, validate and hash a policy and the term files it names. Every stage runs even
    when one before it failed (schema, tenants, files), so one run names every problem."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PolicyError([Problem(file, 1, f"cannot read policy: {e.strerror}", (), "read",
                                   (("reason", str(e.strerror)),))]) from None  # fmt: skip
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError([Problem(file, 1, "policy file is not valid UTF-8", (),
                                   "encoding")]) from None  # fmt: skip
    problems: list[Problem] = []
    node, data = _compose(text, file)  # parsed once, for every stage below
    policy: Policy | None = None
    try:
        policy = _validate(node, data, file)
    except PolicyError as e:
        problems += e.problems
        if any(p.kind in ("yaml", "not_mapping") for p in e.problems):
            raise  # nothing more can be read from it
    tenants: dict[str, Policy] = {}
    try:
        tenants = _tenants(node, data, policy, file)
    except PolicyError as e:
        problems += e.problems
    files, allows = (
        (policy.lexicon.files, policy.lexicon.allow_files) if policy else _file_lists(data)
    )
    line = _line_of(node, ("lexicon",))
    term_files = expand_patterns(path.parent, files, file, problems, line)
    allow_files = expand_patterns(path.parent, allows, file, problems, line)
    tenant_files = {
        name: (expand_patterns(path.parent, t.lexicon.files, file, problems, line),
               expand_patterns(path.parent, t.lexicon.allow_files, file, problems, line))
        for name, t in tenants.items()
    }  # fmt: skip
    every = PolicySource(path, policy or Policy(), "", term_files, allow_files, tenants,
                         tenant_files).all_files  # fmt: skip
    digest = hashlib.sha256(raw)
    for f in every:  # tenant-only files too: editing one is a new version
        try:
            rel = f.relative_to(path.parent) if f.is_relative_to(path.parent) else f
            digest.update(str(rel).encode() + b"\0" + f.read_bytes())
        except OSError as e:
            problems.append(Problem(file, line, f"lexicon file '{f}': {e.strerror}", ("lexicon",),
                                    "lexicon_file", (("path", str(f)), ("reason", str(e.strerror)))))  # fmt: skip
    if policy is None and not problems:
        raise AssertionError("an invalid policy without problems")
    if policy is None or problems:
        raise PolicyError(problems, term_files=term_files)
    return PolicySource(
        path=path,
        policy=policy,
        version=digest.hexdigest()[:16],
        term_files=term_files,
        allow_files=allow_files,
        tenants=tenants,
        tenant_files=tenant_files,
    )
