"""The draft as handlers use it: start it from the live bundle, apply an edit, record who
changed it (they may then not publish it) and why."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from gateway.console.db import Draft
from gateway.console.draft import bundle_problems
from gateway.console.problems import explain
from gateway.console.web import Ctx
from gateway.policy.holder import PolicyHolder
from gateway.policy.loader import PolicyError

Bundle = dict[str, str]


def live_bundle(holder: PolicyHolder) -> tuple[str, Bundle]:
    """(policy file name, files) of the live policy."""
    files = holder.bundle()
    return next(iter(files)), files


def working(ctx: Ctx) -> tuple[str, Bundle, Draft | None]:
    """The draft's bundle when there is one, else the live one."""
    draft = ctx.db.draft()
    if draft is not None:
        return draft.policy, draft.files, draft
    policy, files = live_bundle(ctx.state.policies)
    return policy, files, None


def edit(
    ctx: Ctx, change: Callable[[str, Bundle], Bundle], action: str, target: str, **detail: object
) -> bool:
    """Apply ``change`` to the draft (started from live if none), then log the edit; False
    (nothing saved, nothing logged) when the change leaves every file as it was.

    ``change`` raises ``PolicyError`` or ``ValueError`` to refuse; nothing is saved then."""
    policy, files, draft = working(ctx)
    new = change(policy, files)
    if new == files:
        return False
    authors = tuple(dict.fromkeys((*(draft.authors if draft else ()), ctx.user.name)))
    ctx.db.save_draft(
        Draft(
            policy=policy,
            files=new,
            authors=authors,
            base_version=draft.base_version if draft else ctx.state.policies.current.version,
            source=draft.source if draft else "live",
            updated=time.time(),
        )
    )
    ctx.db.log(ctx.user.name, action, target, ctx.field("reason"), **detail)
    # A shadow run judges the draft it started with; an edit makes it a different draft.
    shadow = ctx.state.shadow
    if shadow.plan is not None:
        shadow.stop(shadow.plan.run_id, "stale")
    return True


async def refuse_edit(
    ctx: Ctx, error: Exception, form: Callable[[Ctx], Awaitable[Response]]
) -> Response:
    """The form again, with what was wrong in the reader's language (HTTP 400); the draft
    is left as it was."""
    if isinstance(error, PolicyError):
        # A form names its fields itself; the file and line would only confuse here, except
        # for problems in other files (a term file) that the edit brought to light.
        for p in bundle_problems(error):
            ctx.flash.append(explain(p, ctx.lang, place=p.file != working(ctx)[0]))
    else:
        ctx.flash.append(str(error))
    resp = await form(ctx)
    resp.status_code = 400
    return resp
