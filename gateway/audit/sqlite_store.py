"""The embedded backend: SQLite in WAL mode, for a single gateway process.

sqlite3 calls block, so they never run on the event loop: all writes go through one
dedicated writer thread (which is also what SQLite wants: one writer at a time), reads
through a second thread with its own connection, so an export does not hold up commits.
``synchronous=FULL`` makes every commit reach the disk before ``append`` returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from gateway import sqlite_wal
from gateway.audit.anchors import Anchor, next_anchor
from gateway.audit.record import DecisionRecord, parse_ts
from gateway.audit.sql import (
    ANCHOR_COLUMNS,
    COLUMN_LIST,
    COLUMNS,
    SQLITE,
    anchor_from_row,
    anchor_row,
    check_columns,
    from_row,
    migrations,
    to_row,
    ts_param,
    where,
)
from gateway.audit.store import PAGE, PurgeResult, RecordFilter

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    id TEXT PRIMARY KEY, ts TEXT NOT NULL, direction TEXT NOT NULL, action TEXT NOT NULL,
    tenant TEXT NOT NULL, "user" TEXT, request_id TEXT NOT NULL, route TEXT NOT NULL,
    stage TEXT NOT NULL, incident INTEGER NOT NULL, ending TEXT NOT NULL DEFAULT '',
    sanction TEXT NOT NULL, categories TEXT NOT NULL,
    scores TEXT NOT NULL, matched_terms TEXT NOT NULL, policy_version TEXT NOT NULL,
    model_version TEXT NOT NULL, latency_ms TEXT NOT NULL, text_mode TEXT NOT NULL, text TEXT,
    chain_id TEXT NOT NULL, seq INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    UNIQUE (chain_id, seq)
);
CREATE INDEX IF NOT EXISTS audit_records_ts ON audit_records (ts, id);
CREATE INDEX IF NOT EXISTS audit_records_tenant_ts ON audit_records (tenant, ts);
CREATE TABLE IF NOT EXISTS audit_anchors (
    chain_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, purged_at TEXT NOT NULL,
    record_id TEXT NOT NULL DEFAULT '', newest_ts TEXT, mac TEXT NOT NULL DEFAULT ''
);
"""
assert len(COLUMNS) == 24  # the DDL above lists every DecisionRecord field
_ANCHOR_LIST = ", ".join(ANCHOR_COLUMNS)
_INSERT = (
    f"INSERT INTO audit_records ({COLUMN_LIST}) VALUES ({', '.join('?' * len(COLUMNS))})"
    " ON CONFLICT (id) DO NOTHING"
)
_SELECT = f"SELECT {COLUMN_LIST} FROM audit_records"


class SQLiteStore:
    """``AuditStore`` on one SQLite file."""

    def __init__(self, path: str | Path, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        self._synchronous = "NORMAL" if synchronous == "NORMAL" else "FULL"
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="audit-sqlite-write")
        self._read_thread = ThreadPoolExecutor(1, thread_name_prefix="audit-sqlite-read")
        # Each connection is only ever touched from its own thread.
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite_wal.connect(self.path)
        try:
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.executescript(_SCHEMA)
            _migrate(conn)
            found = [row[1] for row in conn.execute("PRAGMA table_info(audit_records)")]
            check_columns(found, str(self.path))
        except BaseException:
            conn.close()
            raise
        return conn

    def _writer(self) -> sqlite3.Connection:
        if self._wconn is None:
            self._wconn = self._connect()
        return self._wconn

    def _reader(self) -> sqlite3.Connection:
        if self._rconn is None:
            self._rconn = self._connect()
        return self._rconn

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def in_transaction() -> T:
            conn = self._writer()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return await asyncio.get_running_loop().run_in_executor(self._write_thread, in_transaction)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._read_thread, lambda: fn(self._reader())
        )

    async def append(self, records: Sequence[DecisionRecord]) -> None:
        rows = [to_row(r, SQLITE) for r in records]
        await self._write(lambda c: c.executemany(_INSERT, rows))

    async def query(
        self, flt: RecordFilter, *, after: tuple[datetime, str] | None = None, limit: int = PAGE
    ) -> list[DecisionRecord]:
        clause, params = where(flt, after, SQLITE)
        sql = f"{_SELECT}{clause} ORDER BY ts, id LIMIT ?"
        rows = await self._read(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [from_row(r) for r in rows]

    async def get(self, record_id: str) -> DecisionRecord | None:
        row = await self._read(
            lambda c: c.execute(f"{_SELECT} WHERE id = ?", (record_id,)).fetchone()
        )
        return from_row(row) if row is not None else None

    async def scan_chains(
        self, *, after: tuple[str, int] | None = None, limit: int = PAGE
    ) -> list[DecisionRecord]:
        params: list[object]
        if after is None:
            sql, params = f"{_SELECT} ORDER BY chain_id, seq LIMIT ?", [limit]
        else:
            sql = f"{_SELECT} WHERE (chain_id, seq) > (?, ?) ORDER BY chain_id, seq LIMIT ?"
            params = [after[0], after[1], limit]
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        return [from_row(r) for r in rows]

    async def anchors(self) -> dict[str, Anchor]:
        rows = await self._read(
            lambda c: c.execute(f"SELECT {_ANCHOR_LIST} FROM audit_anchors").fetchall()
        )
        return {r[0]: anchor_from_row(r) for r in rows}

    async def purge(self, cutoff: datetime, anchor_key: bytes) -> PurgeResult:
        cut = ts_param(cutoff, SQLITE)
        now = datetime.now(cutoff.tzinfo)

        def run(c: sqlite3.Connection) -> PurgeResult:
            # Per chain, delete only the prefix that is entirely older than the cutoff:
            # records are timestamped before they are sequenced, so a slightly later seq
            # may carry a slightly earlier ts.
            young = dict(
                c.execute(
                    "SELECT chain_id, MIN(seq) FROM audit_records WHERE ts >= ? GROUP BY chain_id",
                    (cut,),
                ).fetchall()
            )
            chains = c.execute(
                "SELECT chain_id, MAX(seq) FROM audit_records WHERE ts < ? GROUP BY chain_id",
                (cut,),
            ).fetchall()
            deleted, anchors = 0, []
            for chain_id, max_old in chains:
                limit = min(max_old, young.get(chain_id, max_old + 1) - 1)
                last = c.execute(
                    "SELECT seq, hash, id FROM audit_records WHERE chain_id = ? AND seq <= ?"
                    " ORDER BY seq DESC LIMIT 1",
                    (chain_id, limit),
                ).fetchone()
                if last is None:
                    continue
                newest = c.execute(
                    "SELECT MAX(ts) FROM audit_records WHERE chain_id = ? AND seq <= ?",
                    (chain_id, last[0]),
                ).fetchone()[0]
                old = c.execute(
                    f"SELECT {_ANCHOR_LIST} FROM audit_anchors WHERE chain_id = ?", (chain_id,)
                ).fetchone()
                anchor = next_anchor(
                    anchor_from_row(old) if old else None, chain_id=chain_id, seq=last[0],
                    hash=last[1], record_id=last[2], newest_ts=parse_ts(newest), now=now,
                    key=anchor_key,
                )  # fmt: skip
                cur = c.execute(
                    "DELETE FROM audit_records WHERE chain_id = ? AND seq <= ?", (chain_id, last[0])
                )
                deleted += cur.rowcount
                c.execute(
                    f"INSERT OR REPLACE INTO audit_anchors ({_ANCHOR_LIST})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    anchor_row(anchor, SQLITE),
                )
                anchors.append(anchor)
            return PurgeResult(deleted, tuple(anchors))

        return await self._write(run)

    async def count(self) -> int:
        row = await self._read(lambda c: c.execute("SELECT COUNT(*) FROM audit_records").fetchone())
        return int(row[0])

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for pool, attr in ((self._write_thread, "_wconn"), (self._read_thread, "_rconn")):
            await loop.run_in_executor(pool, self._close_conn, attr)
            pool.shutdown(wait=True)

    def _close_conn(self, attr: str) -> None:
        conn: sqlite3.Connection | None = getattr(self, attr)
        if conn is not None:
            conn.close()
            setattr(self, attr, None)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns newer versions of the log need (``sql.MIGRATIONS``). Under the write
    lock: the reader and the writer connection may open at the same moment."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, column, kind in migrations(SQLITE):
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                conn.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {kind}')
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
