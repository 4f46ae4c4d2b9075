"""The ticket store on both backends (SQLite and a real PostgreSQL): filing and merging
(also under a race), tokens, filters and paging, counts, staff changes, purge, incidents."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.reports.db import ReportsConfigError
from gateway.reports.model import Incident, Status, Submission, Ticket, TicketFilter
from gateway.reports.store import PAGE, TicketStore, iter_incidents, iter_tickets
from tests.support.audit import drop_schema, pg_schema_url

T0 = 1_800_000_000.0


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reports.db'}"
        return
    pg_url, schema = pg_schema_url()
    try:
        yield pg_url
    finally:
        drop_schema(schema)


@pytest.fixture
async def store(url: str) -> AsyncIterator[TicketStore]:
    s = TicketStore(url)
    try:
        yield s
    finally:
        await s.close()


def ticket(**kw: object) -> Ticket:
    values: dict[str, object] = {
        "id": "rpt_" + uuid.uuid4().hex[:24], "tenant": "default", "merge_key": uuid.uuid4().hex,
        "decision_id": "", "record_ids": (), "text": "文本", "text_source": "pasted",
        "reason": "other", "categories": (), "policy_version": "pv", "decision_action": "",
        "status": Status.OPEN.value, "created": T0, "due": T0 + 3600, "updated": T0,
    }  # fmt: skip
    values.update(kw)
    return Ticket(**values)  # type: ignore[arg-type]


def submission(**kw: object) -> Submission:
    values: dict[str, object] = {
        "id": "sub_" + uuid.uuid4().hex, "ticket_id": "", "ts": T0, "reason": "other",
        "detail": "d", "contact": "c@example.com", "reporter": None, "source": "api", "lang": "zh",
    }  # fmt: skip
    values.update(kw)
    return Submission(**values)  # type: ignore[arg-type]


def token() -> tuple[str, str]:
    raw = uuid.uuid4().hex
    return raw, hashlib.sha256(raw.encode()).hexdigest()


def merge(old: Ticket) -> Ticket:
    return dataclasses.replace(old, reports=old.reports + 1)


async def test_file_round_trips_every_field(store: TicketStore) -> None:
    t = ticket(decision_id="dec_1", record_ids=("dec_1", "dec_1-out"), categories=("A1.04", "X1"),
               text="含中文 <b>&", history=({"ts": T0, "by": "a", "action": "x", "detail": ""},),
               answered_at=T0 + 5.5, answer="答复")  # fmt: skip
    _, digest = token()
    filed, merged = await store.file(t, submission(), digest, merge)
    assert not merged and filed == t
    assert await store.get(t.id) == t
    assert await store.by_token(t.id, digest) == t
    assert await store.by_token(t.id, hashlib.sha256(b"other").hexdigest()) is None
    [sub] = await store.submissions(t.id)
    assert sub.ticket_id == t.id and sub.contact == "c@example.com"


async def test_same_content_merges_while_open_and_not_after_close(store: TicketStore) -> None:
    first = ticket(merge_key="dec_9")
    _, d1 = token()
    await store.file(first, submission(), d1, merge)
    again, merged = await store.file(ticket(merge_key="dec_9"), submission(), token()[1], merge)
    assert merged and again.id == first.id and again.reports == 2
    other_tenant, merged = await store.file(ticket(merge_key="dec_9", tenant="acme"),
                                            submission(), token()[1], merge)  # fmt: skip
    assert not merged and other_tenant.id != first.id
    await store.modify(first.id, lambda t: dataclasses.replace(t, status=Status.CLOSED.value))
    fresh, merged = await store.file(ticket(merge_key="dec_9"), submission(), token()[1], merge)
    assert not merged and fresh.id != first.id
    assert len(await store.submissions(first.id)) == 2


async def test_concurrent_filings_of_one_content_end_in_one_ticket(url: str) -> None:
    # Two stores are two connections, like two replicas on one database.
    one, two = TicketStore(url), TicketStore(url)
    try:
        results = await asyncio.gather(*(
            s.file(ticket(merge_key="race"), submission(), token()[1], merge)
            for s in (one, two, one, two)
        ))  # fmt: skip
    finally:
        await one.close()
        await two.close()
    assert len({t.id for t, _ in results}) == 1
    assert sorted(m for _, m in results) == [False, True, True, True]


async def test_filters_order_and_paging(store: TicketStore) -> None:
    rows = [
        ticket(created=T0, due=T0 + 50, tenant="a", reason="terrorism"),
        ticket(created=T0 + 1, due=T0 + 10, tenant="a", status=Status.ANSWERED.value,
               answered_at=T0 + 2),
        ticket(created=T0 + 2, due=T0 + 30, tenant="b", status=Status.CLOSED.value,
               answered_at=T0 + 3, closed_at=T0 + 3),
        ticket(created=T0 + 3, due=T0 + 5, tenant="b"),
    ]  # fmt: skip
    for r in rows:
        await store.file(r, submission(), token()[1], merge)
    ids = [r.id for r in rows]

    async def q(**kw: object) -> list[str]:
        order = {k: kw.pop(k) for k in ("by_due", "newest_first") if k in kw}
        return [t.id for t in await store.query(TicketFilter(**kw), **order)]  # type: ignore[arg-type]

    assert await q() == ids
    assert await q(tenant="a") == ids[:2]
    assert await q(reason="terrorism") == [ids[0]]
    assert await q(statuses=("open", "answered")) == [ids[0], ids[1], ids[3]]
    assert await q(statuses=()) == []
    assert await q(since=T0 + 1, until=T0 + 3) == ids[1:3]
    assert await q(overdue_at=T0 + 20) == [ids[3]]  # answered or closed ones are never overdue
    assert await q(by_due=True) == [ids[3], ids[1], ids[2], ids[0]]
    assert await q(newest_first=True) == ids[::-1]
    assert await store.counts(T0 + 20) == (3, 1)
    assert await store.counts(T0 + 100) == (3, 2)


async def test_paging_covers_everything_once(store: TicketStore) -> None:
    n = PAGE + 7
    for i in range(n):
        await store.file(ticket(created=T0 + i // 3), submission(), token()[1], merge)  # tied times
    seen = [t.id async for t in iter_tickets(store, TicketFilter())]
    assert len(seen) == n == len(set(seen))


async def test_modify_can_refuse_and_changes_nothing_then(store: TicketStore) -> None:
    t = ticket()
    await store.file(t, submission(), token()[1], merge)

    def refuse(_: Ticket) -> Ticket:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store.modify(t.id, refuse)
    assert await store.get(t.id) == t
    assert await store.modify("rpt_missing", refuse) is None
    done = await store.modify(t.id, lambda x: dataclasses.replace(x, assignee="alice", answer="好"))
    assert done is not None and (await store.get(t.id)) == done


async def test_purge_deletes_only_old_closed_tickets(store: TicketStore) -> None:
    old_closed = ticket(created=T0, status=Status.CLOSED.value, answered_at=T0, closed_at=T0)
    old_open = ticket(created=T0)
    young_closed = ticket(created=T0 + 1000, status=Status.CLOSED.value, answered_at=T0 + 1000,
                          closed_at=T0 + 1000)  # fmt: skip
    for t in (old_closed, old_open, young_closed):
        await store.file(t, submission(), token()[1], merge)
    assert await store.purge(T0 + 500) == 1
    assert await store.get(old_closed.id) is None and await store.submissions(old_closed.id) == []
    assert await store.get(old_open.id) is not None
    assert await store.get(young_closed.id) is not None


async def test_incidents_round_trip_update_and_page(store: TicketStore) -> None:
    i = Incident(id="inc_1", tenant="default", title="标题", description="经过", occurred_at=T0,
                 created=T0, created_by="alice", decision_ids=("dec_1",), ticket_ids=("rpt_1",),
                 categories=("A1.04",), measures=("content_removed",), authority="网信办",
                 reported_at=T0 + 60, notes="n", updated=T0)  # fmt: skip
    await store.add_incident(i)
    assert await store.incident("inc_1") == i
    changed = await store.modify_incident("inc_1", lambda x: dataclasses.replace(x, notes="改"))
    assert changed is not None and (await store.incident("inc_1")) == changed
    for k in range(PAGE + 2):
        await store.add_incident(dataclasses.replace(i, id=f"inc_p{k:04d}", created=T0 + k))
    assert len([x async for x in iter_incidents(store)]) == PAGE + 3
    newest = await store.incidents(limit=1, newest_first=True)
    assert newest[0].id == f"inc_p{PAGE + 1:04d}"


def test_unknown_urls_are_refused() -> None:
    with pytest.raises(ReportsConfigError):
        TicketStore("mysql://x")
    with pytest.raises(ReportsConfigError):
        TicketStore("sqlite:///x.db?journal=off")
