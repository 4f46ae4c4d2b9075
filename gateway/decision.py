"""What the moderation pipeline returns: a ``Decision`` and the reasons behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Direction(StrEnum):
    INPUT = "input"  # what the model will see
    OUTPUT = "output"  # what the user will see


class Action(StrEnum):
    # Ordered from least to most severe; ``Action.severity`` relies on this order.
    ALLOW = "allow"
    FLAG = "flag"  # allow, and log
    REVIEW = "review"  # allow, and queue for human review
    REDACT = "redact"  # allow with matched spans replaced
    BLOCK = "block"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def blocks(self) -> bool:
        return self is Action.BLOCK


_SEVERITY = {a: i for i, a in enumerate(Action)}


@dataclass(frozen=True, slots=True)
class Reason:
    """One rule that fired: a keyword, a pattern, a classifier score or a user sanction."""

    kind: str  # "keyword" | "pattern" | "classifier" | "sanction" | ...
    category: str  # taxonomy code
    detail: str  # the term, pattern name, or "score 0.93 >= 0.80"
    action: Action
    start: int | None = None  # span in the checked text, where one applies
    end: int | None = None
    text_index: int | None = None  # which of the checked texts holds the span


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    direction: Direction
    action: Action
    categories: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    reasons: tuple[Reason, ...] = ()
    policy_version: str = ""
    refusal: str = ""  # text shown instead of blocked content
    redacted: tuple[str, ...] | None = None  # texts with spans replaced, for REDACT

    @property
    def blocked(self) -> bool:
        return self.action.blocks
