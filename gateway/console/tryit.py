""" "Try it" and the dry run: the same texts through the live policy and the draft.

Both run the real ``Pipeline`` (normalizer, lexicon, patterns, the configured classifier
and the cascade's second stage, the policy engine), on a throwaway ``Metrics`` so console traffic never shows up in the
gateway's decision counters.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.audit.store import AuditStore, RecordFilter, iter_records
from gateway.classifier import Classifier
from gateway.decision import Decision, Direction
from gateway.metrics import Metrics
from gateway.moderation.cascade import Cascade
from gateway.moderation.pipeline import CheckContext, Pipeline, new_decision_id
from gateway.policy.compiled import PolicySet

MAX_TEXT_CHARS = 20_000  # a pasted text longer than one logged record is cut
MAX_DRY_RUN = 500
KEPT_TEXT = ("full", "redacted")  # text modes whose text can be re-checked


class Evaluator:
    """Checks texts against any ``PolicySet`` with the gateway's classifier."""

    def __init__(
        self,
        classifier: Classifier | None,
        metrics: Metrics | None = None,
        *,
        second: Classifier | None = None,  # the cascade's second stage, when configured
    ) -> None:
        self._classifier = classifier
        self._metrics = metrics if metrics is not None else Metrics()
        self._cascade = (
            Cascade(classifier, second, self._metrics)
            if classifier is not None and second is not None
            else None
        )

    async def check(
        self, policies: PolicySet, text: str, direction: Direction, tenant: str, language: str
    ) -> Decision:
        pipeline = Pipeline(lambda: policies, self._metrics, self._classifier, self._cascade)
        ctx = CheckContext(new_decision_id(), language=language, tenant=tenant)
        return await pipeline.check([text[:MAX_TEXT_CHARS]], direction, ctx)


@dataclass(frozen=True, slots=True)
class Replay:
    record_id: str
    ts: datetime
    direction: str
    tenant: str
    logged: str  # the action in the log (under the policy of that time)
    live: Decision
    draft: Decision
    text: str

    @property
    def changed(self) -> bool:
        return (self.live.action, self.live.categories) != (
            self.draft.action,
            self.draft.categories,
        )


@dataclass(frozen=True, slots=True)
class DryRun:
    replays: tuple[Replay, ...]
    scanned: int  # records read from the log in the window
    # Records by what the log kept of their text: says why records could not be replayed.
    modes: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> list[Replay]:
        return [r for r in self.replays if r.changed]


async def dry_run(
    store: AuditStore, evaluator: Evaluator, live: PolicySet, draft: PolicySet,
    *, hours: float = 24.0, limit: int = 200,
) -> DryRun:  # fmt: skip
    """Replay the latest ``limit`` logged texts of the last ``hours`` through both policies.

    Only records whose text was kept (``audit.text: full`` or ``redacted``) can be
    replayed; redacted ones are checked as redacted, so PII rules may differ."""
    limit = max(1, min(limit, MAX_DRY_RUN))
    flt = RecordFilter(since=datetime.now(UTC) - timedelta(hours=hours))
    latest: deque[tuple[str, datetime, str, str, str, str]] = deque(maxlen=limit)
    scanned = 0
    modes: Counter[str] = Counter()
    async for r in iter_records(store, flt):
        scanned += 1
        modes[r.text_mode if r.text else "none"] += 1
        if r.text_mode in KEPT_TEXT and r.text:
            latest.append((r.id, r.ts, r.direction, r.tenant or "default", r.action, r.text))
    out: list[Replay] = []
    for rid, ts, direction, tenant, action, text in reversed(latest):
        d = Direction(direction)
        lang = "zh"
        out.append(
            Replay(
                rid, ts, direction, tenant, action,
                await evaluator.check(live, text, d, tenant, lang),
                await evaluator.check(draft, text, d, tenant, lang),
                text,
            )
        )  # fmt: skip
    return DryRun(tuple(out), scanned, dict(modes))
