"""One canonical form of the request path, decided before routing.

A moderation gateway must not let another spelling of a moderated route reach the
upstream through a route that does not check it (``/v1/./chat/completions`` through the
pass-through, ``/v1/%2e/chat/completions`` decoded once here and again upstream). So a
path is refused unless its raw form, as the client sent it, is already canonical: no
percent-encoded dot, slash, backslash or percent (nothing is decoded twice), no dot
segments, no empty segments, no trailing slash, no backslash, control or non-ASCII
characters. Pure: no I/O, table-tested in ``tests/http_paths_test.py``.
"""

from __future__ import annotations

import re

# Percent-encodings that change how a path splits or decodes: . / \ %.
_BAD_ESCAPE = re.compile(rb"%(2e|2f|5c|25)", re.IGNORECASE)
_BAD_CHARS = re.compile(rb"[\x00-\x1f\x7f\\]|[^\x00-\x7f]")

# Route labels for metrics, from a fixed set: never raw user input.
ROUTE_LABELS = {
    "/v1/chat/completions": "chat_completions",
    "/v1/completions": "completions",
    "/v1/moderations": "moderations",
    "/v1/responses": "responses",
    "/v1/reports": "reports",
}
# Routes whose responses carry a moderation decision (and its id header).
MODERATED_LABELS = frozenset({"chat_completions", "completions", "moderations", "responses"})
PASSTHROUGH_LABEL = "passthrough"


def path_problem(raw_path: bytes, path: str) -> str | None:
    """Why this path is refused, or None when it is canonical. ``raw_path`` is what the
    client sent (percent-encoded); ``path`` is the server's decoded form."""
    if _BAD_ESCAPE.search(raw_path):
        return "percent-encoded '.', '/', '\\' or '%' in the path"
    if _BAD_CHARS.search(raw_path) or _BAD_CHARS.search(path.encode("utf-8", "replace")):
        return "control, non-ASCII or backslash characters in the path"
    if "%" in path:
        return "a percent sign in the decoded path (double encoding)"
    segments = path.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        return "a '.' or '..' segment in the path"
    if path.startswith("/v1/") or path == "/v1":
        if "" in segments:
            return "an empty segment or a trailing slash in the path"
    elif "" in segments[:-1]:
        return "an empty segment in the path"
    return None


def route_label(path: str) -> str | None:
    """The metrics label of a canonical path; None for routes not counted (health, console)."""
    label = ROUTE_LABELS.get(path)
    if label is not None:
        return label
    if path.startswith("/v1/reports/"):
        return "reports"
    return PASSTHROUGH_LABEL if path.startswith("/v1/") else None
