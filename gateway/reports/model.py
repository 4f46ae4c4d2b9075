"""What the complaint queue keeps: tickets, the reports merged into them, incident records.

A ticket is one reported piece of content (a decision, or pasted text) for one tenant.
Repeated reports of the same content while its ticket is still open become further
``Submission`` rows of that ticket, each with its own lookup token. Times are epoch
seconds (UTC), the same in both backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OPEN = "open"  # waiting for an answer to the reporter
    ANSWERED = "answered"  # the reporter has an answer; the outcome is not final yet
    CLOSED = "closed"  # an outcome is recorded


class Outcome(StrEnum):
    CONTENT_REMOVED = "content_removed"
    POLICY_CHANGED = "policy_changed"
    KEYWORD_ADDED = "keyword_added"
    NO_VIOLATION = "no_violation"

    @property
    def violation(self) -> bool:
        """Whether the reported content was confirmed as a violation (review label 1)."""
        return self is not Outcome.NO_VIOLATION


# (zh, en) wording shown to staff and to the reporter.
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    Outcome.CONTENT_REMOVED.value: ("已删除相关内容", "Content removed"),
    Outcome.POLICY_CHANGED.value: ("已调整审核策略", "Moderation policy changed"),
    Outcome.KEYWORD_ADDED.value: ("已加入关键词库", "Keyword added"),
    Outcome.NO_VIOLATION.value: ("经核查未发现违规", "No violation found"),
}
STATUS_LABELS: dict[str, tuple[str, str]] = {
    Status.OPEN.value: ("处理中", "Being handled"),
    Status.ANSWERED.value: ("已答复", "Answered"),
    Status.CLOSED.value: ("已办结", "Closed"),
}
# Measures an incident record can list (Interim Measures Art. 14).
MEASURES: dict[str, tuple[str, str]] = {
    "stopped_generation": ("停止生成", "Generation stopped"),
    "stopped_transmission": ("停止传输", "Transmission stopped"),
    "content_removed": ("消除（删除）内容", "Content removed"),
    "model_retrained": ("模型优化训练整改", "Model optimisation training"),
    "keyword_added": ("加入关键词库", "Keyword added"),
    "policy_changed": ("调整审核策略", "Moderation policy changed"),
    "user_warned": ("警示使用者", "User warned"),
    "user_restricted": ("限制功能", "User functions restricted"),
    "user_suspended": ("暂停或终止服务", "Service suspended or terminated"),
    "reported_to_authority": ("向主管部门报告", "Reported to the authorities"),
}


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str  # random and unguessable (``rpt_`` + 24 hex digits)
    tenant: str
    merge_key: str  # the decision id, or a hash of pasted text: what repeated reports share
    decision_id: str  # as reported ("" when only text was pasted)
    record_ids: tuple[str, ...]  # decision-log records found for it (input, output)
    text: str | None  # the reported text: the reporter's paste or the decision's kept text
    text_source: str  # "pasted" | "decision" | "none"
    reason: str  # reason code of the first report
    categories: tuple[str, ...]  # taxonomy codes of every report's reason
    policy_version: str  # of the reported decision, else the live one at filing
    decision_action: str  # the reported decision's action ("" when none)
    status: str
    created: float
    due: float  # the answer deadline
    answered_at: float | None = None
    closed_at: float | None = None
    assignee: str = ""
    answer: str = ""  # what the reporter is told
    outcome: str = ""
    reports: int = 1  # submissions merged into this ticket
    updated: float = 0.0
    history: tuple[dict[str, Any], ...] = ()  # who did what, when

    def overdue(self, now: float) -> bool:
        """Unanswered past its deadline."""
        return self.answered_at is None and now > self.due

    def answered_late(self) -> bool:
        return self.answered_at is not None and self.answered_at > self.due

    def seconds_left(self, now: float) -> float:
        return self.due - now

    def answer_seconds(self) -> float | None:
        return self.answered_at - self.created if self.answered_at is not None else None


@dataclass(frozen=True, slots=True)
class Submission:
    """One report as it arrived. ``contact`` is shown to staff only and never exported."""

    id: str
    ticket_id: str
    ts: float
    reason: str
    detail: str
    contact: str
    reporter: str | None  # keyed pseudonym of the end-user id, never the raw id
    source: str  # "api" | "page"
    lang: str


@dataclass(frozen=True, slots=True)
class Incident:
    """A confirmed illegal-content case (Interim Measures Art. 14): what, when, which
    decisions, what was done, and the report to the authorities."""

    id: str
    tenant: str
    title: str
    description: str
    occurred_at: float
    created: float
    created_by: str
    decision_ids: tuple[str, ...] = ()
    ticket_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    measures: tuple[str, ...] = ()
    authority: str = ""  # which authority it was reported to
    reported_at: float | None = None
    notes: str = ""
    updated: float = 0.0
    history: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """Which tickets a queue page, export or statistic covers. ``None`` means any."""

    statuses: tuple[str, ...] | None = None
    tenant: str | None = None
    reason: str | None = None
    since: float | None = None  # created, inclusive
    until: float | None = None  # created, exclusive
    overdue_at: float | None = None  # only tickets unanswered past their deadline at this time
