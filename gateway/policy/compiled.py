"""Policies ready to serve: validated models plus their compiled keyword matchers.

A ``PolicySet`` is what one policy file becomes: the base policy and each tenant's merged
policy, all with the same version (the file's content hash). Tenants that keep the base
lexicon share its matcher.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from gateway import taxonomy
from gateway.lexicon.library import LexiconError, load_allow_file, load_term_file
from gateway.lexicon.matcher import Matcher, Term
from gateway.lexicon.normalize import NormalizeConfig
from gateway.lexicon.variants import VariantConfig
from gateway.policy.engine import TOP_LEVEL
from gateway.policy.loader import PolicyError, PolicySource, Problem, load_policy
from gateway.policy.model import Policy

# Normalization near the end of a growing text can still change when more arrives (a
# trailing separator may be stripped once the next CJK character comes), so the stream
# moderator keeps this many normalized characters more than the longest term needs.
HOLDBACK_SLACK = 2
DEFAULT_TENANT = "default"


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    policy: Policy
    version: str
    matcher: Matcher
    normalize: NormalizeConfig
    tenant: str = DEFAULT_TENANT

    @property
    def holdback_chars(self) -> int:
        """Normalized characters a stream must hold back before releasing text."""
        stream = self.policy.stream
        if stream.holdback == "prefix":  # the moderator adds what could still grow into a term
            return stream.extra_holdback_chars
        keyword = max(self.matcher.max_term_len - 1, 0)
        return keyword + HOLDBACK_SLACK + stream.extra_holdback_chars


@dataclass(frozen=True, slots=True)
class PolicySet:
    path: Path
    base: ActivePolicy
    tenants: dict[str, ActivePolicy]
    keys: dict[str, str]  # SHA-256 hex of an API key -> tenant name

    @property
    def version(self) -> str:
        return self.base.version

    @property
    def requires_key(self) -> bool:
        """With tenants configured, every request must carry a known gateway API key."""
        return bool(self.keys)

    def for_tenant(self, tenant: str) -> ActivePolicy:
        return self.tenants.get(tenant, self.base)

    def tenant_for_key(self, api_key: str) -> str | None:
        return self.keys.get(hash_key(api_key))


def hash_key(api_key: str) -> str:
    # Gateway keys are long random tokens, so a plain SHA-256 is enough to keep them
    # out of policy files; a slow password hash would cost every request.
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _inline_terms(policy: Policy, file: str) -> list[Term]:
    terms: list[Term] = []
    problems: list[Problem] = []
    for i, entry in enumerate(policy.lexicon.terms):
        parts = entry.split("|")
        if len(parts) not in (2, 3) or not parts[0].strip():
            problems.append(Problem(file, 1, f"lexicon.terms[{i}]: expected 'term|CODE[|level]'",
                                    ("lexicon", "terms", i), "inline_term"))  # fmt: skip
            continue
        level = int(parts[2]) if len(parts) == 3 and parts[2].strip().isdigit() else TOP_LEVEL
        terms.append(Term(parts[0].strip(), parts[1].strip(), level))
    if problems:
        raise PolicyError(problems)
    return terms


def read_word_files(
    term_files: tuple[Path, ...], allow_files: tuple[Path, ...], problems: list[Problem]
) -> tuple[list[Term], list[str]]:
    """Every term and allow entry of the files; each bad row is one problem under its own
    file and line (every file is read, so one check names them all)."""
    terms: list[Term] = []
    allow: list[str] = []
    for f in term_files:
        try:
            terms.extend(load_term_file(f))
        except LexiconError as e:
            problems.extend(Problem(str(f), line, message, (), "term_file",
                                    (("message", message),)) for line, message in e.rows)  # fmt: skip
        except OSError as e:
            problems.append(Problem(str(f), 1, f"cannot read: {e.strerror}", (), "read",
                                    (("reason", str(e.strerror)),)))  # fmt: skip
    for f in allow_files:
        try:
            allow.extend(load_allow_file(f))
        except OSError as e:
            problems.append(Problem(str(f), 1, f"cannot read: {e.strerror}", (), "read",
                                    (("reason", str(e.strerror)),)))  # fmt: skip
    return terms, allow


def _matcher(
    policy: Policy, files: tuple[tuple[Path, ...], tuple[Path, ...]], file: str
) -> tuple[Matcher, NormalizeConfig]:
    spec = policy.lexicon
    cfg = NormalizeConfig(**spec.normalize.model_dump())
    problems: list[Problem] = []
    terms, allow = read_word_files(*files, problems)
    if problems:
        raise PolicyError(problems)
    terms.extend(_inline_terms(policy, file))
    bad = sorted({t.category for t in terms if not taxonomy.is_code(t.category)})
    if bad:
        raise PolicyError(
            [Problem(file, 1, f"lexicon uses unknown taxonomy code(s): {', '.join(bad)}",
                     ("lexicon", "terms"), "unknown_code", (("codes", ", ".join(bad)),))]
        )  # fmt: skip
    variants = VariantConfig(pinyin=spec.variants.pinyin, homophones=spec.variants.homophones)
    return Matcher(terms, allow, config=cfg, variants=variants), cfg


def compile_policy(source: PolicySource) -> PolicySet:
    file = str(source.path)
    matcher, cfg = _matcher(source.policy, source.files_for(None), file)
    base = ActivePolicy(source.policy, source.version, matcher, cfg)
    tenants: dict[str, ActivePolicy] = {}
    for name, policy in source.tenants.items():
        if policy.lexicon == source.policy.lexicon:
            t_matcher, t_cfg = matcher, cfg
        else:
            t_matcher, t_cfg = _matcher(policy, source.files_for(name), file)
        tenants[name] = ActivePolicy(policy, source.version, t_matcher, t_cfg, tenant=name)
    keys = {
        digest: name
        for name, spec in source.policy.tenants.items()
        for digest in spec.api_keys_sha256
    }
    return PolicySet(source.path, base, tenants, keys)


def load_policy_set(path: Path) -> PolicySet:
    return compile_policy(load_policy(path))
