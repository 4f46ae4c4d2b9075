"""Incident records for confirmed illegal content (Interim Measures Art. 14): what, when,
which decisions and tickets, what was done, whom it was reported to; each one exports as
a standalone page (or JSON) for the report to the authorities, all of them as a table."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from gateway import taxonomy
from gateway.console.views_reports import reports_of, ticket_error
from gateway.console.web import PREFIX, Ctx, Refused, redirect, with_headers
from gateway.reports.export import (
    INCIDENT_COLUMNS,
    MEDIA_TYPES,
    csv_chunks,
    incident_row,
    incident_rows,
    jsonl_chunks,
    ticket_row,
    write_xlsx,
)
from gateway.reports.incidents import IncidentError, IncidentFields, parse_incident, render_incident
from gateway.reports.model import MEASURES, Incident
from gateway.reports.service import TicketError
from gateway.reports.store import iter_incidents

SHOWN = 200
_FIELDS = {"title": "事件", "description": "经过", "occurred_at": "发生时间",
           "reported_at": "报告时间", "decision_ids": "相关决策编号", "ticket_ids": "相关工单",
           "categories": "类别", "measures": "措施", "authority": "报告机关", "notes": "备注",
           "tenant": "租户"}  # fmt: skip
_PROBLEMS = (("required", "必填"), ("longer than", "太长"), ("not a date", "不是有效的日期和时间"),
             ("more than", "编号过多"), ("not an id", "编号格式不对"),
             ("unknown taxonomy code", "未知的类别代码"), ("unknown measure", "未知的措施"))  # fmt: skip


def _incident_error(ctx: Ctx, e: IncidentError) -> str:
    name, _, problem = str(e).partition(": ")
    zh = next((z for en, z in _PROBLEMS if problem.startswith(en)), "取值无效")
    return ctx.t(f"{_FIELDS.get(name, name)}：{zh}。", str(e))


def _local(epoch: float | None) -> str:
    """A value for an ``<input type="datetime-local">`` (UTC, as the console shows times)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M") if epoch else ""


def _form(ctx: Ctx, incident: Incident | None, prefill: dict[str, Any], status: int = 200,
          error: str = "") -> Response:  # fmt: skip
    return ctx.console.render(
        ctx, "incident.html", status=status, incident=incident, f=prefill, error=error,
        categories=taxonomy.categories(), measures=MEASURES, local=_local,
    )  # fmt: skip


def _values(i: Incident) -> dict[str, Any]:
    return {
        "tenant": i.tenant, "title": i.title, "description": i.description,
        "occurred_at": _local(i.occurred_at), "decision_ids": "\n".join(i.decision_ids),
        "ticket_ids": "\n".join(i.ticket_ids), "categories": list(i.categories),
        "measures": list(i.measures), "authority": i.authority,
        "reported_at": _local(i.reported_at), "notes": i.notes,
    }  # fmt: skip


def _submitted(ctx: Ctx) -> tuple[IncidentFields | None, dict[str, Any], str]:
    """The parsed form, the values to show again, and the problem (empty when none)."""
    form = ctx.form
    assert form is not None

    def get_all(name: str) -> list[str]:
        return [v for v in form.getlist(name) if isinstance(v, str)]

    values: dict[str, Any] = {k: ctx.field(k) for k in (
        "tenant", "title", "description", "occurred_at", "decision_ids", "ticket_ids",
        "authority", "reported_at", "notes")}  # fmt: skip
    values["categories"] = get_all("categories")
    values["measures"] = get_all("measures")
    try:
        return parse_incident(ctx.field, get_all), values, ""
    except IncidentError as e:
        return None, values, _incident_error(ctx, e)


async def index(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    found = await reports.store.incidents(limit=SHOWN, newest_first=True)
    return ctx.console.render(ctx, "incidents.html", incidents=found, measures=MEASURES)


async def new(ctx: Ctx) -> Response:
    """The form, prefilled from a ticket (``?ticket=``) when staff start from one."""
    reports = reports_of(ctx)
    prefill: dict[str, Any] = {"tenant": "default", "categories": [], "measures": []}
    ticket_id = ctx.request.query_params.get("ticket")
    if ticket_id:
        t = await reports.store.get(ticket_id)
        if t is None:
            raise Refused(404, ctx.t("没有这个工单。", "No such ticket."))
        prefill.update(
            tenant=t.tenant, occurred_at=_local(t.created), decision_ids="\n".join(t.record_ids),
            ticket_ids=t.id, categories=list(t.categories),
            description=(t.text or "")[:2000],
        )  # fmt: skip
    return _form(ctx, None, prefill)


async def create(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    fields, values, error = _submitted(ctx)
    if fields is None:
        return _form(ctx, None, values, 400, error)
    incident = await reports.create_incident(ctx.user.name, fields)
    ctx.db.log(ctx.user.name, "incident_create", incident.id, fields.title)
    return redirect(f"{PREFIX}/incidents/{incident.id}")


async def page(ctx: Ctx) -> Response:
    incident = await reports_of(ctx).store.incident(ctx.request.path_params["id"])
    if incident is None:
        raise Refused(404, ctx.t("没有这条事件记录。", "No such incident record."))
    return _form(ctx, incident, _values(incident))


async def update(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    incident_id = ctx.request.path_params["id"]
    fields, values, error = _submitted(ctx)
    if fields is None:
        return _form(ctx, await reports.store.incident(incident_id), values, 400, error)
    try:
        await reports.update_incident(incident_id, ctx.user.name, fields)
    except TicketError as e:
        raise ticket_error(ctx, e) from None
    ctx.db.log(ctx.user.name, "incident_update", incident_id, fields.title)
    return redirect(f"{PREFIX}/incidents/{incident_id}")


async def export_one(ctx: Ctx) -> Response:
    """One incident with its decisions and tickets: HTML (print or save as PDF) or JSON."""
    reports = reports_of(ctx)
    incident = await reports.store.incident(ctx.request.path_params["id"])
    if incident is None:
        raise Refused(404, ctx.t("没有这条事件记录。", "No such incident record."))
    store = ctx.state.audit_store
    records = [r for rid in incident.decision_ids if store is not None
               and (r := await store.get(rid)) is not None]  # fmt: skip
    tickets = [t for tid in incident.ticket_ids if (t := await reports.store.get(tid)) is not None]
    fmt = ctx.request.query_params.get("format", "html")
    ctx.db.log(ctx.user.name, "incident_export", incident.id, "", format=fmt)
    if fmt == "json":
        body = {**incident_row(incident), "decisions": [r.to_dict() for r in records],
                "tickets": [ticket_row(t) for t in tickets]}  # fmt: skip
        return Response(
            orjson.dumps(body, option=orjson.OPT_INDENT_2), media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{incident.id}.json"'},
        )  # fmt: skip
    if fmt != "html":
        raise Refused(400, ctx.t("格式应为 html 或 json。", "format must be html or json"))
    resp = HTMLResponse(render_incident(incident, records, tickets))
    # A standalone page with its own inline style and no script: its own, stricter policy.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return with_headers(resp)


async def export_all(ctx: Ctx) -> Response:
    reports = reports_of(ctx)
    fmt = ctx.request.query_params.get("format", "csv")
    if fmt not in MEDIA_TYPES:
        raise Refused(
            400, ctx.t("格式应为 jsonl、csv 或 xlsx。", "format must be jsonl, csv or xlsx")
        )
    ctx.db.log(ctx.user.name, "export_incidents", fmt)
    rows = incident_rows(iter_incidents(reports.store))
    name = f"incidents.{fmt}"
    if fmt == "xlsx":
        fd, tmp = tempfile.mkstemp(suffix=".xlsx")
        os.close(fd)
        await write_xlsx(INCIDENT_COLUMNS, rows, Path(tmp), "incidents")
        return FileResponse(tmp, media_type=MEDIA_TYPES[fmt], filename=name,
                            background=BackgroundTask(Path(tmp).unlink, missing_ok=True))  # fmt: skip
    chunks = jsonl_chunks(rows) if fmt == "jsonl" else csv_chunks(INCIDENT_COLUMNS, rows)
    return StreamingResponse(chunks, media_type=MEDIA_TYPES[fmt],
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
