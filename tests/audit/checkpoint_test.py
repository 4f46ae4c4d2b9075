"""Checkpoints as the writer makes them: at start, on schedule while the head moves, at
close; signed, fsynced, and never in the way of a write."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from gateway.audit import AuditStore, AuditWriter
from gateway.audit.checkpoint import Checkpoint, checkpoint_mac
from gateway.metrics import Metrics
from tests.support import audit as fx
from tests.support.audit import KEYS, FlakyStore, rec, verify

audit_url, store = fx.audit_url, fx.store
DEADLINE_S = 10.0  # generous: the schedule is 50 ms; this only bounds a broken writer


def lines(directory: Path, chain_id: str) -> list[Checkpoint]:
    path = directory / f"{chain_id}.checkpoints.jsonl"
    if not path.exists():
        return []
    return [Checkpoint.from_dict(orjson.loads(x)) for x in path.read_bytes().splitlines()]


async def until(condition: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_checkpoints_follow_the_head_on_schedule(store: AuditStore, tmp_path: Path) -> None:
    cps = tmp_path / "checkpoints"
    w = AuditWriter(store, keys=KEYS, spool_dir=tmp_path / "spool", checkpoint_dir=cps,
                    checkpoint_interval=0.05, chain_id="c")  # fmt: skip
    await w.start()
    assert [(c.seq, c.record_id) for c in lines(cps, "c")] == [(0, "")]  # the chain exists
    first = [rec() for _ in range(3)]
    for r in first:
        await w.write(r)
    await until(lambda: lines(cps, "c")[-1].seq == 3, "a checkpoint of seq 3")
    for _ in range(2):
        await w.write(rec())
    await until(lambda: lines(cps, "c")[-1].seq == 5, "a checkpoint of seq 5")
    written = len(lines(cps, "c"))
    await asyncio.sleep(0.3)  # six ticks with nothing new: no new checkpoints
    assert len(lines(cps, "c")) == written
    await w.close()
    assert len(lines(cps, "c")) == written  # the head did not move since the last one

    all_ = lines(cps, "c")
    seqs = [c.seq for c in all_]
    # One line per tick on which the head had moved: ticks may fall between the writes.
    assert seqs[0] == 0 and seqs[-1] == 5 and 3 in seqs and seqs == sorted(set(seqs))
    assert next(c for c in all_ if c.seq == 3).record_id == first[-1].id
    v = await verify(store, cps)
    assert v.ok and v.heads["c"].seq == 5 and v.heads["c"].hash == all_[-1].hash
    for c in all_:  # each line is signed under the checkpoint key, with this key's id
        assert c.key_id == KEYS.key_id and c.mac == checkpoint_mac(c, KEYS.checkpoint)


async def test_close_writes_the_last_checkpoint(store: AuditStore, tmp_path: Path) -> None:
    cps = tmp_path / "checkpoints"
    w = AuditWriter(store, keys=KEYS, spool_dir=tmp_path / "spool", checkpoint_dir=cps,
                    checkpoint_interval=3600, chain_id="c")  # fmt: skip
    await w.start()
    records = [rec() for _ in range(4)]
    await asyncio.gather(*(w.write(r) for r in records))
    assert [c.seq for c in lines(cps, "c")] == [0]  # the schedule has not come yet
    await w.close()
    last = lines(cps, "c")[-1]
    assert (last.seq, last.hash) == (w.head.seq, w.head.hash) and last.seq == 4
    assert (await verify(store, cps)).ok


async def test_the_tick_drains_the_spool_of_an_idle_writer(
    store: AuditStore, tmp_path: Path
) -> None:
    flaky = FlakyStore(store)
    flaky.down = True
    cps = tmp_path / "checkpoints"
    w = AuditWriter(flaky, keys=KEYS, spool_dir=tmp_path / "spool", checkpoint_dir=cps,
                    checkpoint_interval=0.05, retry_interval=0.0, chain_id="c")  # fmt: skip
    await w.start()
    for _ in range(2):
        await w.write(rec())  # acknowledged from the spool
    assert w.spool.pending and await store.count() == 0
    # The acknowledged head is checkpointed, spooled records included.
    await until(lambda: lines(cps, "c")[-1].seq == 2, "a checkpoint of the spooled head")
    flaky.down = False  # no more writes come: the tick alone must replay the spool
    await until(lambda: not w.spool.pending, "the spool to drain")
    assert await store.count() == 2
    await w.close()
    assert (await verify(store, cps)).ok


async def test_a_failing_checkpoint_directory_never_fails_a_write(
    store: AuditStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    metrics = Metrics(CollectorRegistry())
    w = AuditWriter(store, keys=KEYS, spool_dir=tmp_path / "spool", checkpoint_dir=not_a_dir,
                    checkpoint_interval=0.05, metrics=metrics)  # fmt: skip
    await w.start()
    await w.write(rec())
    await w.close()
    assert await store.count() == 1
    errors = metrics.registry.get_sample_value("gateway_audit_errors_total") or 0
    assert errors >= 2  # at start and at close, at least
    assert "decision log checkpoint to" in caplog.text
