"""What reporters are shown of a ticket: its state and answer, never the reported text,
the contact details or anything of other reporters."""

from __future__ import annotations

from typing import Any

from gateway.policy.model import ReportsSpec
from gateway.reports.model import OUTCOME_LABELS, STATUS_LABELS, Ticket


def public_view(t: Ticket, now: float) -> dict[str, Any]:
    return {
        "id": t.id,
        "object": "report",
        "status": t.status,
        "reason": t.reason,
        "created": int(t.created),
        "due": int(t.due),
        "overdue": t.overdue(now),
        "answered_at": int(t.answered_at) if t.answered_at is not None else None,
        "answer": t.answer or None,
        "outcome": t.outcome or None,
        "closed_at": int(t.closed_at) if t.closed_at is not None else None,
    }


def process_view(spec: ReportsSpec, lang: str) -> dict[str, Any]:
    """The published handling process and time limits (Art. 15 公布处理流程和反馈时限)."""
    return {
        "object": "report_process",
        "enabled": spec.enabled,
        "response_hours": spec.response_hours,
        "process": spec.process.pick(lang),
        "reasons": [
            {
                "code": r.code,
                "label": r.label.pick(lang),
                "categories": list(r.categories),
                "response_hours": spec.hours_for(r.code),
            }
            for r in spec.reasons
        ],
        "outcomes": {k: (zh if lang == "zh" else en) for k, (zh, en) in OUTCOME_LABELS.items()},
        "statuses": {k: (zh if lang == "zh" else en) for k, (zh, en) in STATUS_LABELS.items()},
    }
