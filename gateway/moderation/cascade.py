"""Cascades: texts the first classifier is unsure of go to a second, stronger one.

A pipeline stage, not a ``Classifier``: the bands, the latency budget and the fail mode
are policy (per tenant, reloaded live), and the classifier seam knows no policy. The stage
sits between the first classifier and the policy engine:

    first-stage scores per text
      -> a text with any score inside its category's band (policy.cascade.bands) escalates
      -> second.classify(escalated texts) within policy.cascade.budget_ms
      -> per escalated text: the second stage's score replaces the first's for the banded
         categories, and anything else it finds is added (it never clears a category the
         first stage was sure of)
      -> no answer in time: the texts keep the first stage's scores and the check counts
         as a classifier failure, so policy.fail_mode decides

Each escalation becomes a ``CascadeFact`` for the policy engine, which names both models
in the decision's reasons. Metrics: texts per deciding stage, what the second stage did
to the classifier's action (upheld, raised, lowered, unavailable), and time waited.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.classifier import Classifier, ClassifierUnavailable, Scores
from gateway.decision import Action, Direction
from gateway.metrics import CASCADE_OUTCOMES, Metrics
from gateway.policy.engine import CascadeFact, score_action
from gateway.policy.model import Policy


@dataclass(frozen=True, slots=True)
class Refined:
    scores: list[Scores]  # per text, after the second stage
    facts: tuple[CascadeFact, ...]
    failed: bool  # the second stage did not answer within the budget


class Cascade:
    def __init__(self, first: Classifier, second: Classifier, metrics: Metrics) -> None:
        self.first = first
        self.second = second
        self._metrics = metrics
        # Children made once: the hot path only increments them.
        self._texts = {
            (d.value, s): metrics.cascade_texts.labels(direction=d.value, stage=s)
            for d in Direction
            for s in ("first", "second")
        }
        self._outcomes = {
            (d.value, o): metrics.cascade_outcomes.labels(direction=d.value, outcome=o)
            for d in Direction
            for o in CASCADE_OUTCOMES
        }
        self._seconds = {
            d.value: metrics.cascade_duration.labels(direction=d.value) for d in Direction
        }

    async def refine(
        self,
        policy: Policy,
        direction: Direction,
        texts: Sequence[str],
        normalized: Sequence[str] | None,
        first: list[Scores],
    ) -> Refined:
        """``first`` (scores per text) with the uncertain texts judged again."""
        spec = policy.cascade
        d = direction.value
        if not spec.enabled or d not in spec.directions:
            return Refined(first, (), False)
        banded = [_banded(policy, scores) for scores in first]
        escalate = [i for i, codes in enumerate(banded) if codes]
        self._texts[d, "first"].inc(len(first) - len(escalate))
        if not escalate:
            return Refined(first, (), False)
        self._texts[d, "second"].inc(len(escalate))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(spec.budget_ms / 1000):
                second = await self.second.classify(
                    [texts[i] for i in escalate],
                    direction=d,
                    normalized=[normalized[i] for i in escalate] if normalized else None,
                )
        except (ClassifierUnavailable, TimeoutError):
            names = (_name(self.first), _name(self.second))
            self._outcomes[d, "unavailable"].inc(len(escalate))
            facts = tuple(
                CascadeFact(i, code, first[i].get(code, 0.0), None, *names)
                for i in escalate
                for code in banded[i]
            )
            return Refined(first, facts, True)
        finally:
            self._seconds[d].observe(time.perf_counter() - started)
        names = (_name(self.first), _name(self.second))  # a served model names itself late
        out = list(first)
        facts_list: list[CascadeFact] = []
        for i, verdict in zip(escalate, second, strict=True):
            merged = _merge(first[i], verdict, banded[i])
            out[i] = merged
            changed = set(banded[i]) | {c for c, v in merged.items() if v != first[i].get(c)}
            for code in sorted(changed):
                facts_list.append(
                    CascadeFact(i, code, first[i].get(code, 0.0), merged.get(code, 0.0), *names)
                )
            self._outcomes[d, _outcome(policy, d, first[i], merged)].inc()
        return Refined(out, tuple(facts_list), False)


def _banded(policy: Policy, scores: Scores) -> tuple[str, ...]:
    """The codes whose first-stage score lies in their band (absent codes score 0.0)."""
    spec = policy.cascade
    found = []
    for code in spec.codes():
        band = spec.band(code)
        if band is not None and band.holds(scores.get(code, 0.0)):
            found.append(code)
    return tuple(found)


def _merge(first: Scores, second: Scores, banded: tuple[str, ...]) -> Scores:
    """The second stage decides the banded codes; elsewhere the higher score stands."""
    merged = dict(first)
    for code in banded:
        merged[code] = second.get(code, 0.0)
    for code, score in second.items():
        if code not in banded and score > merged.get(code, 0.0):
            merged[code] = score
    return merged


def _outcome(policy: Policy, direction: str, before: Scores, after: Scores) -> str:
    """Whether the second stage raised, lowered or upheld the classifier's action."""
    a, b = _severity(policy, direction, before), _severity(policy, direction, after)
    return "raised" if b > a else "lowered" if b < a else "upheld"


def _severity(policy: Policy, direction: str, scores: Scores) -> int:
    worst = Action.ALLOW.severity
    for code, score in scores.items():
        rule = policy.rule(code, direction)
        action = score_action(rule, score) if rule.enabled else None
        if action is not None:
            worst = max(worst, action.severity)
    return worst


def _name(classifier: Classifier) -> str:
    """``name@version`` of a stage, as short as it stays unambiguous."""
    info = classifier.info()
    name, version = info.get("name", "?"), info.get("version", "")
    return f"{name}@{version}" if version and version != name else name
