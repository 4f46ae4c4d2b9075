"""Accounts (admin only) and the admin log (who, when, what, why)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from starlette.responses import Response

from gateway.console.changes import value_text
from gateway.console.db import Role
from gateway.console.fields import field_name
from gateway.console.labels import word
from gateway.console.passwords import WeakPassword, hash_password
from gateway.console.web import PREFIX, Ctx, Refused, redirect
from gateway.reports.model import STATUS_LABELS

NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


async def users(ctx: Ctx) -> Response:
    return ctx.console.render(
        ctx, "users.html", users=ctx.db.users(), roles=[r.value for r in Role]
    )


def _role(ctx: Ctx) -> Role:
    try:
        return Role(ctx.field("role"))
    except ValueError:
        raise Refused(400, ctx.t("未知的角色。", "unknown role")) from None


async def create_user(ctx: Ctx) -> Response:
    name, role = ctx.field("username").strip(), _role(ctx)
    if not NAME.match(name):
        raise Refused(400, ctx.t("用户名：2 到 64 个字母、数字或 _ . @ -。",
                                 "user names: 2-64 letters, digits, _ . @ -"))  # fmt: skip
    if ctx.db.user(name) is not None:
        raise Refused(409, ctx.t("用户已存在。", "That user exists."))
    try:
        hashed = await asyncio.to_thread(hash_password, ctx.field("password"))
    except WeakPassword as e:
        raise Refused(400, str(e)) from None
    ctx.db.add_user(name, role, hashed)
    ctx.db.log(ctx.user.name, "create_user", name, ctx.field("reason"), role=role.value)
    return redirect(f"{PREFIX}/admin/users")


async def update_user(ctx: Ctx) -> Response:
    name, role = ctx.request.path_params["name"], _role(ctx)
    active = ctx.field("active") == "on"
    if name == ctx.user.name and (role is not Role.ADMIN or not active):
        raise Refused(400, ctx.t("不能降低自己的权限。", "You cannot demote or disable yourself."))
    if not ctx.db.set_role(name, role, active):
        raise Refused(404, ctx.t("没有这个账号。", "no such user"))
    ctx.db.log(ctx.user.name, "update_user", name, ctx.field("reason"), role=role.value,
               active=active)  # fmt: skip
    return redirect(f"{PREFIX}/admin/users")


LOG_PAGE = 100
_SOURCES = {"live": ("生效版本", "live"), "draft": ("草稿", "draft")}
_FILTERS = {"since": ("起始", "since"), "until": ("截止", "until"), "tenant": ("租户", "tenant"),
            "category": ("类别", "category"), "action": ("动作", "action"),
            "direction": ("方向", "direction")}  # fmt: skip


def target_text(target: str, lang: str) -> str:
    """What an entry acted on: a version, a shadow run, the draft, a settings section, or
    data (a term, a user, a record id) shown as it is."""
    m = re.fullmatch(r"(version|run) (\d+)", target)
    if m is not None:
        if lang == "en":
            return target
        return f"第 {m.group(2)} 版" if m.group(1) == "version" else f"第 {m.group(2)} 次影子运行"
    if target in ("draft", "policy"):
        return {"draft": ("草稿", "draft"), "policy": ("策略", "policy")}[target][lang == "en"]
    if target in ("audit", "pii", "stream", "sanctions"):
        return field_name((target,), lang)
    return target


def detail_text(key: str, value: Any, lang: str) -> str:
    """A detail of an admin-log entry in words."""
    pick = 1 if lang == "en" else 0
    if key == "source" and value in _SOURCES:
        return _SOURCES[value][pick]
    if key == "role":
        return word("role", value, lang)
    if key == "section":
        return field_name((str(value),), lang)
    if key == "status" and value in STATUS_LABELS:
        return STATUS_LABELS[value][pick]
    if key == "share" and isinstance(value, float):
        return f"{value:.0%}"
    if key == "filters" and isinstance(value, dict):
        sep = ", " if lang == "en" else "，"
        return sep.join(f"{_FILTERS.get(k, (k, k))[pick]} {word(k, v, lang) if k in ('action', 'direction') else v}"
                        for k, v in value.items()) or ("none" if lang == "en" else "无")  # fmt: skip
    return value_text(key, value, lang).strip('“”"')


async def admin_log(ctx: Ctx) -> Response:
    """Newest first, 100 a page; each entry's details as words, not JSON."""
    try:
        before = int(ctx.request.query_params.get("before", "0")) or None
    except ValueError:
        before = None
    entries = ctx.db.admin_log(LOG_PAGE, before=before)
    for e in entries:
        detail = orjson.loads(e["detail"]) if e["detail"] else {}
        e["target"] = target_text(e["target"], ctx.lang)
        e["details"] = [(word("detail", k, ctx.lang), detail_text(k, v, ctx.lang))
                        for k, v in detail.items()]  # fmt: skip
    older = entries[-1]["id"] if len(entries) == LOG_PAGE else None
    return ctx.console.render(ctx, "admin_log.html", entries=entries, older=older)
