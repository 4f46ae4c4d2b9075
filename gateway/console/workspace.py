"""The draft as handlers use it: start it from the live bundle, apply an edit, record who
changed it (they may then not publish it) and why."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.console.db import Draft
from gateway.console.web import Ctx
from gateway.policy.holder import PolicyHolder

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
) -> None:
    """Apply ``change`` to the draft (started from live if none), then log the edit.

    ``change`` raises ``PolicyError`` or ``ValueError`` to refuse; nothing is saved then."""
    policy, files, draft = working(ctx)
    new = change(policy, files)
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
