"""Shared fixtures for the decision-log tests: the same tests run on SQLite and on a real
PostgreSQL (127.0.0.1:5432, database ``test``), each run in its own schema."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gateway.audit import AuditStore, DecisionRecord, open_store
from gateway.audit import chain as _chain
from gateway.audit.chain import ChainHead
from gateway.audit.keys import AuditKeys
from gateway.audit.verify import LEGAL_MINIMUM_DAYS, Verification, verify_log
from tests.conftest import PSEUDONYM_KEY

__all__ = ["PSEUDONYM_KEY"]  # re-exported for the CLI tests

KEYS = AuditKeys.from_secret(PSEUDONYM_KEY)  # the key the tests' gateways run with

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]


def pg_schema_url() -> tuple[str, str]:
    schema = f"audit_t_{uuid.uuid4().hex[:12]}"
    return f"{PG_BASE}?schema={schema}", schema


def drop_schema(schema: str) -> None:
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=BACKENDS)
def audit_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty decision-log URL for each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    url, schema = pg_schema_url()
    try:
        yield url
    finally:
        drop_schema(schema)


@pytest.fixture
async def store(audit_url: str) -> AsyncIterator[AuditStore]:
    s = open_store(audit_url)
    try:
        yield s
    finally:
        await s.close()


def rec(**kw: Any) -> DecisionRecord:
    """A record with sensible defaults; any field can be overridden."""
    values: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "ts": datetime.now(UTC),
        "direction": "input",
        "action": "allow",
        "tenant": "t1",
        "route": "/v1/chat/completions",
    }
    values.update(kw)
    return DecisionRecord(**values)


def seal(
    records: Sequence[DecisionRecord], head: ChainHead
) -> tuple[list[DecisionRecord], ChainHead]:
    """``chain.seal`` under the tests' key."""
    return _chain.seal(records, head, KEYS.chain)


async def verify(
    store: AuditStore, checkpoint_dir: Path | None = None, min_age_days: int = LEGAL_MINIMUM_DAYS
) -> Verification:
    return await verify_log(
        store, KEYS, checkpoint_dir=checkpoint_dir, min_age=timedelta(days=min_age_days)
    )


def sql_exec(url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    """Run raw SQL against the log's tables, as an attacker with database access would.
    Table names are written unqualified; for PostgreSQL the test schema is on the path."""
    if url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        with conn:
            conn.execute(statement.replace("%s", "?"), params)
        conn.close()
        return
    from gateway.audit.postgres_store import split_url

    dsn, schema = split_url(url)
    with psycopg.connect(dsn, autocommit=True) as pg:
        pg.execute(f'SET search_path TO "{schema}"')
        pg.execute(statement, params)


class FlakyStore:
    """Wraps a real store; ``down`` makes ``append`` fail as an unreachable database would,
    and ``gate`` (when set) holds every append until it is opened."""

    def __init__(self, inner: AuditStore) -> None:
        self.inner = inner
        self.down = False
        self.appends = 0
        self.gate: asyncio.Event | None = None

    async def append(self, records: Any) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise OSError("connection refused (test)")
        self.appends += 1
        await self.inner.append(records)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
