"""A policy ready to serve: the validated model plus its compiled keyword matcher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway import taxonomy
from gateway.lexicon.library import load_allow_file, load_term_file
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


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    source: PolicySource
    matcher: Matcher
    normalize: NormalizeConfig

    @property
    def policy(self) -> Policy:
        return self.source.policy

    @property
    def version(self) -> str:
        return self.source.version

    @property
    def holdback_chars(self) -> int:
        """Normalized characters a stream must hold back before releasing text."""
        stream = self.policy.stream
        keyword = 0 if stream.holdback == "prefix" else max(self.matcher.max_term_len - 1, 0)
        return keyword + HOLDBACK_SLACK + stream.extra_holdback_chars


def _inline_terms(source: PolicySource) -> list[Term]:
    terms: list[Term] = []
    problems: list[Problem] = []
    for i, entry in enumerate(source.policy.lexicon.terms):
        parts = entry.split("|")
        if len(parts) not in (2, 3) or not parts[0].strip():
            problems.append(
                Problem(str(source.path), 1, f"lexicon.terms[{i}]: expected 'term|CODE[|level]'")
            )
            continue
        level = int(parts[2]) if len(parts) == 3 and parts[2].strip().isdigit() else TOP_LEVEL
        terms.append(Term(parts[0].strip(), parts[1].strip(), level))
    if problems:
        raise PolicyError(problems)
    return terms


def compile_policy(source: PolicySource) -> ActivePolicy:
    spec = source.policy.lexicon
    cfg = NormalizeConfig(**spec.normalize.model_dump())
    terms: list[Term] = []
    allow: list[str] = []
    problems: list[Problem] = []
    for f in source.term_files:
        try:
            terms.extend(load_term_file(f))
        except (OSError, ValueError) as e:
            problems.append(Problem(str(f), getattr(e, "line", 1) or 1, str(e)))
    for f in source.allow_files:
        try:
            allow.extend(load_allow_file(f))
        except (OSError, ValueError) as e:
            problems.append(Problem(str(f), 1, str(e)))
    if problems:
        raise PolicyError(problems)
    terms.extend(_inline_terms(source))
    bad = sorted({t.category for t in terms if not taxonomy.is_code(t.category)})
    if bad:
        raise PolicyError(
            [
                Problem(
                    str(source.path), 1, f"lexicon uses unknown taxonomy code(s): {', '.join(bad)}"
                )
            ]
        )
    matcher = Matcher(terms, allow, config=cfg, variants=_variants(source.policy))
    return ActivePolicy(source=source, matcher=matcher, normalize=cfg)


def _variants(policy: Policy) -> VariantConfig:
    v = policy.lexicon.variants
    return VariantConfig(pinyin=v.pinyin, homophones=v.homophones)


def load_active(path: Path) -> ActivePolicy:
    return compile_policy(load_policy(path))
