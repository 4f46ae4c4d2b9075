"""The shared backend: PostgreSQL through psycopg 3 (async), for several gateway replicas.

Each replica writes its own hash chain, so replicas never contend for a chain head; the
primary key on ``id`` and the unique ``(chain_id, seq)`` are the only coordination. One
connection carries the writer's group commits; reads use a second one so an export never
holds up a commit. A broken connection is dropped and reopened on the next call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from gateway.audit.anchors import Anchor, next_anchor
from gateway.audit.errors import AuditConfigError
from gateway.audit.record import DecisionRecord
from gateway.audit.sql import (
    ANCHOR_COLUMNS,
    COLUMN_LIST,
    COLUMNS,
    POSTGRES,
    anchor_from_row,
    anchor_row,
    check_columns,
    from_row,
    migrations,
    to_row,
    where,
)
from gateway.audit.store import PAGE, PurgeResult, RecordFilter

T = TypeVar("T")
CONNECT_TIMEOUT_S = 5


def split_url(url: str) -> tuple[str, str]:
    """Take our ``schema`` parameter out of the URL; psycopg would reject it."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), "public")
    if not schema.isidentifier():
        raise AuditConfigError(f"schema must be a plain identifier, got {schema!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


class PostgresStore:
    """``AuditStore`` on PostgreSQL tables ``<schema>.audit_records`` and ``audit_anchors``."""

    def __init__(self, url: str) -> None:
        self._dsn, self.schema = split_url(url)
        s = f'"{self.schema}"'
        self._records, self._anchors = f"{s}.audit_records", f"{s}.audit_anchors"
        self._ddl = f"""
            CREATE SCHEMA IF NOT EXISTS {s};
            CREATE TABLE IF NOT EXISTS {self._records} (
                id text PRIMARY KEY, ts timestamptz NOT NULL, direction text NOT NULL,
                action text NOT NULL, tenant text NOT NULL, "user" text,
                request_id text NOT NULL, route text NOT NULL, stage text NOT NULL,
                incident boolean NOT NULL, ending text NOT NULL DEFAULT '',
                sanction text NOT NULL, categories text NOT NULL,
                scores text NOT NULL,
                matched_terms text NOT NULL, policy_version text NOT NULL,
                model_version text NOT NULL, latency_ms text NOT NULL, text_mode text NOT NULL,
                text text, chain_id text NOT NULL, seq bigint NOT NULL,
                prev_hash text NOT NULL, hash text NOT NULL, UNIQUE (chain_id, seq)
            );
            CREATE INDEX IF NOT EXISTS audit_records_ts ON {self._records} (ts, id);
            CREATE INDEX IF NOT EXISTS audit_records_tenant_ts ON {self._records} (tenant, ts);
            CREATE TABLE IF NOT EXISTS {self._anchors} (
                chain_id text PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL,
                purged_at timestamptz NOT NULL, record_id text NOT NULL DEFAULT '',
                newest_ts timestamptz, mac text NOT NULL DEFAULT ''
            );
        """ + "".join(
            f'ALTER TABLE {s}.{table} ADD COLUMN IF NOT EXISTS "{column}" {kind};\n'
            for table, column, kind in migrations(POSTGRES)
        )
        self._anchor_list = ", ".join(ANCHOR_COLUMNS)
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        self._insert = (
            f"INSERT INTO {self._records} ({COLUMN_LIST}) VALUES ({placeholders})"
            " ON CONFLICT (id) DO NOTHING"
        )
        self._select = f"SELECT {COLUMN_LIST} FROM {self._records}"
        self._conns: dict[str, psycopg.AsyncConnection[Any]] = {}
        self._locks = {"write": asyncio.Lock(), "read": asyncio.Lock()}

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(
            self._dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        )
        try:
            async with conn.transaction():
                # Replicas starting together would race on CREATE ... IF NOT EXISTS.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway_audit_ddl'))")
                await conn.execute(self._ddl)
            cur = await conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = 'audit_records' ORDER BY ordinal_position",
                (self.schema,),
            )
            check_columns([r[0] for r in await cur.fetchall()], f"schema {self.schema}")
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _use(
        self, role: str, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]
    ) -> T:
        async with self._locks[role]:
            conn = self._conns.get(role)
            if conn is None or conn.closed:
                conn = self._conns[role] = await self._connect()
            try:
                return await fn(conn)
            except psycopg.OperationalError:
                # The connection may be dead; the next call opens a fresh one.
                del self._conns[role]
                await conn.close()
                raise

    async def append(self, records: Sequence[DecisionRecord]) -> None:
        rows = [to_row(r, POSTGRES) for r in records]

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(self._insert, rows)

        await self._use("write", run)

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async def run(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

        return await self._use("read", run)

    async def query(
        self, flt: RecordFilter, *, after: tuple[datetime, str] | None = None, limit: int = PAGE
    ) -> list[DecisionRecord]:
        clause, params = where(flt, after, POSTGRES)
        rows = await self._fetch(
            f"{self._select}{clause} ORDER BY ts, id LIMIT %s", [*params, limit]
        )
        return [from_row(r) for r in rows]

    async def get(self, record_id: str) -> DecisionRecord | None:
        rows = await self._fetch(f"{self._select} WHERE id = %s", [record_id])
        return from_row(rows[0]) if rows else None

    async def scan_chains(
        self, *, after: tuple[str, int] | None = None, limit: int = PAGE
    ) -> list[DecisionRecord]:
        params: list[object]
        if after is None:
            sql, params = f"{self._select} ORDER BY chain_id, seq LIMIT %s", [limit]
        else:
            sql = f"{self._select} WHERE (chain_id, seq) > (%s, %s) ORDER BY chain_id, seq LIMIT %s"
            params = [after[0], after[1], limit]
        return [from_row(r) for r in await self._fetch(sql, params)]

    async def anchors(self) -> dict[str, Anchor]:
        rows = await self._fetch(f"SELECT {self._anchor_list} FROM {self._anchors}", [])
        return {r[0]: anchor_from_row(r) for r in rows}

    async def purge(self, cutoff: datetime, anchor_key: bytes) -> PurgeResult:
        async def run(conn: psycopg.AsyncConnection[Any]) -> PurgeResult:
            deleted, anchors = 0, []
            async with conn.transaction():
                # Same rule as SQLite: per chain, only the prefix entirely older than cutoff.
                cur = await conn.execute(
                    f"SELECT chain_id, MIN(seq) FROM {self._records} WHERE ts >= %s GROUP BY chain_id",
                    (cutoff,),
                )
                young = {r[0]: int(r[1]) for r in await cur.fetchall()}
                cur = await conn.execute(
                    f"SELECT chain_id, MAX(seq) FROM {self._records} WHERE ts < %s GROUP BY chain_id",
                    (cutoff,),
                )
                for chain_id, max_old in await cur.fetchall():
                    limit = min(int(max_old), young.get(chain_id, int(max_old) + 1) - 1)
                    cur = await conn.execute(
                        f"SELECT seq, hash, id FROM {self._records}"
                        " WHERE chain_id = %s AND seq <= %s ORDER BY seq DESC LIMIT 1",
                        (chain_id, limit),
                    )
                    last = await cur.fetchone()
                    if last is None:
                        continue
                    cur = await conn.execute(
                        f"SELECT MAX(ts) FROM {self._records} WHERE chain_id = %s AND seq <= %s",
                        (chain_id, last[0]),
                    )
                    row = await cur.fetchone()
                    assert row is not None and row[0] is not None  # the chain has records <= seq
                    newest: datetime = row[0]
                    cur = await conn.execute(
                        f"SELECT {self._anchor_list} FROM {self._anchors} WHERE chain_id = %s"
                        " FOR UPDATE",
                        (chain_id,),
                    )
                    old = await cur.fetchone()
                    anchor = next_anchor(
                        anchor_from_row(old) if old else None, chain_id=chain_id,
                        seq=int(last[0]), hash=last[1], record_id=last[2], newest_ts=newest,
                        now=datetime.now(UTC), key=anchor_key,
                    )  # fmt: skip
                    cur = await conn.execute(
                        f"DELETE FROM {self._records} WHERE chain_id = %s AND seq <= %s",
                        (chain_id, last[0]),
                    )
                    deleted += cur.rowcount
                    await conn.execute(
                        f"INSERT INTO {self._anchors} ({self._anchor_list})"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (chain_id) DO UPDATE SET"
                        " seq = excluded.seq, hash = excluded.hash, purged_at = excluded.purged_at,"
                        " record_id = excluded.record_id, newest_ts = excluded.newest_ts,"
                        " mac = excluded.mac",
                        anchor_row(anchor, POSTGRES),
                    )
                    anchors.append(anchor)
            return PurgeResult(deleted, tuple(anchors))

        return await self._use("write", run)

    async def count(self) -> int:
        rows = await self._fetch(f"SELECT COUNT(*) FROM {self._records}", [])
        return int(rows[0][0])

    async def close(self) -> None:
        for role in list(self._conns):
            async with self._locks[role]:
                conn = self._conns.pop(role, None)
                if conn is not None:
                    await conn.close()
