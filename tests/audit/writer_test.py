"""AuditWriter: group commit, durability on return, spool (fail-open), fail-closed, replay."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from gateway.audit import AuditStore, AuditUnavailable, AuditWriter, RecordFilter
from gateway.audit.spool import SpoolCorrupt, read_chunks
from gateway.metrics import Metrics
from tests.support import audit as fx
from tests.support.audit import KEYS, FlakyStore, rec, verify

audit_url, store = fx.audit_url, fx.store


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


async def started(s: Any, spool_dir: Path, **kw: Any) -> AuditWriter:
    w = AuditWriter(s, keys=KEYS, spool_dir=spool_dir, retry_interval=0.0, **kw)
    await w.start()
    return w


async def test_concurrent_writes_share_commits(store: AuditStore, spool_dir: Path) -> None:
    metrics = Metrics(CollectorRegistry())
    w = await started(store, spool_dir, metrics=metrics)
    records = [rec() for _ in range(300)]
    await asyncio.gather(*(w.write(r) for r in records))
    assert await store.count() == 300
    assert w.batches < 30  # grouped: far fewer transactions than records
    assert metrics.registry.get_sample_value("gateway_audit_write_seconds_count") == 300
    await w.close()
    v = await verify(store)
    assert not v.problems and v.heads[w.chain_id].seq == 300


async def test_write_returns_after_commit(store: AuditStore, spool_dir: Path) -> None:
    w = await started(store, spool_dir)
    for _ in range(3):
        r = rec()
        await w.write(r)
        stored = await store.get(r.id)  # visible to another connection at once
        assert stored is not None and stored.chain_id == w.chain_id
    await w.close()


async def test_fail_open_spools_then_replays_in_order(store: AuditStore, spool_dir: Path) -> None:
    flaky = FlakyStore(store)
    metrics = Metrics(CollectorRegistry())
    w = await started(flaky, spool_dir, metrics=metrics)
    await w.write(rec(text="before"))
    flaky.down = True
    outage = [rec(text=f"during {i}") for i in range(50)]
    await asyncio.gather(*(w.write(r) for r in outage))  # acknowledged although the store is down
    assert await store.count() == 1
    spooled = [r for chunk in read_chunks(w.spool.path, 1000) for r in chunk]
    assert {r.id for r in spooled} == {r.id for r in outage}
    assert [r.seq for r in spooled] == list(range(2, 52))  # chain order
    assert (metrics.registry.get_sample_value("gateway_audit_errors_total") or 0) >= 1

    flaky.down = False
    await w.write(rec(text="after"))  # drains the spool first, then commits this one
    assert await store.count() == 52
    assert not w.spool.pending
    await w.close()
    v = await verify(store)
    assert not v.problems and v.heads[w.chain_id].seq == 52


async def test_fail_closed_raises_and_leaves_no_gap(store: AuditStore, spool_dir: Path) -> None:
    flaky = FlakyStore(store)
    w = await started(flaky, spool_dir, fail_open=False)
    await w.write(rec())
    flaky.down = True
    with pytest.raises(AuditUnavailable):
        await w.write(rec())
    assert not w.spool.pending and not await asyncio.to_thread(w.spool.path.exists)
    flaky.down = False
    await w.write(rec())
    await w.close()
    v = await verify(store)
    assert not v.problems and v.heads[w.chain_id].seq == 2  # the refused record took no seq


async def test_orphaned_spool_of_a_dead_writer_is_replayed(
    store: AuditStore, spool_dir: Path
) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    dead = await started(flaky, spool_dir)
    records = [rec() for _ in range(20)]
    for r in records:
        await dead.write(r)  # acknowledged: on disk in the spool
    # While the first writer lives, it holds its spool: nobody else may replay it.
    live_peer = await started(store, spool_dir)
    assert await store.count() == 0
    await live_peer.close()
    # The process dies: its lock goes away with its file descriptor, nothing else runs.
    assert dead.spool._fd is not None
    os.close(dead.spool._fd)
    dead._task.cancel()  # type: ignore[union-attr]

    heir = await started(store, spool_dir)
    got = {r.id for r in await store.query(RecordFilter())}
    assert got == {r.id for r in records}
    assert not dead.spool.path.exists()
    await heir.close()
    assert not (await verify(store)).problems


async def test_torn_last_spool_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "spool-x.jsonl"
    good = rec()
    path.write_bytes(_line(good) + b'{"id": "half')  # the crash came mid-write
    [[r]] = list(read_chunks(path, 10))
    assert r == good
    path.write_bytes(b"not json\n" + _line(good))
    with pytest.raises(SpoolCorrupt):
        list(read_chunks(path, 10))  # a complete bad line is corruption, not a torn write


def _line(r: Any) -> bytes:
    import orjson

    return orjson.dumps(r.to_dict()) + b"\n"


async def test_full_queue_fails_fast(store: AuditStore, spool_dir: Path) -> None:
    flaky = FlakyStore(store)
    flaky.gate = asyncio.Event()
    w = await started(flaky, spool_dir, max_queue=1)
    first = asyncio.create_task(w.write(rec()))
    await asyncio.sleep(0.01)  # the writer takes it and waits at the gate
    second = asyncio.create_task(w.write(rec()))
    await asyncio.sleep(0.01)
    with pytest.raises(AuditUnavailable, match="queue is full"):
        await w.write(rec())
    flaky.gate.set()
    await asyncio.gather(first, second)
    await w.close()
    assert await store.count() == 2


async def test_cancelled_caller_still_gets_its_record_written(
    store: AuditStore, spool_dir: Path
) -> None:
    flaky = FlakyStore(store)
    flaky.gate = asyncio.Event()
    w = await started(flaky, spool_dir)
    r = rec()
    task = asyncio.create_task(w.write(r))
    await asyncio.sleep(0.01)
    task.cancel()  # the client went away
    flaky.gate.set()
    await w.close()
    assert await store.get(r.id) is not None


async def test_closed_writer_refuses(store: AuditStore, spool_dir: Path) -> None:
    w = await started(store, spool_dir)
    queued = [asyncio.create_task(w.write(rec())) for _ in range(10)]
    await asyncio.sleep(0)
    await w.close()  # commits what was queued
    await asyncio.gather(*queued)
    assert await store.count() == 10
    with pytest.raises(AuditUnavailable):
        await w.write(rec())


async def test_fail_mode_can_follow_the_policy_at_run_time(
    store: AuditStore, spool_dir: Path
) -> None:
    policy = {"fail_open": False}
    flaky = FlakyStore(store)
    flaky.down = True
    w = await started(flaky, spool_dir, fail_open=lambda: policy["fail_open"])
    with pytest.raises(AuditUnavailable):
        await w.write(rec())
    policy["fail_open"] = True  # a policy reload flips it; no restart
    await w.write(rec())
    assert w.spool.pending
    flaky.down = False
    await w.write(rec())
    await w.close()
    assert await store.count() == 2 and not (await verify(store)).problems


async def test_orphans_found_while_the_store_is_down_are_replayed_later(
    store: AuditStore, spool_dir: Path
) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    dead = await started(flaky, spool_dir)
    lost_writer_records = [rec() for _ in range(5)]
    for r in lost_writer_records:
        await dead.write(r)
    assert dead.spool._fd is not None
    os.close(dead.spool._fd)  # the process dies
    dead._task.cancel()  # type: ignore[union-attr]

    heir = await started(flaky, spool_dir)  # store still down: nothing to replay into
    flaky.down = False
    await heir.write(rec())  # the store is back: first its own record...
    await heir.write(rec())  # ...then, on the next batch, the dead writer's spool
    await heir.close()
    ids = {r.id for r in await store.query(RecordFilter())}
    assert {r.id for r in lost_writer_records} <= ids and len(ids) == 7
    assert not (await verify(store)).problems


async def test_corrupt_orphan_spool_is_quarantined_not_retried_forever(
    store: AuditStore, spool_dir: Path
) -> None:
    bad = _plant(spool_dir, _line(rec()) + b"garbage\n")
    w = await started(store, spool_dir)
    await w.write(rec())
    await w.close()
    assert sorted(p.name for p in _listdir(spool_dir)) == [bad.name + ".corrupt"]
    assert w.store_available and await store.count() == 1


def _plant(directory: Path, data: bytes) -> Path:
    """A spool file left by a dead writer."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "spool-dead.jsonl"
    path.write_bytes(data)
    return path


def _listdir(directory: Path) -> list[Path]:
    return list(directory.iterdir())
