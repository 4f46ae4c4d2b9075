"""The decision log newest first on a store that reads in time order (``log_pages``):
the same records, in reverse, page after page, whatever their spread in time."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.audit import AuditStore, DecisionRecord, open_store
from gateway.audit.store import RecordFilter
from gateway.console import log_pages
from gateway.console.log_pages import newest

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AuditStore]:
    s = open_store(f"sqlite:///{tmp_path / 'audit.db'}")
    # A burst of 1,500 records in one minute (more than one window query returns), a
    # sparse trickle over two weeks, and a few old ones: widening and narrowing both happen.
    times = [NOW - timedelta(seconds=i * 0.04) for i in range(1500)]
    times += [NOW - timedelta(hours=2 + i * 7) for i in range(50)]
    times += [NOW - timedelta(days=300 + i) for i in range(3)]
    records = [
        DecisionRecord(id=uuid.uuid4().hex, ts=ts, direction="input",
                       action="block" if i % 7 == 0 else "allow", tenant="t",
                       chain_id="c", seq=i + 1)
        for i, ts in enumerate(times)
    ]  # fmt: skip
    await s.append(records)
    yield s
    await s.close()


async def _all(store: AuditStore, flt: RecordFilter) -> list[DecisionRecord]:
    out: list[DecisionRecord] = []
    after = None
    while page := await store.query(flt, after=after, limit=1000):
        out += page
        after = (page[-1].ts, page[-1].id)
    return sorted(out, key=lambda r: (r.ts, r.id), reverse=True)


@pytest.mark.parametrize("action", [None, "block"])
async def test_pages_are_the_records_newest_first(store: AuditStore, action: str | None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(log_pages, "WINDOW_ROWS", 400)  # force narrowing in the burst
    flt = RecordFilter(action=action)
    expected = await _all(store, flt)
    seen: list[DecisionRecord] = []
    before = None
    while True:
        page = await newest(store, flt, 50, before=before, now=NOW)
        seen += page
        if len(page) < 50:
            break
        before = (page[-1].ts, page[-1].id)
    assert [r.id for r in seen] == [r.id for r in expected]


async def test_a_time_filter_bounds_the_search(store: AuditStore) -> None:
    flt = RecordFilter(since=NOW - timedelta(days=3), until=NOW - timedelta(hours=1))
    page = await newest(store, flt, 5, now=NOW)
    expected = [r for r in await _all(store, RecordFilter())
                if flt.since <= r.ts < flt.until][:5]  # type: ignore[operator]  # fmt: skip
    assert [r.id for r in page] == [r.id for r in expected] and len(page) == 5
