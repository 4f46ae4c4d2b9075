"""What a shadow run found: per category, how many more or fewer requests the draft would
block or send to review than the live policy did; which decisions changed and how, with
examples; and what the draft costs in check time. Pure: rows in, a report out."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from gateway.console.shadow_store import ShadowRow

EXAMPLES_PER_GROUP = 5

# How a decision changed, from the approver's point of view; the order is the page's.
GROUPS: dict[str, tuple[str, str]] = {
    "newly_blocked": ("草稿会新增拦截", "the draft would block"),
    "no_longer_blocked": ("草稿不再拦截", "the draft would no longer block"),
    "newly_reviewed": ("草稿会新增送审", "the draft would send to review"),
    "no_longer_reviewed": ("草稿不再送审", "the draft would no longer send to review"),
    "other": ("其他变化（动作或类别）", "other changes (action or categories)"),
}


def group_of(row: ShadowRow) -> str | None:
    if not row.changed:
        return None
    live_block, draft_block = row.live_action == "block", row.draft_action == "block"
    if draft_block and not live_block:
        return "newly_blocked"
    if live_block and not draft_block:
        return "no_longer_blocked"
    if row.draft_action == "review" and row.live_action != "review":
        return "newly_reviewed"
    if row.live_action == "review" and row.draft_action != "review":
        return "no_longer_reviewed"
    return "other"


@dataclass(frozen=True, slots=True)
class CategoryCounts:
    code: str
    live_blocks: int
    draft_blocks: int
    live_reviews: int
    draft_reviews: int

    @property
    def block_delta(self) -> int:
        return self.draft_blocks - self.live_blocks

    @property
    def review_delta(self) -> int:
        return self.draft_reviews - self.live_reviews


@dataclass(frozen=True, slots=True)
class Latency:
    live_p50: float
    live_p95: float
    draft_p50: float
    draft_p95: float

    @property
    def extra_p50(self) -> float:
        return self.draft_p50 - self.live_p50


@dataclass(slots=True)
class ShadowReport:
    evaluated: int = 0
    changed: int = 0
    live_blocks: int = 0
    draft_blocks: int = 0
    live_reviews: int = 0
    draft_reviews: int = 0
    categories: list[CategoryCounts] = field(default_factory=list)
    transitions: list[tuple[str, str, int]] = field(default_factory=list)  # live, draft, n
    groups: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[ShadowRow]] = field(default_factory=dict)
    latency: Latency | None = None


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build(rows: list[ShadowRow], category: str = "") -> ShadowReport:
    """The report over ``rows``; examples only of ``category`` when given."""
    out = ShadowReport(evaluated=len(rows))
    counts: dict[str, Counter[str]] = {k: Counter() for k in ("lb", "db", "lr", "dr")}
    transitions: Counter[tuple[str, str]] = Counter()
    groups: Counter[str] = Counter()
    for r in rows:
        out.live_blocks += r.live_action == "block"
        out.draft_blocks += r.draft_action == "block"
        out.live_reviews += r.live_action == "review"
        out.draft_reviews += r.draft_action == "review"
        for key, action, cats in (("lb", r.live_action, r.live_categories),
                                  ("db", r.draft_action, r.draft_categories),
                                  ("lr", r.live_action, r.live_categories),
                                  ("dr", r.draft_action, r.draft_categories)):  # fmt: skip
            if action == ("block" if key[1] == "b" else "review"):
                counts[key].update(cats)
        g = group_of(r)
        if g is None:
            continue
        out.changed += 1
        groups[g] += 1
        if r.live_action != r.draft_action:
            transitions[r.live_action, r.draft_action] += 1
        if category and category not in (*r.live_categories, *r.draft_categories):
            continue
        shown = out.examples.setdefault(g, [])
        if len(shown) < EXAMPLES_PER_GROUP:
            shown.append(r)
    codes = sorted(set().union(*(set(c) for c in counts.values())))
    out.categories = [
        CategoryCounts(c, counts["lb"][c], counts["db"][c], counts["lr"][c], counts["dr"][c])
        for c in codes
    ]
    out.categories.sort(key=lambda c: (-abs(c.block_delta), -abs(c.review_delta), c.code))
    out.transitions = sorted(((a, b, n) for (a, b), n in transitions.items()),
                             key=lambda t: -t[2])  # fmt: skip
    out.groups = {g: groups[g] for g in GROUPS if groups[g]}
    live = [r.live_ms for r in rows if r.live_ms is not None]
    if live:
        draft = [r.draft_ms for r in rows]
        out.latency = Latency(statistics.median(live), _pct(live, 0.95),
                              statistics.median(draft), _pct(draft, 0.95))  # fmt: skip
    return out
