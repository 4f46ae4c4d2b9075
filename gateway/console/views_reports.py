"""The complaint queue (Interim Measures Art. 15): tickets by deadline with the time left,
and the ticket page where staff assign, answer and close with an outcome.

A closed ticket's outcome becomes a review label (violation: 1, no violation: 0) on the
reported decision, so it flows into the training export like the review queue's labels.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response, StreamingResponse

from gateway import taxonomy
from gateway.console.db import Role, User
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.reports.export import (
    MEDIA_TYPES,
    TICKET_COLUMNS,
    csv_chunks,
    jsonl_chunks,
    ticket_rows,
    write_xlsx,
)
from gateway.reports.model import (
    OUTCOME_LABELS,
    STATUS_LABELS,
    Outcome,
    Status,
    Ticket,
    TicketFilter,
)
from gateway.reports.service import Reports, TicketError
from gateway.reports.store import iter_tickets

SHOWN = 200
VIEWS: dict[str, tuple[str, ...] | None] = {
    "active": (Status.OPEN.value, Status.ANSWERED.value),  # not closed: the working queue
    "open": (Status.OPEN.value,),
    "overdue": (Status.OPEN.value,),
    "answered": (Status.ANSWERED.value,),
    "closed": (Status.CLOSED.value,),
    "all": None,
}


# The service's refusals, as staff read them in Chinese (the English is the API's own).
TICKET_ERRORS = {
    "no such ticket": "没有这个工单。", "the ticket is closed": "工单已办结。",
    "the ticket is already closed": "工单已办结。", "unknown outcome": "请选择处理结果。",
    "closing needs an answer for the reporter": "办结前须先填写给举报人的答复。",
    "no such incident record": "没有这条事件记录。", "the answer is empty": "答复不能为空。",
    "the answer is longer than": "答复过长。",
}  # fmt: skip


def ticket_error(ctx: Ctx, e: TicketError) -> Refused:
    message = str(e)
    zh = next((v for k, v in TICKET_ERRORS.items() if message.startswith(k)), message)
    return Refused(e.status, ctx.t(zh, message))


def reports_of(ctx: Ctx) -> Reports:
    reports = ctx.state.reports
    if reports is None:
        raise Refused(409, ctx.t("未启用投诉举报（reports_url 为 none）。",
                                 "Complaints and reports are off (reports_url is none)."))  # fmt: skip
    return reports


def time_left(ctx: Ctx, t: Ticket, now: float) -> tuple[str, bool]:
    """How long until the deadline (or how far past it), and whether it is overdue."""
    if t.answered_at is not None:
        late = t.answered_late()
        return (ctx.t("超期答复", "answered late") if late else ctx.t("按时答复", "answered in time"),
                late)  # fmt: skip
    seconds = t.due - now
    hours, minutes = divmod(int(abs(seconds)) // 60, 60)
    span = ctx.t(f"{hours} 小时 {minutes} 分", f"{hours} h {minutes} min")
    if seconds < 0:
        return ctx.t(f"已超期 {span}", f"overdue by {span}"), True
    return ctx.t(f"剩余 {span}", f"{span} left"), False


def _labels(ctx: Ctx) -> dict[str, Any]:
    reports = reports_of(ctx)
    reasons = {r.code: r.label.pick(ctx.lang) for r in reports.spec("default").reasons}
    pick = 1 if ctx.lang == "en" else 0
    return {
        "reason_labels": reasons,
        "status_labels": {k: v[pick] for k, v in STATUS_LABELS.items()},
        "outcome_labels": {k: v[pick] for k, v in OUTCOME_LABELS.items()},
    }


async def queue(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    q = ctx.request.query_params
    view = q.get("status", "active")
    if view not in VIEWS:
        raise Refused(400, ctx.t("未知的工单状态。", f"status must be one of {', '.join(VIEWS)}"))
    now = reports.now()
    flt = TicketFilter(statuses=VIEWS[view], tenant=q.get("tenant") or None,
                       overdue_at=now if view == "overdue" else None)  # fmt: skip
    tickets = await reports.store.query(flt, limit=SHOWN, by_due=view != "closed",
                                        newest_first=view == "closed")  # fmt: skip
    open_count, overdue_count = await reports.store.counts(now)
    return ctx.console.render(
        ctx, "reports.html", tickets=tickets, view=view, views=list(VIEWS),
        tenant=q.get("tenant", ""), open_count=open_count, overdue_count=overdue_count,
        left=lambda t: time_left(ctx, t, now), shown=SHOWN, **_labels(ctx),
    )  # fmt: skip


def _staff(ctx: Ctx) -> list[User]:
    return [u for u in ctx.db.users() if u.active and u.role.at_least(Role.EDITOR)]


def label_record(t: Ticket) -> tuple[str, str]:
    """Which record a closed ticket labels, and its direction: the reported answer when
    the log has it, else the first record, else the ticket itself (pasted text, which is
    almost always an answer the reporter saw)."""
    answer = next((r for r in t.record_ids if r.endswith("-out")), None)
    if answer is not None:
        return answer, "output"
    if t.record_ids:
        return t.record_ids[0], "input"
    return t.id, "output"


async def ticket(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    found = await reports.store.get(ctx.request.path_params["id"])
    if found is None:
        raise Refused(404, ctx.t("没有这个工单。", "No such ticket."))
    store = ctx.state.audit_store
    records = [r for rid in found.record_ids if store is not None
               and (r := await store.get(rid)) is not None]  # fmt: skip
    review = next(iter(ctx.db.reviews(1, record_id=label_record(found)[0])), None)
    now = reports.now()
    return ctx.console.render(
        ctx, "ticket.html", tk=found, submissions=await reports.store.submissions(found.id),
        records=records, staff=_staff(ctx), left=time_left(ctx, found, now),
        outcomes=[o.value for o in Outcome], review=review,
        categories=taxonomy.categories(), **_labels(ctx),
    )  # fmt: skip


async def _act(ctx: Ctx, action: str, coro: Any, detail: str = "") -> Response:
    ticket_id = ctx.request.path_params["id"]
    try:
        done: Ticket = await coro
    except TicketError as e:
        raise ticket_error(ctx, e) from None
    ctx.db.log(ctx.user.name, f"report_{action}", ticket_id, detail, status=done.status)
    return redirect(f"{PREFIX}/reports/{ticket_id}")


async def assign(ctx: Ctx) -> Response:
    assignee = ctx.field("assignee").strip()
    if assignee not in {u.name for u in _staff(ctx)}:
        raise Refused(400, ctx.t("只能分配给启用的编辑及以上账号。",
                                 "Assign to an active editor, approver or admin."))  # fmt: skip
    ticket_id = ctx.request.path_params["id"]
    return await _act(ctx, "assign", reports_of(ctx).assign(ticket_id, ctx.user.name, assignee),
                      assignee)  # fmt: skip


async def answer(ctx: Ctx) -> Response:
    ticket_id = ctx.request.path_params["id"]
    text = ctx.field("answer")
    return await _act(ctx, "answer", reports_of(ctx).answer(ticket_id, ctx.user.name, text))


async def close(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    ticket_id = ctx.request.path_params["id"]
    outcome, note = ctx.field("outcome"), ctx.field("note").strip()
    response = await _act(
        ctx, "close", reports.close(ticket_id, ctx.user.name, outcome, ctx.field("answer"), note),
        outcome,
    )  # fmt: skip
    closed = await reports.store.get(ticket_id)
    assert closed is not None
    violation = Outcome(closed.outcome).violation
    record_id, direction = label_record(closed)
    ctx.db.add_review(
        record_id, ctx.user.name, "confirm" if violation else "overturn", int(violation),
        closed.categories if violation else (), direction, closed.text,
        f"投诉工单 {closed.id}：{OUTCOME_LABELS[closed.outcome][0]}" + (f"（{note}）" if note else ""),
    )  # fmt: skip
    return response


async def export(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    q = ctx.request.query_params
    fmt = q.get("format", "csv")
    if fmt not in MEDIA_TYPES:
        raise Refused(
            400, ctx.t("格式应为 jsonl、csv 或 xlsx。", "format must be jsonl, csv or xlsx")
        )
    view = q.get("status", "all")
    if view not in VIEWS:
        raise Refused(400, ctx.t("未知的工单状态。", f"status must be one of {', '.join(VIEWS)}"))
    flt = TicketFilter(statuses=VIEWS[view], tenant=q.get("tenant") or None)
    ctx.db.log(ctx.user.name, "export_reports", fmt, "", status=view)
    rows = ticket_rows(iter_tickets(reports.store, flt))
    name = f"complaints.{fmt}"
    if fmt == "xlsx":
        fd, tmp = tempfile.mkstemp(suffix=".xlsx")
        os.close(fd)
        await write_xlsx(TICKET_COLUMNS, rows, Path(tmp), "complaints")
        return FileResponse(tmp, media_type=MEDIA_TYPES[fmt], filename=name,
                            background=BackgroundTask(Path(tmp).unlink, missing_ok=True))  # fmt: skip
    chunks = jsonl_chunks(rows) if fmt == "jsonl" else csv_chunks(TICKET_COLUMNS, rows)
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


async def overdue_summary(ctx: Ctx) -> dict[str, Any] | None:
    """For the start page: counts and the most overdue tickets (None when reports are off)."""
    reports = ctx.state.reports
    if reports is None:
        return None
    now = reports.now()
    open_count, overdue_count = await reports.store.counts(now)
    overdue = await reports.store.query(
        TicketFilter(statuses=(Status.OPEN.value,), overdue_at=now), limit=10, by_due=True
    )
    return {"open": open_count, "overdue": overdue_count, "tickets": overdue,
            "left": lambda t: time_left(ctx, t, now)}  # fmt: skip
