"""The decision: a pure function of (policy, facts).

No Redis, HTTP or clock in here. The pipeline gathers facts (keyword and pattern hits,
classifier scores, the user's sanction state) and this module turns them into a ``Decision``
with the reasons a reviewer needs to see why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.decision import Action, Decision, Direction, Reason
from gateway.lexicon.patterns import redact
from gateway.policy.model import DirectionRule, Policy

UserStatus = Literal["ok", "warned", "restricted", "suspended"]

# A term's level picks the action: 3 (an explicit request or instruction for the harm)
# applies the category's action, 2 (a strong signal) sends to review, 1 (a weak signal,
# common in news and teaching) only flags. The term files document the same scale.
TOP_LEVEL = 3
_LEVEL_ACTION = {2: Action.REVIEW, 1: Action.FLAG}


@dataclass(frozen=True, slots=True)
class KeywordFact:
    term: str
    category: str
    level: int
    text_index: int  # which of the checked texts
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class PatternFact:
    kind: str  # cn_id, cn_mobile, bank_card, email
    text_index: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class CascadeFact:
    """A text the first classifier was unsure of, sent to the second (``policy.cascade``)."""

    text_index: int
    category: str
    first: float  # the first stage's score
    second: float | None  # the second stage's, None when it did not answer in time
    first_model: str  # name@version of each stage, so the decision names both
    second_model: str


@dataclass(frozen=True, slots=True)
class Facts:
    direction: Direction
    texts: Sequence[str]
    keywords: Sequence[KeywordFact] = ()
    patterns: Sequence[PatternFact] = ()
    scores: dict[str, float] = field(default_factory=dict)  # max over texts
    user_status: UserStatus = "ok"
    classifier_failed: bool = False
    language: str = "none"  # the texts' script language (gateway.moderation.language)
    cascade: Sequence[CascadeFact] = ()


PII_CATEGORY = "A4.06"
SANCTION_CATEGORY = "X3"
SUSPENDED_DETAIL = "user suspended"


def score_action(rule: DirectionRule, score: float) -> Action | None:
    """What one classifier score asks for under a rule (None: below every threshold)."""
    if score >= rule.threshold:
        return rule.action
    if rule.review_threshold is not None and score >= rule.review_threshold:
        return Action.REVIEW
    if rule.flag_threshold is not None and score >= rule.flag_threshold:
        return Action.FLAG
    return None


def evaluate(
    policy: Policy, facts: Facts, *, decision_id: str, version: str, language: str
) -> Decision:
    """Turn facts into a decision. Deterministic: same inputs, same decision."""
    d = facts.direction.value
    reasons: list[Reason] = []
    if facts.user_status == "suspended" and facts.direction is Direction.INPUT:
        reasons.append(Reason("sanction", SANCTION_CATEGORY, SUSPENDED_DETAIL, Action.BLOCK))
    reasons += _keyword_reasons(policy, facts, d)
    reasons += _pattern_reasons(policy, facts, d)
    reasons += _classifier_reasons(policy, facts, d)
    for c in facts.cascade:  # informational: the scores above already carry the verdict
        reasons.append(Reason("cascade", c.category, _cascade_detail(c), Action.ALLOW,
                              text_index=c.text_index))  # fmt: skip
    if facts.classifier_failed:
        fail = Action.BLOCK if policy.fail_mode == "closed" else Action.FLAG
        reasons.append(Reason("unavailable", "X2", "classifier unavailable", fail))

    acting = [r for r in reasons if r.action is not Action.ALLOW]
    action = max((r.action for r in acting), key=lambda a: a.severity, default=Action.ALLOW)
    if (
        facts.user_status == "restricted"
        and facts.direction is Direction.INPUT
        and action in (Action.FLAG, Action.REVIEW)
    ):
        # Art. 14(2) "function restriction": a restricted user's borderline input is refused.
        escalated = Reason("sanction", acting[0].category, "user restricted: escalated",
                           Action.BLOCK)  # fmt: skip
        reasons.append(escalated)
        acting.insert(0, escalated)
        action = Action.BLOCK
    return Decision(
        id=decision_id,
        direction=facts.direction,
        action=action,
        categories=tuple(dict.fromkeys(r.category for r in acting)),
        scores=dict(facts.scores),
        reasons=tuple(reasons),
        policy_version=version,
        refusal=_refusal(policy, acting, d, language) if action is Action.BLOCK else "",
        redacted=_redact(facts, acting, policy.pii.mask) if action is Action.REDACT else None,
    )


def _keyword_reasons(policy: Policy, facts: Facts, d: str) -> list[Reason]:
    out = []
    for kw in facts.keywords:
        rule = policy.rule(kw.category, d)
        if rule.enabled:
            level_action = (
                rule.action if kw.level >= TOP_LEVEL else _LEVEL_ACTION.get(kw.level, Action.FLAG)
            )
            out.append(Reason("keyword", kw.category, kw.term, level_action, kw.start, kw.end,
                              kw.text_index))  # fmt: skip
    return out


def _pattern_reasons(policy: Policy, facts: Facts, d: str) -> list[Reason]:
    if not (policy.pii.enabled and facts.patterns and policy.rule(PII_CATEGORY, d).enabled):
        return []
    action = policy.pii.input_action if d == "input" else policy.pii.output_action
    return [Reason("pattern", PII_CATEGORY, p.kind, action, p.start, p.end, p.text_index)
            for p in facts.patterns]  # fmt: skip


def _classifier_reasons(policy: Policy, facts: Facts, d: str) -> list[Reason]:
    out = []
    trusted = _classifier_trusted(policy, facts.language)
    for code, score in sorted(facts.scores.items()):
        rule = policy.rule(code, d)
        action = score_action(rule, score) if rule.enabled else None
        if action is None:
            continue
        detail = f"score {score:.3f} >= {_threshold_for(rule, action):g}"  # 0.725, not 0.72
        if not trusted and action.severity > Action(policy.classifier.elsewhere).severity:
            # A language the model was not validated on: a human decides, not the model.
            action = Action(policy.classifier.elsewhere)
            detail += f" (language {facts.language}: {action.value} only)"
        out.append(Reason("classifier", code, detail, action))
    return out


def _refusal(policy: Policy, acting: list[Reason], d: str, language: str) -> str:
    first = next(r for r in acting if r.action is Action.BLOCK)
    if first.kind != "sanction":
        return policy.refusal_for(first.category, d, language)
    # The message names the sanction actually applied: suspension or restriction.
    spec = policy.sanctions
    suspended = first.detail == SUSPENDED_DETAIL
    return (spec.message if suspended else spec.restricted_message).pick(language)


def _classifier_trusted(policy: Policy, language: str) -> bool:
    allowed = policy.classifier.languages
    return not allowed or language == "none" or language in allowed


def _cascade_detail(c: CascadeFact) -> str:
    second = "no answer in time" if c.second is None else f"{c.second:.3f}"
    return f"escalated: {c.first_model} {c.first:.3f} -> {c.second_model} {second}"


def _threshold_for(rule: DirectionRule, action: Action) -> float:
    if action is Action.REVIEW and rule.review_threshold is not None:
        return rule.review_threshold
    if action is Action.FLAG and rule.flag_threshold is not None:
        return rule.flag_threshold
    return rule.threshold


def _redact(facts: Facts, acting: list[Reason], mask: str) -> tuple[str, ...]:
    """Texts with every span whose reason says ``redact`` replaced by ``mask``."""
    spans: dict[int, list[tuple[int, int]]] = {}
    for r in acting:
        if r.action is Action.REDACT and r.start is not None and r.end is not None:
            if r.text_index is not None:
                spans.setdefault(r.text_index, []).append((r.start, r.end))
    out = list(facts.texts)
    for i, ranges in spans.items():
        out[i] = redact(out[i], ranges, mask)
    return tuple(out)
