"""SQL shared by the two backends: the column list, row encoding, and filter clauses.

JSON-valued fields are stored as text in both backends, byte-for-byte as written, so a
record read back hashes exactly as it did when it was sealed. Column names are quoted
because ``user`` is reserved in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from gateway.audit.anchors import Anchor
from gateway.audit.errors import AuditConfigError
from gateway.audit.record import DecisionRecord, format_ts, parse_ts, record_columns
from gateway.audit.store import RecordFilter

COLUMNS = tuple(record_columns())
COLUMN_LIST = ", ".join(f'"{c}"' for c in COLUMNS)
_JSON = frozenset({"categories", "scores", "matched_terms", "latency_ms"})
_JSON_IDX = tuple(i for i, c in enumerate(COLUMNS) if c in _JSON)
_TS_IDX = COLUMNS.index("ts")
_INCIDENT_IDX = COLUMNS.index("incident")


@dataclass(frozen=True, slots=True)
class Dialect:
    placeholder: str  # "?" or "%s"
    ts_as_text: bool  # SQLite keeps fixed-width ISO text; PostgreSQL a timestamptz
    category_match: str  # SQL that is true when the JSON array ``categories`` holds {p}
    ts_type: str  # column type of a timestamp


SQLITE = Dialect("?", True, "EXISTS (SELECT 1 FROM json_each(categories) WHERE value = ?)", "TEXT")
POSTGRES = Dialect("%s", False, "jsonb_exists(categories::jsonb, %s)", "timestamptz")

# Columns added since the first release: (table, column, type and default). Opening a store
# adds the missing ones (ALTER TABLE ... ADD COLUMN), so an existing log keeps working.
# Rows from before get the default: no ending, and an anchor without a seal (which verify
# reports as not sealed with this gateway's key).
MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    ("audit_records", "ending", "TEXT NOT NULL DEFAULT ''"),
    ("audit_anchors", "record_id", "TEXT NOT NULL DEFAULT ''"),
    ("audit_anchors", "newest_ts", "{ts}"),
    ("audit_anchors", "mac", "TEXT NOT NULL DEFAULT ''"),
)
ANCHOR_COLUMNS = ("chain_id", "seq", "hash", "purged_at", "record_id", "newest_ts", "mac")


def migrations(dialect: Dialect) -> list[tuple[str, str, str]]:
    return [(t, c, kind.format(ts=dialect.ts_type)) for t, c, kind in MIGRATIONS]


def check_columns(found: Sequence[str], where: str) -> None:
    """Refuse a table laid out for another version of the record that the migrations do
    not cover: a clear error at open beats a failed insert on the request path. Column
    order does not matter (columns are always named), so a migrated table passes."""
    if set(found) != set(COLUMNS) or len(found) != len(COLUMNS):
        missing = sorted(set(COLUMNS) - set(found))
        extra = sorted(set(found) - set(COLUMNS))
        raise AuditConfigError(
            f"{where}: audit_records has another layout (missing {missing}, unexpected {extra}); "
            "export it with the gateway version that wrote it, then start a new log"
        )


def anchor_row(a: Anchor, dialect: Dialect) -> tuple[Any, ...]:
    def ts(v: datetime | None) -> Any:
        return None if v is None else ts_param(v, dialect)

    return (a.chain_id, a.seq, a.hash, ts(a.purged_at), a.record_id, ts(a.newest_ts), a.mac)


def anchor_from_row(row: Sequence[Any]) -> Anchor:
    def ts(v: Any) -> datetime | None:
        if v is None or v == "":
            return None
        return v if isinstance(v, datetime) else parse_ts(v)

    chain_id, seq, hash_, purged_at, record_id, newest_ts, mac = row
    return Anchor(chain_id, int(seq), hash_, record_id, ts(purged_at), ts(newest_ts), mac)


def to_row(r: DecisionRecord, dialect: Dialect) -> tuple[Any, ...]:
    """Column values in ``COLUMNS`` order. Spelled out rather than via ``to_dict``: this runs
    once per record on the write path, and the test suite checks the order."""
    dumps = orjson.dumps
    return (
        r.id, format_ts(r.ts) if dialect.ts_as_text else r.ts, r.direction, r.action,
        r.tenant, r.user, r.request_id, r.route, r.stage, r.incident, r.ending, r.sanction,
        dumps(r.categories).decode(), dumps(r.scores).decode(),
        dumps(r.matched_terms).decode(), r.policy_version, r.model_version,
        dumps(r.latency_ms).decode(), r.text_mode, r.text, r.chain_id, r.seq,
        r.prev_hash, r.hash,
    )  # fmt: skip


def from_row(row: Sequence[Any]) -> DecisionRecord:
    values = list(row)
    for i in _JSON_IDX:
        values[i] = orjson.loads(values[i])
    ts = values[_TS_IDX]
    values[_TS_IDX] = ts if isinstance(ts, datetime) else parse_ts(ts)
    values[_INCIDENT_IDX] = bool(values[_INCIDENT_IDX])
    return DecisionRecord.from_dict(dict(zip(COLUMNS, values, strict=True)))


def ts_param(ts: datetime, dialect: Dialect) -> Any:
    return format_ts(ts) if dialect.ts_as_text else ts


def where(
    flt: RecordFilter, after: tuple[datetime, str] | None, dialect: Dialect
) -> tuple[str, list[Any]]:
    """The WHERE clause (or "") and its parameters for a filtered, keyset-paged query."""
    p = dialect.placeholder
    parts: list[str] = []
    params: list[Any] = []
    if flt.since is not None:
        parts.append(f"ts >= {p}")
        params.append(ts_param(flt.since, dialect))
    if flt.until is not None:
        parts.append(f"ts < {p}")
        params.append(ts_param(flt.until, dialect))
    for column, value in (
        ("tenant", flt.tenant), ("action", flt.action), ("direction", flt.direction),
        ("ending", flt.ending),
    ):  # fmt: skip
        if value is not None:
            parts.append(f"{column} = {p}")
            params.append(value)
    if flt.category is not None:
        parts.append(dialect.category_match)
        params.append(flt.category)
    if after is not None:
        parts.append(f"(ts, id) > ({p}, {p})")
        params += [ts_param(after[0], dialect), after[1]]
    return (" WHERE " + " AND ".join(parts)) if parts else "", params
