"""Incident records for confirmed illegal content (Interim Measures Art. 14: stop it,
correct the model, keep records and report to the authorities).

``parse_incident`` checks what staff typed into the console; ``render_incident`` makes the
standalone page (printable, every value escaped, no external assets) that goes with a
report to the authorities, listing the decisions and tickets the incident covers.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway import taxonomy
from gateway.audit.record import DecisionRecord
from gateway.reports.export import iso
from gateway.reports.model import MEASURES, OUTCOME_LABELS, Incident, Ticket
from gateway.reports.validation import DECISION_ID

MAX_IDS = 100
TICKET_ID = re.compile(r"^rpt_[0-9a-f]{24}$")


class IncidentError(ValueError):
    """A field of the incident form is wrong; the message names it."""


@dataclass(frozen=True, slots=True)
class IncidentFields:
    tenant: str
    title: str
    description: str
    occurred_at: float
    decision_ids: tuple[str, ...]
    ticket_ids: tuple[str, ...]
    categories: tuple[str, ...]
    measures: tuple[str, ...]
    authority: str
    reported_at: float | None
    notes: str


def _text(get: Callable[[str], str], name: str, limit: int, required: bool = False) -> str:
    value = get(name).strip()
    if required and not value:
        raise IncidentError(f"{name}: required")
    if len(value) > limit:
        raise IncidentError(f"{name}: longer than {limit} characters")
    return value


def _time(get: Callable[[str], str], name: str, required: bool = False) -> float | None:
    value = get(name).strip()
    if not value:
        if required:
            raise IncidentError(f"{name}: required")
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise IncidentError(f"{name}: not a date and time: {value!r}") from None
    return (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp()


def _ids(get: Callable[[str], str], name: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(x for x in re.split(r"[\s,;]+", get(name)) if x))
    if len(ids) > MAX_IDS:
        raise IncidentError(f"{name}: more than {MAX_IDS} ids")
    bad = [x for x in ids if not pattern.match(x)]
    if bad:
        raise IncidentError(f"{name}: not an id: {bad[0]!r}")
    return ids


def parse_incident(
    get: Callable[[str], str], get_all: Callable[[str], Sequence[str]]
) -> IncidentFields:
    """Validate the console form (``get`` one value, ``get_all`` a multi-select)."""
    categories = tuple(dict.fromkeys(get_all("categories")))
    unknown = [c for c in categories if not taxonomy.is_code(c)]
    if unknown:
        raise IncidentError(f"categories: unknown taxonomy code {unknown[0]!r}")
    measures = tuple(dict.fromkeys(get_all("measures")))
    if any(m not in MEASURES for m in measures):
        raise IncidentError("measures: unknown measure")
    occurred = _time(get, "occurred_at", required=True)
    assert occurred is not None
    return IncidentFields(
        tenant=_text(get, "tenant", 64) or "default",
        title=_text(get, "title", 200, required=True),
        description=_text(get, "description", 5000, required=True),
        occurred_at=occurred,
        decision_ids=_ids(get, "decision_ids", DECISION_ID),
        ticket_ids=_ids(get, "ticket_ids", TICKET_ID),
        categories=categories,
        measures=measures,
        authority=_text(get, "authority", 200),
        reported_at=_time(get, "reported_at"),
        notes=_text(get, "notes", 5000),
    )


_CSS = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f2f2f2;text-align:left}caption{text-align:left;font-weight:bold}.text{white-space:pre-wrap}
"""


def render_incident(
    incident: Incident,
    records: Sequence[DecisionRecord],
    tickets: Sequence[Ticket],
    generated: datetime | None = None,
) -> str:
    """The incident as a standalone HTML page for a report to the authorities."""

    def e(v: Any) -> str:
        return html.escape("—" if v is None or v == "" else str(v), quote=True)

    def table(caption: str, headers: list[str], rows: list[list[Any]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in headers)
        body = "".join(
            "<tr>" + "".join(f'<td class="text">{e(v)}</td>' for v in row) + "</tr>" for row in rows
        )
        return f"<table><caption>{e(caption)}</caption><tr>{head}</tr>{body}</table>"

    names = taxonomy.categories()

    def category(code: str) -> str:
        cat = names.get(code)
        return f"{code} {cat.name_zh}" if cat else code

    facts: list[list[Any]] = [
        ["编号 Record id", incident.id],
        ["租户 Tenant", incident.tenant],
        ["事件 What", incident.title],
        ["经过 Description", incident.description],
        ["发生时间 When (UTC)", iso(incident.occurred_at)],
        ["类别 Categories", "；".join(category(c) for c in incident.categories)],
        ["处置措施 Measures taken", "；".join(f"{MEASURES[m][0]} {MEASURES[m][1]}"
                                          for m in incident.measures if m in MEASURES)],
        ["报告机关 Reported to", incident.authority],
        ["报告时间 Reported at (UTC)", iso(incident.reported_at)],
        ["备注 Notes", incident.notes],
        ["记录人 Recorded by", f"{incident.created_by}, {iso(incident.created)}"],
    ]  # fmt: skip
    decisions: list[list[Any]] = [
        [r.id, iso(r.ts.timestamp()), f"{r.direction}/{r.stage}", r.action,
         "；".join(category(c) for c in r.categories), ", ".join(r.matched_terms),
         r.policy_version, r.text if r.text_mode in ("redacted", "full") else f"({r.text_mode})"]
        for r in records
    ]  # fmt: skip
    found = {r.id for r in records}
    decisions += [[d, "—", "—", "—", "—", "—", "—", "（日志中无此记录 not in the log）"]
                  for d in incident.decision_ids if d not in found]  # fmt: skip
    ticket_rows: list[list[Any]] = [
        [t.id, iso(t.created), t.reason, t.reports, iso(t.answered_at),
         " ".join(OUTCOME_LABELS.get(t.outcome, ("", t.outcome))), t.text or "—"]
        for t in tickets
    ]  # fmt: skip
    when = (generated or datetime.now(UTC)).isoformat(timespec="seconds")
    title = "违法内容处置记录 Illegal-content incident record"
    decision_headers = [
        "决策编号 Decision id", "时间 Time (UTC)", "方向/阶段 Direction/stage", "动作 Action",
        "类别 Categories", "命中词 Terms", "策略版本 Policy", "文本 Text",
    ]  # fmt: skip
    ticket_headers = [
        "工单 Ticket", "提交 Filed (UTC)", "原因 Reason", "举报数 Reports",
        "答复 Answered (UTC)", "结果 Outcome", "被举报内容 Reported text",
    ]  # fmt: skip
    parts = [
        table("事件 Incident", ["项目 Item", "内容 Content"], facts),
        table("相关决策 Decisions", decision_headers, decisions),
        table("相关投诉 Complaint tickets", ticket_headers, ticket_rows),
    ]
    return (
        f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
        f"<p>《生成式人工智能服务管理暂行办法》第十四条 · Interim Measures Art. 14 · {e(when)}</p>"
        f"{''.join(parts)}</body></html>\n"
    )
