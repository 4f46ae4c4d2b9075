"""The console's request plumbing: who is asking (session cookie), may they (role, CSRF),
and rendering (Jinja2, autoescaped, the user's language).

Every handler is wrapped by :meth:`Console.page`, which is the single place that refuses
anonymous users (redirect to the login page for GET, 403 otherwise), checks the role,
checks the CSRF token and the Origin of every POST, and sets the security headers.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.console.db import ConsoleDB, Role, Session, User
from gateway.console.fields import field_name
from gateway.console.labels import article, reason_detail, source, word
from gateway.console.publish import Compiler
from gateway.console.throttle import AttemptLimiter, LoginThrottle
from gateway.console.tryit import Evaluator
from gateway.http.state import AppState

COOKIE = "gw_console"
LOGIN_COOKIE = "gw_console_login"  # double-submit CSRF token for the login form
LANG_COOKIE = "gw_console_lang"
PREFIX = "/console"
DEFAULT_DB = Path("var/gateway/console.db")
MAX_FORM_BYTES = 8 * 1024 * 1024  # bulk imports are the largest forms

HEADERS = {
    # No inline script or style anywhere, so a term that slipped past escaping still
    # could not run; frames are refused (clickjacking).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def db_path_from_env() -> Path:
    """``GATEWAY_CONSOLE_DB``, else ``var/gateway/console.db``."""
    return Path(os.environ.get("GATEWAY_CONSOLE_DB") or DEFAULT_DB)


class Refused(Exception):
    """A request the console turns away; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True)
class Ctx:
    """One request as a handler sees it."""

    request: Request
    console: Console
    session: Session | None
    lang: str
    form: FormData | None = None
    flash: list[str] = field(default_factory=list)

    @property
    def user(self) -> User:
        assert self.session is not None
        return self.session.user

    @property
    def state(self) -> AppState:
        state: AppState = self.request.app.state.gateway
        return state

    @property
    def db(self) -> ConsoleDB:
        return self.console.db

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value if isinstance(value, str) else default

    def t(self, zh: str, en: str) -> str:
        return en if self.lang == "en" else zh


Handler = Callable[[Ctx], Awaitable[Response]]


def secure_cookie(request: Request) -> bool:
    # Behind a TLS-terminating proxy the app sees http; X-Forwarded-Proto tells the truth
    # only when uvicorn trusts the proxy (--forwarded-allow-ips), which sets the scheme.
    return request.url.scheme == "https"


class Console:
    def __init__(self, db_path: Path | None = None) -> None:
        self._db_path = db_path
        self._db: ConsoleDB | None = None
        self.compiler = Compiler()
        self.throttle = LoginThrottle()
        self.attempts = AttemptLimiter()
        self.publish_lock = asyncio.Lock()  # one publish at a time (per process)
        self._evaluator: Evaluator | None = None
        self.env = Environment(
            loader=PackageLoader("gateway.console", "templates"),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["ts"] = _format_ts
        self.env.filters["dt"] = _format_dt

    @property
    def db(self) -> ConsoleDB:
        # Opened on first use, so building the Mount creates no files: a gateway whose
        # console nobody opens leaves no console database behind.
        if self._db is None:
            self._db = ConsoleDB(self._db_path or db_path_from_env())
        return self._db

    def evaluator(self, state: AppState) -> Evaluator:
        if self._evaluator is None:
            cascade = state.pipeline.cascade
            self._evaluator = Evaluator(
                state.pipeline.classifier, second=cascade.second if cascade is not None else None
            )
        return self._evaluator

    # --- rendering
    def render(self, ctx: Ctx, template: str, status: int = 200, **values: Any) -> Response:
        lang = ctx.lang
        page = self.env.get_template(template).render(
            t=ctx.t, lang=lang, user=ctx.session.user if ctx.session else None,
            csrf=ctx.session.csrf if ctx.session else "", prefix=PREFIX,
            path=ctx.request.url.path, query=str(ctx.request.url.query), flash=ctx.flash,
            Role=Role, w=lambda kind, code: word(kind, code, lang),
            article=lambda text: article(text, lang), source=lambda text: source(text, lang),
            reason_detail=lambda kind, detail: reason_detail(kind, detail, lang),
            fname=lambda *loc: field_name(loc, lang),
            tenant_name=lambda name: ("默认" if lang != "en" else "default") if name in ("", "default") else name,
            **values,
        )  # fmt: skip
        return with_headers(HTMLResponse(page, status))

    def refuse(self, ctx: Ctx, status: int, message: str) -> Response:
        return self.render(ctx, "error.html", status=status, status_code=status, message=message)

    # --- the guard
    def page(self, role: Role | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap ``handler``: ``role`` None means public (the login page)."""

        async def endpoint(request: Request) -> Response:
            lang = "en" if request.cookies.get(LANG_COOKIE) == "en" else "zh"
            token = request.cookies.get(COOKIE)
            session = self.db.session(token) if token else None
            ctx = Ctx(request, self, session, lang)
            if role is not None and session is None:
                if request.method == "GET":
                    target = quote(
                        request.url.path + ("?" + request.url.query if request.url.query else "")
                    )
                    return with_headers(RedirectResponse(f"{PREFIX}/login?next={target}", 303))
                return self.refuse(ctx, 403, ctx.t("请先登录。", "Please log in first."))
            if request.method == "POST":
                try:
                    ctx.form = await request.form(max_part_size=MAX_FORM_BYTES)
                    self._check_post(request, ctx, session)
                except Refused as e:
                    return self.refuse(ctx, e.status, str(e))
            if role is not None and session is not None and not session.user.role.at_least(role):
                return self.refuse(
                    ctx, 403, ctx.t("您的角色无权执行此操作。", "Your role does not allow this.")
                )
            try:
                return await handler(ctx)
            except Refused as e:
                return self.refuse(ctx, e.status, str(e))

        return endpoint

    @staticmethod
    def _check_post(request: Request, ctx: Ctx, session: Session | None) -> None:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise Refused(403, ctx.t("拒绝来自其他网站的请求。", "cross-origin request refused"))
        given = ctx.field("csrf")
        expected = session.csrf if session is not None else request.cookies.get(LOGIN_COOKIE, "")
        if not given or not expected or not hmac.compare_digest(given, expected):
            raise Refused(403, ctx.t("表单已失效（CSRF 校验失败），请刷新页面后重试。",
                                     "The form expired (CSRF check failed); reload and retry."))  # fmt: skip


CHINA = timezone(timedelta(hours=8))


@pass_context
def _format_ts(context: Any, epoch: float) -> str:
    """An epoch time: Beijing time for the Chinese page, UTC for the English one."""
    return _format_dt(context, datetime.fromtimestamp(epoch, UTC))


@pass_context
def _format_dt(context: Any, when: datetime) -> str:
    if context.get("lang") == "en":
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return when.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def with_headers(response: Response) -> Response:
    for k, v in HEADERS.items():
        response.headers.setdefault(k, v)
    return response


def redirect(path: str) -> Response:
    """A 303 to a console path (never to another site)."""
    if not path.startswith(PREFIX) or path.startswith("//"):
        path = PREFIX + "/"
    return with_headers(RedirectResponse(path, 303))
