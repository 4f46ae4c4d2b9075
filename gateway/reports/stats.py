"""Complaint statistics for the filing report (``gateway audit report``, the console's
report): counts by reason and outcome, time to answer (median and p95), overdue tickets.

``TicketStats`` is pure and streaming: feed it tickets, ask for the result. It keeps one
float per answered ticket for the percentiles, nothing else per ticket.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from datetime import datetime
from typing import Any

from gateway.reports.model import Ticket, TicketFilter
from gateway.reports.store import TicketStore, iter_tickets


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of ``values`` (sorted or not); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class TicketStats:
    def __init__(self, now: float) -> None:
        self._now = now
        self.tickets = 0
        self.reports = 0
        self.by_reason: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.overdue_open = 0
        self.answered_late = 0
        self._answer_seconds: list[float] = []

    def add(self, t: Ticket) -> None:
        self.tickets += 1
        self.reports += t.reports
        self.by_reason[t.reason] += 1
        self.by_status[t.status] += 1
        if t.outcome:
            self.by_outcome[t.outcome] += 1
        waited = t.answer_seconds()
        if waited is not None:
            self._answer_seconds.append(waited)
        self.overdue_open += t.overdue(self._now)
        self.answered_late += t.answered_late()

    def result(self) -> dict[str, Any]:
        def hours(seconds: float | None) -> float | None:
            return round(seconds / 3600, 3) if seconds is not None else None

        return {
            "tickets": self.tickets,
            "reports": self.reports,
            "by_reason": dict(self.by_reason.most_common()),
            "by_outcome": dict(self.by_outcome.most_common()),
            "by_status": dict(self.by_status.most_common()),
            "answered": len(self._answer_seconds),
            "answer_hours_median": hours(percentile(self._answer_seconds, 0.5)),
            "answer_hours_p95": hours(percentile(self._answer_seconds, 0.95)),
            "overdue_open": self.overdue_open,
            "answered_late": self.answered_late,
            "overdue": self.overdue_open + self.answered_late,
        }


def ticket_filter(
    since: datetime | None, until: datetime | None, tenant: str | None
) -> TicketFilter:
    """The tickets filed in the period a decision-log report covers."""
    return TicketFilter(
        since=since.timestamp() if since else None,
        until=until.timestamp() if until else None,
        tenant=tenant,
    )


async def ticket_stats(store: TicketStore, flt: TicketFilter, now: float) -> dict[str, Any]:
    stats = TicketStats(now)
    async for t in iter_tickets(store, flt):
        stats.add(t)
    return stats.result()


async def add_to_report(report: dict[str, Any], store: TicketStore, now: float) -> list[str]:
    """Put the complaint statistics of the report's period and tenant into a decision-log
    report (key ``complaints``); returns the HTML section for ``render_html(extra=...)``.
    Category, action and direction filters apply to decisions only."""
    f = report.get("filters", {})
    since, until = f.get("since"), f.get("until")
    flt = ticket_filter(
        datetime.fromisoformat(since) if since else None,
        datetime.fromisoformat(until) if until else None,
        f.get("tenant"),
    )
    report["complaints"] = await ticket_stats(store, flt, now)
    return [render_section(report["complaints"])]


def render_section(stats: dict[str, Any]) -> str:
    """The complaints part of the standalone HTML report, every value escaped."""

    def e(v: Any) -> str:
        return html.escape("—" if v is None else str(v), quote=True)

    def table(caption: str, headers: tuple[str, str], rows: list[tuple[Any, Any]]) -> str:
        body = "".join(f'<tr><td>{e(k)}</td><td class="n">{e(v)}</td></tr>' for k, v in rows)
        head = f"<th>{e(headers[0])}</th><th>{e(headers[1])}</th>"
        return f"<table><caption>{e(caption)}</caption><tr>{head}</tr>{body}</table>"

    summary = [
        ("工单数 Tickets", stats["tickets"]),
        ("举报数（含合并）Reports (merged ones included)", stats["reports"]),
        ("已答复 Answered", stats["answered"]),
        ("答复用时中位数（小时）Median time to answer (h)", stats["answer_hours_median"]),
        ("答复用时 P95（小时）p95 time to answer (h)", stats["answer_hours_p95"]),
        ("超期未答复 Overdue, unanswered", stats["overdue_open"]),
        ("超期答复 Answered late", stats["answered_late"]),
        ("超期合计 Overdue in total", stats["overdue"]),
    ]
    return "".join([
        "<h2>投诉举报 Complaints and reports</h2>",
        table("概要 Summary", ("项目 Item", "值 Value"), summary),
        table("按原因 By reason", ("原因 Reason", "工单 Tickets"), list(stats["by_reason"].items())),
        table("按结果 By outcome", ("结果 Outcome", "工单 Tickets"), list(stats["by_outcome"].items())),
        table("按状态 By status", ("状态 Status", "工单 Tickets"), list(stats["by_status"].items())),
    ])  # fmt: skip
