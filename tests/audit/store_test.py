"""Both backends, same tests: append, filters, paging, purge with anchors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.audit import AuditStore, RecordFilter, open_store
from gateway.audit.chain import ChainHead
from gateway.audit.errors import AuditConfigError
from gateway.audit.store import PAGE, iter_records
from tests.support import audit as fx
from tests.support.audit import KEYS, rec, seal, verify

audit_url, store = fx.audit_url, fx.store  # fixtures shared by the audit tests

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_append_round_trips_every_field(store: AuditStore) -> None:
    r = rec(
        ts=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), direction="output", action="block",
        user="ab" * 16, request_id="req-1", stage="stream", incident=True, sanction="user suspended",
        categories=("A1.04", "X2"), scores={"A1.04": 0.975, "X2": 1e-7}, matched_terms=("词一", "b"),
        policy_version="p1", model_version="m1", latency_ms={"lexicon": 0.125}, text_mode="full",
        text="含中文 <b>&",
    )  # fmt: skip
    [sealed], _ = seal([r], ChainHead("c"))
    await store.append([sealed])
    assert await store.get(r.id) == sealed
    assert await store.get("missing") is None


async def test_append_is_idempotent_by_id(store: AuditStore) -> None:
    sealed, _ = seal([rec(), rec()], ChainHead("c"))
    await store.append(sealed)
    await store.append(sealed)  # a spool replay after a crash between commit and truncate
    assert await store.count() == 2


async def test_filters(store: AuditStore) -> None:
    rows = [
        rec(ts=T0, tenant="a", categories=("A1.01",), action="block"),
        rec(ts=T0 + timedelta(hours=1), tenant="a", categories=("A2.01", "A1.01"), direction="output"),
        rec(ts=T0 + timedelta(hours=2), tenant="b", categories=("A2.01",), action="flag"),
        rec(ts=T0 + timedelta(days=2), tenant="b"),
    ]  # fmt: skip
    sealed, _ = seal(rows, ChainHead("c"))
    await store.append(sealed)

    async def ids(**kw: object) -> list[str]:
        return [r.id for r in await store.query(RecordFilter(**kw))]  # type: ignore[arg-type]

    ordered = [r.id for r in rows]
    assert await ids() == ordered
    assert await ids(tenant="a") == ordered[:2]
    assert await ids(category="A1.01") == ordered[:2]
    assert await ids(category="A2.01", tenant="b") == [ordered[2]]
    assert await ids(action="block") == [ordered[0]]
    assert await ids(direction="output") == [ordered[1]]
    assert await ids(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=1)) == ordered[1:3]
    assert await ids(category="A5.01") == []


async def test_paging_covers_everything_once(store: AuditStore) -> None:
    n = PAGE + 37
    rows = [rec(ts=T0 + timedelta(microseconds=i // 3)) for i in range(n)]  # tied timestamps
    sealed, _ = seal(rows, ChainHead("c"))
    await store.append(sealed)
    seen = [r.id async for r in iter_records(store, RecordFilter())]
    assert len(seen) == n and set(seen) == {r.id for r in rows}
    assert not (await verify(store)).problems


async def test_purge_deletes_old_prefix_and_keeps_chain_verifiable(store: AuditStore) -> None:
    now = datetime.now(UTC)
    old = [rec(ts=now - timedelta(days=400 - i)) for i in range(5)]
    young = [rec(ts=now - timedelta(days=10 - i)) for i in range(3)]
    a, head = seal(old + young, ChainHead("a"))
    b, _ = seal([rec(ts=now - timedelta(days=300))], ChainHead("b"))  # a chain purged whole
    await store.append(a + b)

    result = await store.purge(now - timedelta(days=200), KEYS.anchor)
    assert result.deleted == 6
    assert {(x.chain_id, x.seq) for x in result.anchors} == {("a", 5), ("b", 1)}
    assert await store.count() == 3
    v = await verify(store)
    assert not v.problems and v.checked == 3

    # Later records still chain onto the purged prefix.
    more, _ = seal([rec()], head)
    await store.append(more)
    assert not (await verify(store)).problems
    # A second purge with nothing to delete changes nothing.
    assert (await store.purge(now - timedelta(days=200), KEYS.anchor)).deleted == 0
    assert not (await verify(store)).problems


async def test_purge_never_deletes_past_a_young_record(store: AuditStore) -> None:
    now = datetime.now(UTC)
    cutoff = now - timedelta(days=200)
    # Sequenced out of time order: seq 2 is young, seq 3 is old again.
    rows = [rec(ts=cutoff - timedelta(days=1)), rec(ts=cutoff + timedelta(seconds=1)),
            rec(ts=cutoff - timedelta(seconds=1))]  # fmt: skip
    sealed, _ = seal(rows, ChainHead("a"))
    await store.append(sealed)
    assert (await store.purge(cutoff, KEYS.anchor)).deleted == 1
    assert sorted(r.seq for r in await store.query(RecordFilter())) == [2, 3]
    assert not (await verify(store)).problems


async def test_tampering_in_the_database_is_found(audit_url: str, store: AuditStore) -> None:
    from tests.support.audit import sql_exec

    sealed, _ = seal([rec() for _ in range(6)], ChainHead("c"))
    await store.append(sealed)
    assert not (await verify(store)).problems
    sql_exec(audit_url, "UPDATE audit_records SET action = 'allow', text = 'x' WHERE seq = 4")
    [p] = (await verify(store)).problems
    assert (p.kind, p.seq) == ("modified", 4)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(AuditConfigError):
        open_store("mysql://x")
    with pytest.raises(AuditConfigError):
        open_store("postgresql://h/db?schema=bad;drop")


async def test_store_down_raises_and_recovers(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "dir.db"
    path.mkdir()  # a directory where the file should be: SQLite cannot open it
    s = open_store(f"sqlite:///{path}")
    sealed, _ = seal([rec()], ChainHead("c"))
    with pytest.raises(Exception, match="unable to open"):
        await s.append(sealed)
    path.rmdir()
    await s.append(sealed)  # the store opens lazily, so it recovers by itself
    assert await s.count() == 1
    await s.close()


async def test_postgres_down_raises() -> None:
    s = open_store("postgresql://postgres@127.0.0.1:1/test")
    sealed, _ = seal([rec()], ChainHead("c"))
    with pytest.raises(Exception, match=r"(?i)connect"):
        await s.append(sealed)
    await s.close()


async def test_a_table_of_another_layout_is_refused_clearly(audit_url: str) -> None:
    from tests.support.audit import sql_exec

    first = open_store(audit_url)
    await first.append(seal([rec()], ChainHead("c"))[0])  # creates the tables
    await first.close()
    sql_exec(audit_url, "ALTER TABLE audit_records DROP COLUMN sanction")
    again = open_store(audit_url)
    with pytest.raises(AuditConfigError, match=r"another layout \(missing \['sanction'\]"):
        await again.append(seal([rec()], ChainHead("c"))[0])
    await again.close()


async def test_ending_is_kept_and_filters(store: AuditStore) -> None:
    rows = [rec(), rec(direction="output", ending="complete"),
            rec(direction="output", ending="blocked", action="block"),
            rec(direction="output", ending="client_disconnected")]  # fmt: skip
    sealed, _ = seal(rows, ChainHead("c"))
    await store.append(sealed)
    assert [r.ending for r in await store.query(RecordFilter())] == [
        "",
        "complete",
        "blocked",
        "client_disconnected",
    ]
    assert [r.id for r in await store.query(RecordFilter(ending="blocked"))] == [rows[2].id]
    assert [r.id for r in await store.query(RecordFilter(ending=""))] == [rows[0].id]


# The layout the first release created: no ``ending``, anchors without a seal.
OLD_DDL = """
CREATE TABLE audit_records (
    id TEXT PRIMARY KEY, ts {ts} NOT NULL, direction TEXT NOT NULL, action TEXT NOT NULL,
    tenant TEXT NOT NULL, "user" TEXT, request_id TEXT NOT NULL, route TEXT NOT NULL,
    stage TEXT NOT NULL, incident {bool} NOT NULL, sanction TEXT NOT NULL, categories TEXT NOT NULL,
    scores TEXT NOT NULL, matched_terms TEXT NOT NULL, policy_version TEXT NOT NULL,
    model_version TEXT NOT NULL, latency_ms TEXT NOT NULL, text_mode TEXT NOT NULL, text TEXT,
    chain_id TEXT NOT NULL, seq BIGINT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    UNIQUE (chain_id, seq)
)"""
OLD_ANCHORS = """CREATE TABLE audit_anchors (
    chain_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, purged_at {ts} NOT NULL
)"""


async def test_a_table_from_before_endings_is_migrated(audit_url: str) -> None:
    from gateway.audit.chain import unkeyed_hash
    from gateway.audit.postgres_store import split_url
    from tests.support.audit import sql_exec

    pg = audit_url.startswith("postgresql")
    types = {"ts": "timestamptz", "bool": "boolean"} if pg else {"ts": "TEXT", "bool": "INTEGER"}
    if pg:
        sql_exec(audit_url, f'CREATE SCHEMA "{split_url(audit_url)[1]}"')
    sql_exec(audit_url, OLD_DDL.format(**types))
    sql_exec(audit_url, OLD_ANCHORS.format(**types))
    old = rec().chained("old", 2, "f" * 64, "")
    old = old.chained("old", 2, old.prev_hash, unkeyed_hash(old))
    ts = old.ts if pg else old.ts.isoformat(timespec="microseconds").replace("+00:00", "Z")
    sql_exec(
        audit_url,
        'INSERT INTO audit_records (id, ts, direction, action, tenant, "user", request_id,'
        " route, stage, incident, sanction, categories, scores, matched_terms, policy_version,"
        " model_version, latency_ms, text_mode, text, chain_id, seq, prev_hash, hash) VALUES"
        " (%s, %s, 'input', 'allow', 't1', NULL, '', '/v1/chat/completions', 'request', %s, '',"
        " '[]', '{}',"
        " '[]', '', '', '{}', 'none', NULL, 'old', 2, %s, %s)",
        (old.id, ts, False if pg else 0, old.prev_hash, old.hash),
    )
    sql_exec(audit_url, "INSERT INTO audit_anchors VALUES ('old', 1, %s, %s)",
             ("f" * 64, ts))  # fmt: skip

    s = open_store(audit_url)
    try:
        new, _ = seal([rec(direction="output", ending="complete")], ChainHead("c"))
        await s.append(new)  # opening adds the missing columns
        got = await s.get(old.id)
        assert got is not None and got.ending == "" and got.hash == old.hash
        assert (await s.get(new[0].id)) == new[0]
        [anchor] = (await s.anchors()).values()
        assert (anchor.seq, anchor.mac, anchor.newest_ts) == (1, "", None)
        v = await verify(s)
        assert sorted((p.chain_id, p.kind) for p in v.problems) == [
            ("old", "anchor-forged"),
            ("old", "unkeyed"),
        ]
        assert v.heads["c"].seq == 1
        [unkeyed] = [p for p in v.problems if p.kind == "unkeyed"]
        assert (unkeyed.seq, unkeyed.record_id) == (2, old.id)
    finally:
        await s.close()
    again = open_store(audit_url)  # a second open finds nothing left to migrate
    assert await again.count() == 2
    await again.close()
