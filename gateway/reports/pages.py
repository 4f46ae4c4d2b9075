"""The public pages: a report form an app can link from any answer (``/report?d=…``),
the reporter's status lookup, and the published handling process.

No login and no framework: server-rendered HTML in Chinese or English, no script at all.
Every page is rate-limited per source address. A reporter sees a ticket only with its id
and the lookup token handed out when filing; nothing on these pages ever shows reported
text, contact details or anything another reporter sent. Forms carry a signed, expiring
token, so a form on another site cannot post reports through a visitor's browser.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.errors import GatewayError, InvalidRequest, RateLimited, UnsupportedMediaType
from gateway.http.body import read_body
from gateway.http.responses import JSONResponse
from gateway.http.state import AppState
from gateway.policy.compiled import DEFAULT_TENANT
from gateway.policy.model import ReportsSpec
from gateway.reports.model import OUTCOME_LABELS, STATUS_LABELS
from gateway.reports.ratelimit import retry_after_header
from gateway.reports.routes import client_address
from gateway.reports.service import Reports
from gateway.reports.validation import parse_report
from gateway.reports.views import process_view

FORM_TOKEN_SECONDS = 4 * 3600  # a form left open longer must be reloaded
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 20
CHINA_TIME = timezone(timedelta(hours=8))
HEADERS = {
    # No script anywhere; styles only from the gateway itself. Framing is allowed on purpose:
    # an app may show the form in a dialog, and a framed form can do nothing a direct
    # request could not.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Nothing secret is ever in a URL here (lookups are POSTs); "same-origin" still lets the
    # browser send Origin with the form (under "no-referrer" it sends "Origin: null").
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_CSS = resources.files("gateway.reports").joinpath("static/report.css").read_bytes()
_ENV = Environment(
    loader=PackageLoader("gateway.reports", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(epoch: float | None, lang: str) -> str:
    if epoch is None:
        return "—"
    label = "北京时间" if lang == "zh" else "UTC+8"
    return f"{datetime.fromtimestamp(epoch, CHINA_TIME):%Y-%m-%d %H:%M} ({label})"


_ENV.filters["when"] = _when
_ENV.filters["hours"] = lambda h: f"{h:g}"


def _lang(request: Request, given: str | None = None) -> str:
    chosen = given or request.query_params.get("lang")
    if chosen in ("zh", "en"):
        return chosen
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "zh"


def _form_key(state: AppState) -> bytes:
    return ("report-form:" + state.settings.pseudonym_secret()).encode()


def form_token(state: AppState, now: float | None = None) -> str:
    stamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(_form_key(state), stamp.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{stamp}.{mac}"


def _form_token_ok(state: AppState, token: str) -> bool:
    stamp, _, mac = token.partition(".")
    if not stamp.isdigit():
        return False
    expected = hmac.new(_form_key(state), stamp.encode(), hashlib.sha256).hexdigest()[:32]
    age = time.time() - int(stamp)
    return hmac.compare_digest(mac, expected) and -60 <= age <= FORM_TOKEN_SECONDS


def _page(template: str, status: int = 200, **values: Any) -> Response:
    lang = values.get("lang", "zh")

    def t(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    html = _ENV.get_template(template).render(t=t, **values)
    response = HTMLResponse(html, status)
    for k, v in HEADERS.items():
        response.headers[k] = v
    return response


class _Context:
    """What every page needs: the service, the tenant, its spec, the language."""

    def __init__(self, request: Request, lang: str | None = None) -> None:
        self.request = request
        self.state: AppState = request.app.state.gateway
        self.reports: Reports | None = self.state.reports
        self.lang = _lang(request, lang)
        given = request.query_params.get("t", "")
        known = self.reports is not None and self.reports.known_tenant(given)
        self.tenant = given if known else DEFAULT_TENANT
        self.spec: ReportsSpec | None = (
            self.reports.spec(self.tenant) if self.reports is not None else None
        )

    def links(self) -> dict[str, str]:
        """Query strings: ``here`` for links to the other pages and form actions, ``zh`` and
        ``en`` for the language switch (which keeps a prefilled decision id)."""
        keep = {"t": self.tenant} if self.tenant != DEFAULT_TENANT else {}
        d = self.request.query_params.get("d", "")[:128]
        switch = {**keep, "d": d} if d else keep
        return {
            "zh": urlencode({**switch, "lang": "zh"}),
            "en": urlencode({**switch, "lang": "en"}),
            "here": urlencode({**keep, "lang": self.lang}),
        }

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        return _page(template, status, lang=self.lang, links=self.links(), spec=self.spec,
                     **values)  # fmt: skip

    async def gate(self) -> Response | None:
        """The page that answers instead, when reports are off or the source is over its
        limit; None to go on."""
        if self.reports is None or self.spec is None or not self.spec.enabled:
            return self.render("closed.html", 404)
        wait = await self.reports.limit_views(client_address(self.request))
        if wait is not None:
            return self.limited(wait)
        return None

    def limited(self, wait: float) -> Response:
        response = self.render("limited.html", 429)
        response.headers.update(retry_after_header(wait))
        return response


async def report_form(request: Request) -> Response:
    ctx = _Context(request)
    refused = await ctx.gate()
    if refused is not None:
        return refused
    values = {"decision_id": request.query_params.get("d", "")[:128]}
    return ctx.render("form.html", form=values, form_token=form_token(ctx.state), error=None)


async def _read_form(request: Request) -> dict[str, str]:
    """The posted form, bounded in size and fields (the pages post plain urlencoded forms)."""
    raw = await read_body(request, MAX_FORM_BYTES)
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("Send the form as application/x-www-form-urlencoded.")
    try:
        pairs = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True,
                          max_num_fields=MAX_FORM_FIELDS)  # fmt: skip
    except ValueError:
        raise InvalidRequest("The form has too many fields.") from None
    return dict(pairs)


async def _posted(request: Request) -> tuple[_Context, dict[str, str] | Response]:
    """The page context and the form, or the page that answers instead."""
    try:
        fields = await _read_form(request)
    except GatewayError as e:
        ctx = _Context(request)
        return ctx, ctx.render("error.html", e.status, error=e.message)
    ctx = _Context(request, fields.get("lang"))
    refused = await ctx.gate()
    return ctx, refused if refused is not None else fields


async def report_submit(request: Request) -> Response:
    ctx, fields = await _posted(request)
    if isinstance(fields, Response):
        return fields
    assert ctx.reports is not None and ctx.spec is not None
    origin = request.headers.get("origin")
    same_site = origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"
    if not same_site or not _form_token_ok(ctx.state, fields.get("form_token", "")):
        return ctx.render("form.html", 403, form=fields, form_token=form_token(ctx.state),
                          error=ctx_text(ctx, "expired"))  # fmt: skip
    body = {k: v for k, v in fields.items() if k in ("decision_id", "text", "reason", "detail",
                                                     "contact", "lang") and v}  # fmt: skip
    try:
        await ctx.reports.limit(ctx.spec, client_address(request))
        report = parse_report(body, ctx.spec)
        filed = await ctx.reports.file(None, report, source="page", default_tenant=ctx.tenant)
    except RateLimited as e:
        return ctx.limited(e.retry_after)
    except GatewayError as e:
        return ctx.render("form.html", e.status, form=fields, form_token=form_token(ctx.state),
                          error=e.message, error_field=e.param)  # fmt: skip
    hours = ctx.spec.hours_for(report.reason)
    return ctx.render("filed.html", ticket=filed.ticket, token=filed.token, merged=filed.merged,
                      hours=hours)  # fmt: skip


def ctx_text(ctx: _Context, key: str) -> str:
    zh, en = {
        "expired": ("表单已过期，请重新提交。", "The form expired; please submit it again."),
        "not_found": ("没有找到该工单，请核对工单编号和查询码。",
                      "No ticket matches this number and lookup code."),
    }[key]  # fmt: skip
    return en if ctx.lang == "en" else zh


async def status_form(request: Request) -> Response:
    ctx = _Context(request)
    refused = await ctx.gate()
    if refused is not None:
        return refused
    return ctx.render("status.html", ticket=None, ticket_id="", error=None)


async def status_lookup(request: Request) -> Response:
    """The lookup token travels in the POST body, never in a URL."""
    ctx, fields = await _posted(request)
    if isinstance(fields, Response):
        return fields
    assert ctx.reports is not None
    ticket_id = fields.get("id", "").strip()[:64]
    ticket = await ctx.reports.lookup(ticket_id, fields.get("token", "").strip()[:64])
    if ticket is None:
        return ctx.render("status.html", 404, ticket=None, ticket_id=ticket_id,
                          error=ctx_text(ctx, "not_found"))  # fmt: skip
    return ctx.render(
        "status.html", ticket=ticket, ticket_id=ticket_id, error=None, now=ctx.reports.now(),
        status_label=STATUS_LABELS[ticket.status], outcome_labels=OUTCOME_LABELS,
    )  # fmt: skip


async def process_page(request: Request) -> Response:
    ctx = _Context(request)
    refused = await ctx.gate()
    if refused is not None:
        return refused
    assert ctx.spec is not None
    if request.query_params.get("format") == "json":
        response = JSONResponse(process_view(ctx.spec, ctx.lang))
        response.headers.update({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
        return response
    return ctx.render("process.html", view=process_view(ctx.spec, ctx.lang))


async def stylesheet(request: Request) -> Response:
    return Response(_CSS, media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600",
                             "X-Content-Type-Options": "nosniff"})  # fmt: skip


def page_routes() -> list[Route]:
    return [
        Route("/report", report_form, methods=["GET"]),
        Route("/report", report_submit, methods=["POST"]),
        Route("/report/status", status_form, methods=["GET"]),
        Route("/report/status", status_lookup, methods=["POST"]),
        Route("/report/process", process_page, methods=["GET"]),
        Route("/report/report.css", stylesheet, methods=["GET"]),
    ]


__all__ = ["form_token", "page_routes"]
