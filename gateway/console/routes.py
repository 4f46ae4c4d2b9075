"""The console's routes, each wrapped by the guard with the least role it needs."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.console import (
    views_admin,
    views_assess,
    views_auth,
    views_incidents,
    views_lexicon,
    views_log,
    views_policy,
    views_reports,
    views_review,
    views_settings,
    views_shadow,
    views_tenants,
    views_try,
)
from gateway.console.db import Role
from gateway.console.web import Console, Handler

STATIC = Path(__file__).parent / "static"
V, E, A, ADM = Role.VIEWER, Role.EDITOR, Role.APPROVER, Role.ADMIN


def console_routes(console: Console) -> list[BaseRoute]:
    """Every console route; GETs never change state, every POST needs a CSRF token."""
    p = console.page
    table: list[tuple[str, Role | None, str, Handler]] = [
        ("/login", None, "GET", views_auth.login_form),
        ("/login", None, "POST", views_auth.login),
        ("/lang", None, "GET", views_auth.language),
        ("/logout", V, "POST", views_auth.logout),
        ("/", V, "GET", views_auth.home),
        ("/account", V, "GET", views_auth.account),
        ("/account", V, "POST", views_auth.change_password),
        ("/policy", V, "GET", views_policy.overview),
        ("/policy/refusals", V, "GET", views_policy.refusals_form),
        ("/policy/refusals", E, "POST", views_policy.refusals_save),
        ("/policy/category/{code}", V, "GET", views_policy.category_form),
        ("/policy/category/{code}", E, "POST", views_policy.category_save),
        ("/draft", V, "GET", views_policy.draft_page),
        ("/draft/publish", A, "POST", views_policy.publish_draft),
        ("/draft/discard", E, "POST", views_policy.discard_draft),
        ("/shadow", V, "GET", views_shadow.page),
        ("/shadow/start", E, "POST", views_shadow.start),
        ("/shadow/stop", E, "POST", views_shadow.stop),
        ("/settings", V, "GET", views_settings.page),
        ("/settings/{section}", E, "POST", views_settings.save),
        ("/allow/add", E, "POST", views_settings.allow_add),
        ("/allow/remove", E, "POST", views_settings.allow_remove),
        ("/tenants", V, "GET", views_tenants.page),
        ("/tenants", ADM, "POST", views_tenants.add),
        ("/tenants/{name}/key", ADM, "POST", views_tenants.new_key),
        ("/tenants/{name}/revoke", ADM, "POST", views_tenants.revoke_key),
        ("/tenants/{name}/overrides", ADM, "POST", views_tenants.overrides),
        ("/tenants/{name}/remove", ADM, "POST", views_tenants.remove),
        ("/versions", V, "GET", views_policy.versions),
        ("/versions/{id:int}/restore", E, "POST", views_policy.restore),
        ("/lexicon", V, "GET", views_lexicon.page),
        ("/lexicon/add", E, "POST", views_lexicon.add),
        ("/lexicon/remove", E, "POST", views_lexicon.remove),
        ("/lexicon/import", E, "POST", views_lexicon.bulk_import),
        ("/lexicon/export", V, "GET", views_lexicon.download),
        ("/try", V, "GET", views_try.form),
        ("/try", V, "POST", views_try.run),
        ("/try/replay", E, "POST", views_try.replay),
        ("/log", V, "GET", views_log.browse),
        ("/log/export", V, "GET", views_log.export),
        ("/log/report", V, "GET", views_log.report),
        ("/log/{id}", V, "GET", views_log.record),
        ("/reviews", V, "GET", views_review.queue),
        ("/reviews/export", V, "GET", views_review.export),
        ("/reviews/{id}", E, "POST", views_review.decide),
        ("/reports", V, "GET", views_reports.queue),
        ("/reports/export", V, "GET", views_reports.export),
        ("/reports/{id}", V, "GET", views_reports.ticket),
        ("/reports/{id}/assign", E, "POST", views_reports.assign),
        ("/reports/{id}/answer", E, "POST", views_reports.answer),
        ("/reports/{id}/close", E, "POST", views_reports.close),
        ("/incidents", V, "GET", views_incidents.index),
        ("/incidents", E, "POST", views_incidents.create),
        ("/incidents/new", E, "GET", views_incidents.new),
        ("/incidents/export", V, "GET", views_incidents.export_all),
        ("/incidents/{id}", V, "GET", views_incidents.page),
        ("/incidents/{id}", E, "POST", views_incidents.update),
        ("/incidents/{id}/export", V, "GET", views_incidents.export_one),
        ("/assess", V, "GET", views_assess.page),
        ("/assess/{run}", V, "GET", views_assess.run_page),
        ("/assess/{run}/report", V, "GET", views_assess.report),
        ("/assess/{run}/files/{name}", V, "GET", views_assess.download),
        ("/assess/{run}/manual", E, "POST", views_assess.upload_manual),
        ("/admin/users", ADM, "GET", views_admin.users),
        ("/admin/users", ADM, "POST", views_admin.create_user),
        ("/admin/users/{name}", ADM, "POST", views_admin.update_user),
        ("/admin/log", A, "GET", views_admin.admin_log),
    ]
    routes: list[BaseRoute] = [
        Route(path, p(role, handler), methods=[method]) for path, role, method, handler in table
    ]
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="console-static"))
    return routes
