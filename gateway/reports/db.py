"""The database under the complaint queue: SQLite or PostgreSQL, one connection each.

Complaints are a handful per hour, not per request, so both backends use their plain
synchronous drivers (``sqlite3``, psycopg 3) on one dedicated thread: the SQL is written
once, with ``?`` placeholders, and every call is one transaction off the event loop. With
PostgreSQL the tables live in the URL's ``schema`` (default ``public``), like the decision
log's. A broken PostgreSQL connection is dropped and reopened on the next call.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from gateway import sqlite_wal

T = TypeVar("T")
CONNECT_TIMEOUT_S = 5


class ReportsConfigError(ValueError):
    """The reports database URL cannot be used."""


class Tx:
    """One open transaction; SQL uses ``?`` placeholders in both backends."""

    def __init__(self, conn: Any, postgres: bool) -> None:
        self._conn = conn
        self._postgres = postgres

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._postgres else sql

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(self._sql(sql), tuple(params)).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self._conn.execute(self._sql(sql), tuple(params)).fetchone()
        return tuple(row) if row is not None else None

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; the number of rows it changed."""
        count: int = self._conn.execute(self._sql(sql), tuple(params)).rowcount
        return count


@dataclass(frozen=True, slots=True)
class Target:
    postgres: bool
    location: str  # SQLite file path, or the psycopg connection string
    schema: str = "public"


def parse_url(url: str) -> Target:
    if url.startswith("sqlite:///"):
        path, _, query = url.removeprefix("sqlite:///").partition("?")
        options = dict(parse_qsl(query))
        options.pop("synchronous", None)  # the decision log's option; commits here are rare
        if options:
            raise ReportsConfigError(f"sqlite URL: unknown options {query!r}")
        return Target(False, path)
    if url.startswith(("postgresql://", "postgres://")):
        from gateway.audit.postgres_store import split_url

        dsn, schema = split_url(url)
        return Target(True, dsn, schema)
    raise ReportsConfigError(f"unsupported reports URL scheme: {url.split(':', 1)[0]!r}")


class Database:
    """Runs functions of a ``Tx`` in one transaction each, on one thread."""

    def __init__(self, url: str, schema_sql: str) -> None:
        self.target = parse_url(url)
        self._schema_sql = schema_sql
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="reports-db")
        self._conn: Any = None
        self._closed = False
        if self.target.postgres:
            import psycopg

            self.integrity_errors: tuple[type[Exception], ...] = (psycopg.IntegrityError,)
            self._broken: tuple[type[Exception], ...] = (psycopg.OperationalError,)
        else:
            self.integrity_errors = (sqlite3.IntegrityError,)
            self._broken = ()

    def _connect(self) -> Any:
        if self.target.postgres:
            import psycopg

            conn: Any = psycopg.connect(
                self.target.location, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            )
            try:
                schema = f'"{self.target.schema}"'
                with conn.transaction():
                    # Replicas starting together would race on CREATE ... IF NOT EXISTS.
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext('gateway_reports_ddl'))")
                    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                    conn.execute(f"SET search_path TO {schema}")
                    conn.execute(self._schema_sql)
                conn.execute(f"SET search_path TO {schema}")
            except BaseException:
                conn.close()
                raise
            return conn
        conn = sqlite_wal.connect(Path(self.target.location))
        try:
            conn.executescript(self._schema_sql)
        except BaseException:
            conn.close()
            raise
        return conn

    def _in_transaction(self, fn: Callable[[Tx], T], write: bool) -> T:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        tx = Tx(conn, self.target.postgres)
        try:
            if self.target.postgres:
                with conn.transaction():
                    return fn(tx)
            # A write takes SQLite's write lock at once (no upgrade deadlock); a read only a
            # snapshot, so a scrape's count never holds up the decision log's commits.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = fn(tx)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result
        except self._broken:
            self._conn = None  # reopened on the next call
            conn.close()
            raise

    async def run(self, fn: Callable[[Tx], T], *, write: bool = False) -> T:
        """``fn`` in one transaction, off the event loop; ``write`` when it changes rows."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._in_transaction, fn, write)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)
