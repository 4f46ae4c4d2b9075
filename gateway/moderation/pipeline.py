"""The moderation pipeline: texts in, one ``Decision`` out.

normalize -> lexicon and pattern detectors -> classifier (batched, behind the
``Classifier`` seam) -> cascade (uncertain texts to a second classifier, when the policy has
one) -> policy (a pure function). The HTTP layer calls ``check`` and acts on
the decision; it never looks at rules itself.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.classifier import Classifier, ClassifierUnavailable
from gateway.decision import Action, Decision, Direction
from gateway.lexicon.normalize import DEFAULT_CONFIG, Normalized, normalize
from gateway.lexicon.patterns import find_pii
from gateway.metrics import Metrics
from gateway.moderation.cascade import Cascade
from gateway.moderation.language import script_language
from gateway.policy.compiled import DEFAULT_TENANT, ActivePolicy, PolicySet
from gateway.policy.engine import (
    CascadeFact,
    Facts,
    KeywordFact,
    PatternFact,
    UserStatus,
    evaluate,
)

_INLINE_CHARS = 32_768  # more than this per check is scanned off the event loop


@dataclass(slots=True)
class _Scan:
    keywords: list[KeywordFact]
    patterns: list[PatternFact]
    normalized: list[Normalized]
    started_at: float
    normalized_at: float
    scanned_at: float


@dataclass(slots=True)
class _Verdict:
    """What the classifier stage found."""

    scores: dict[str, float] = field(default_factory=dict)
    failed: bool = False
    escalations: tuple[CascadeFact, ...] = ()


def _scan(active: ActivePolicy, texts: Sequence[str], use_lexicon: bool) -> _Scan:
    """Normalize each text once, then run the keyword and PII detectors over it."""
    t0 = time.perf_counter()
    keywords: list[KeywordFact] = []
    patterns: list[PatternFact] = []
    normalized = [normalize(t, active.normalize) for t in texts] if use_lexicon else []
    t1 = time.perf_counter()
    for i, norm in enumerate(normalized):
        for h in active.matcher.scan_normalized(norm):
            keywords.append(KeywordFact(h.term, h.category, h.level, i, h.start, h.end))
    pii = active.policy.pii
    if pii.enabled and use_lexicon:
        for i, text in enumerate(texts):
            for p in find_pii(text, pii.kinds):
                patterns.append(PatternFact(p.kind, i, p.start, p.end))
    return _Scan(keywords, patterns, normalized, t0, t1, time.perf_counter())


def new_decision_id() -> str:
    return "dec_" + os.urandom(16).hex()  # random like uuid4, a few times cheaper


@dataclass(slots=True)
class CheckContext:
    """What the pipeline knows about the request besides its texts."""

    decision_id: str
    language: str = "zh"
    user_status: UserStatus = "ok"
    tenant: str = DEFAULT_TENANT


class Pipeline:
    def __init__(
        self,
        policies: Callable[[], PolicySet],
        metrics: Metrics,
        classifier: Classifier | None = None,
        cascade: Cascade | None = None,
    ) -> None:
        self._policies = policies  # the current set; hot reload swaps what it returns
        self._metrics = metrics
        self.classifier = classifier
        self.cascade = cascade  # a second classifier for the policy's uncertain bands
        # Label lookups cost about a microsecond each; the hot path reuses the children.
        self._stage: dict[tuple[str, str], Any] = {
            (d.value, stage): metrics.moderation_duration.labels(direction=d.value, stage=stage)
            for d in Direction
            for stage in ("normalize", "lexicon", "classifier", "policy")
        }
        self._decisions: dict[tuple[str, str, str], Any] = {}

    @property
    def policies(self) -> PolicySet:
        return self._policies()

    def policy_for(self, tenant: str) -> ActivePolicy:
        return self._policies().for_tenant(tenant)

    async def check(
        self,
        texts: Sequence[str],
        direction: Direction,
        ctx: CheckContext,
        *,
        use_classifier: bool = True,
        use_lexicon: bool = True,
    ) -> Decision:
        """Decide on ``texts``. ``use_classifier`` / ``use_lexicon`` switch stages off for
        evaluation (``gateway eval --mode``) and for the stream gate's checks."""
        active = self._policies().for_tenant(ctx.tenant)
        # Long texts are normalized and scanned on a worker thread, so one huge request
        # cannot hold the event loop (and every other request) for its whole scan.
        if sum(len(t) for t in texts) > _INLINE_CHARS:
            scan = await asyncio.to_thread(_scan, active, texts, use_lexicon)
        else:
            scan = _scan(active, texts, use_lexicon)
        classify = self.classifier is not None and use_classifier and bool(texts)
        verdict = (
            await self._classify(active, texts, direction, scan.normalized)
            if classify
            else _Verdict()
        )
        t3 = time.perf_counter()
        facts = Facts(
            direction=direction,
            texts=texts,
            keywords=scan.keywords,
            patterns=scan.patterns,
            scores=verdict.scores,
            user_status=ctx.user_status,
            classifier_failed=verdict.failed,
            language=script_language(list(texts)) if verdict.scores else "none",
            cascade=verdict.escalations,
        )
        decision = evaluate(
            active.policy, facts, decision_id=ctx.decision_id, version=active.version,
            language=ctx.language,
        )  # fmt: skip
        stage, d = self._stage, direction.value
        stage[d, "normalize"].observe(scan.normalized_at - scan.started_at)
        stage[d, "lexicon"].observe(scan.scanned_at - scan.normalized_at)
        if classify:
            stage[d, "classifier"].observe(t3 - scan.scanned_at)
        stage[d, "policy"].observe(time.perf_counter() - t3)
        return decision

    async def _classify(
        self,
        active: ActivePolicy,
        texts: Sequence[str],
        direction: Direction,
        normalized: list[Normalized],
    ) -> _Verdict:
        """Scores (the maximum per code over the texts), through the cascade if one is set."""
        assert self.classifier is not None
        # The texts were normalized once, by the scan; a model trained on the default rules
        # reuses them instead of normalizing again.
        shared = (
            [n.text for n in normalized]
            if normalized and active.normalize == DEFAULT_CONFIG
            else None
        )
        verdict = _Verdict()
        per_texts: list[dict[str, float]] = []
        try:
            per_texts = await self.classifier.classify(
                list(texts), direction=direction.value, normalized=shared
            )
        except ClassifierUnavailable:
            verdict.failed = True
        else:
            if self.cascade is not None:  # uncertain texts to the second stage
                refined = await self.cascade.refine(
                    active.policy, direction, texts, shared, per_texts
                )
                per_texts, verdict.escalations, verdict.failed = (
                    refined.scores,
                    refined.facts,
                    refined.failed,
                )
        for per_text in per_texts:
            for code, score in per_text.items():
                if score > verdict.scores.get(code, 0.0):
                    verdict.scores[code] = score
        if verdict.failed and active.policy.fail_mode == "open":
            self._metrics.fail_open.labels(reason="classifier").inc()
        return verdict

    def count(self, decision: Decision) -> None:
        """Count a final decision (once per request and direction, not per stream check)."""
        d, a = decision.direction.value, decision.action.value
        if decision.action is Action.ALLOW or not decision.categories:
            self._decision_counter(d, a, "none").inc()
        for code in decision.categories:
            self._decision_counter(d, a, code).inc()

    def _decision_counter(self, direction: str, action: str, category: str) -> Any:
        key = (direction, action, category)
        child = self._decisions.get(key)
        if child is None:  # labels come from fixed sets, so this stays small
            child = self._metrics.decisions.labels(
                direction=direction, action=action, category=category
            )
            self._decisions[key] = child
        return child
