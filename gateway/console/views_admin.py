"""Accounts (admin only) and the admin log (who, when, what, why)."""

from __future__ import annotations

import asyncio
import re

from starlette.responses import Response

from gateway.console.db import Role
from gateway.console.passwords import WeakPassword, hash_password
from gateway.console.web import PREFIX, Ctx, Refused, redirect

NAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


async def users(ctx: Ctx) -> Response:
    return ctx.console.render(
        ctx, "users.html", users=ctx.db.users(), roles=[r.value for r in Role]
    )


def _role(ctx: Ctx) -> Role:
    try:
        return Role(ctx.field("role"))
    except ValueError:
        raise Refused(400, "unknown role") from None


async def create_user(ctx: Ctx) -> Response:
    name, role = ctx.field("username").strip(), _role(ctx)
    if not NAME.match(name):
        raise Refused(400, "user names: 2-64 letters, digits, _ . @ -")
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
        raise Refused(404, "no such user")
    ctx.db.log(ctx.user.name, "update_user", name, ctx.field("reason"), role=role.value,
               active=active)  # fmt: skip
    return redirect(f"{PREFIX}/admin/users")


async def admin_log(ctx: Ctx) -> Response:
    return ctx.console.render(ctx, "admin_log.html", entries=ctx.db.admin_log())
