"""Turning query strings (admin routes, CLI flags) into a ``RecordFilter``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from gateway.audit.errors import AuditError
from gateway.audit.recording import Ending
from gateway.audit.store import RecordFilter
from gateway.decision import Action, Direction


class BadFilter(AuditError):
    """A filter value that does not parse; the message names the parameter."""


def parse_time(name: str, value: str) -> datetime:
    """ISO 8601 date or date-time; naive values are taken as UTC."""
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise BadFilter(f"{name}: not an ISO 8601 date or date-time: {value!r}") from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def filter_from(get: Callable[[str], str | None]) -> RecordFilter:
    """Build a filter from a lookup such as ``request.query_params.get``."""
    since, until = get("since"), get("until")
    action, direction = get("action"), get("direction")
    if action is not None and action not in {a.value for a in Action}:
        raise BadFilter(f"action: must be one of {', '.join(a.value for a in Action)}")
    if direction is not None and direction not in {d.value for d in Direction}:
        raise BadFilter(f"direction: must be one of {', '.join(d.value for d in Direction)}")
    ending = get("ending")
    if ending is not None and ending not in {e.value for e in Ending}:
        named = ", ".join(e.value for e in Ending if e.value)
        raise BadFilter(f"ending: must be one of {named}, or empty for records without one")
    return RecordFilter(
        since=parse_time("since", since) if since else None,
        until=parse_time("until", until) if until else None,
        tenant=get("tenant"),
        category=get("category"),
        action=action,
        direction=direction,
        ending=ending,
    )


def describe(flt: RecordFilter) -> dict[str, str]:
    """The filter's set fields, for report headers."""
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v))
            for k in RecordFilter.__dataclass_fields__
            if (v := getattr(flt, k)) is not None}  # fmt: skip
