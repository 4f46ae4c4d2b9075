"""Log in, log out, the language toggle and the start page."""

from __future__ import annotations

import asyncio
import secrets

from starlette.responses import Response

from gateway.console.db import Role
from gateway.console.passwords import DUMMY_HASH, WeakPassword, hash_password, verify_password
from gateway.console.views_reports import overdue_summary
from gateway.console.views_review import home_counts
from gateway.console.web import (
    COOKIE,
    LANG_COOKIE,
    LOGIN_COOKIE,
    PREFIX,
    Ctx,
    Refused,
    redirect,
    secure_cookie,
)
from gateway.console.workspace import working


def _next(ctx: Ctx, raw: str) -> str:
    # Only console paths: an open redirect would make a phishing link look like ours.
    return raw if raw.startswith(PREFIX + "/") and not raw.startswith("//") else PREFIX + "/"


async def login_form(ctx: Ctx, error: str = "", status: int = 200) -> Response:
    token = ctx.request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    nxt = _next(ctx, ctx.request.query_params.get("next", "") or ctx.field("next"))
    resp = ctx.console.render(
        ctx, "login.html", status=status, login_csrf=token, next=nxt, error=error
    )
    resp.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict",
        secure=secure_cookie(ctx.request), path=PREFIX,
    )  # fmt: skip
    return resp


async def login(ctx: Ctx) -> Response:
    name, password = ctx.field("username").strip(), ctx.field("password")
    address = ctx.request.client.host if ctx.request.client is not None else "-"
    if not ctx.console.attempts.admit(address):
        # Before any hashing: this is what keeps a flood of logins off the CPU.
        ctx.db.log(name or "-", "login_rate_limited", address)
        message = ctx.t("登录尝试过于频繁，请稍后再试。",
                        "Too many login attempts; try again shortly.")  # fmt: skip
        return await login_form(ctx, message, 429)
    throttle = ctx.console.throttle
    if throttle.blocked(name):
        ctx.db.log(name or "-", "login_throttled", name)
        message = ctx.t("登录失败次数过多，请 15 分钟后再试。",
                        "Too many failed logins; try again in 15 minutes.")  # fmt: skip
        return await login_form(ctx, message, 429)
    found = ctx.db.user(name)
    stored = found[1] if found is not None else DUMMY_HASH
    # scrypt takes ~50 ms of CPU: off the event loop, and done for unknown names too.
    ok = await asyncio.to_thread(verify_password, password, stored)
    if not ok or found is None or not found[0].active:
        throttle.failed(name)
        ctx.db.log(name or "-", "login_failed", name)
        return await login_form(
            ctx, ctx.t("用户名或密码错误。", "Wrong user name or password."), 401
        )
    throttle.succeeded(name)
    ctx.console.attempts.refund(address)
    token, _ = ctx.db.new_session(found[0].name)
    ctx.db.log(found[0].name, "login", found[0].name)
    resp = redirect(_next(ctx, ctx.field("next")))
    resp.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=secure_cookie(ctx.request),
        path=PREFIX,
    )  # fmt: skip
    resp.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return resp


async def logout(ctx: Ctx) -> Response:
    token = ctx.request.cookies.get(COOKIE)
    if token:
        ctx.db.end_session(token)
    ctx.db.log(ctx.user.name, "logout", ctx.user.name)
    resp = redirect(PREFIX + "/login")
    resp.delete_cookie(COOKIE, path=PREFIX)
    return resp


async def language(ctx: Ctx) -> Response:
    lang = "en" if ctx.request.query_params.get("to") == "en" else "zh"
    resp = redirect(_next(ctx, ctx.request.query_params.get("next", "")))
    resp.set_cookie(LANG_COOKIE, lang, samesite="strict", secure=secure_cookie(ctx.request),
                    path=PREFIX, max_age=365 * 86400)  # fmt: skip
    return resp


async def home(ctx: Ctx) -> Response:
    current = ctx.state.policies.current
    _, _, draft = working(ctx)
    versions = ctx.db.versions(limit=1)
    classifier = ctx.state.pipeline.classifier
    plan = ctx.state.shadow.plan
    return ctx.console.render(
        ctx, "home.html", version=current.version, policy_name=current.base.policy.name,
        terms=len(current.base.matcher), draft=draft,
        log_on=ctx.state.audit_store is not None,
        is_approver=ctx.user.role.at_least(Role.APPROVER),
        complaints=await overdue_summary(ctx),
        counts=await home_counts(ctx) if ctx.state.audit_store is not None else None,
        last_publish=versions[0] if versions and versions[0].publisher != "-" else None,
        classifier=classifier.info() if classifier is not None else None,
        fail_mode=current.base.policy.fail_mode, shadow_run=plan.run_id if plan else None,
    )  # fmt: skip


async def account(ctx: Ctx) -> Response:
    return ctx.console.render(ctx, "account.html")


async def change_password(ctx: Ctx) -> Response:
    found = ctx.db.user(ctx.user.name)
    assert found is not None
    if not await asyncio.to_thread(verify_password, ctx.field("current"), found[1]):
        ctx.db.log(ctx.user.name, "change_password_failed", ctx.user.name)
        raise Refused(403, ctx.t("当前密码不正确。", "The current password is wrong."))
    if ctx.field("new") != ctx.field("repeat"):
        raise Refused(400, ctx.t("两次输入的新密码不一致。", "The new passwords differ."))
    try:
        hashed = await asyncio.to_thread(hash_password, ctx.field("new"))
    except WeakPassword as e:
        raise Refused(400, str(e)) from None
    ctx.db.set_password(ctx.user.name, hashed)
    ctx.db.log(ctx.user.name, "change_password", ctx.user.name)
    resp = redirect(PREFIX + "/login")
    resp.delete_cookie(COOKIE, path=PREFIX)
    return resp
