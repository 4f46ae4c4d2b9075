"""``AuditWriter``: the request path's way to make a decision record durable.

``await writer.write(record)`` returns once the record is committed (to the store, or, with
fail-open, fsynced to the local spool). One task owns a bounded queue and commits whatever
has queued up while the previous commit ran, in one transaction (group commit): under load
many writes share one fsync, and at low load a write waits for just its own commit.

The writer is also the chain's sequencer: it seals each batch (``chain.seal``, keyed) and
adopts the new chain head only once the batch is durable, so a failed batch leaves no gap.
With a checkpoint directory it appends a signed checkpoint of its head there when it starts,
every ``checkpoint_interval`` seconds while the head moves, and when it closes
(``gateway.audit.checkpoint``). The checkpointed head is the acknowledged one: records in
the spool count, since their writes returned.

While the store is down, batches go to the spool (fail-open) or fail with
``AuditUnavailable`` (fail-closed); ``fail_open`` may be a callable, read per batch. Once a spool exists, new batches follow it there
until a replay has emptied it, so records reach the store in chain order. The store is
retried at most every ``retry_interval`` seconds; between retries writes do not wait for it.
The checkpoint tick also retries a pending spool, so it drains even when no writes come.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from gateway.audit.chain import ChainHead, seal
from gateway.audit.checkpoint import CheckpointLog
from gateway.audit.errors import AuditUnavailable
from gateway.audit.keys import AuditKeys
from gateway.audit.record import DecisionRecord
from gateway.audit.spool import Spool, SpoolCorrupt, orphans, quarantine, read_chunks
from gateway.audit.store import AuditStore
from gateway.metrics import Metrics

log = logging.getLogger("gateway.audit")
REPLAY_CHUNK = 500

_Write = tuple[DecisionRecord, "asyncio.Future[None]"]
_TICK: Final = "tick"  # queued by the checkpoint timer, so the writer task does the work
_Item = _Write | str | None  # a write, the tick, or the stop marker (None)


def new_chain_id() -> str:
    """Unique per writer instance: host (pod) name plus a random suffix."""
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:12]}"


class AuditWriter:
    """Group-committing, chain-sealing writer in front of an ``AuditStore``.

    ``keys`` seal the chain and sign the checkpoints (``AuditKeys.from_secret(
    Settings.pseudonym_secret())``). ``fail_open`` is a bool or a callable read per batch
    (the policy's ``audit.fail_open``). Start it in the lifespan (``await start()``), close
    it after the server has drained (``await close()`` commits what is queued and writes a
    last checkpoint)."""

    def __init__(
        self,
        store: AuditStore,
        *,
        keys: AuditKeys,
        spool_dir: Path,
        checkpoint_dir: Path | None = None,
        checkpoint_interval: float = 60.0,
        fail_open: bool | Callable[[], bool] = True,
        chain_id: str | None = None,
        max_batch: int = 512,
        max_queue: int = 10_000,
        retry_interval: float = 1.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        # A callable is read per batch, so a policy reload can flip it (policy audit.fail_open).
        self._fail_open = fail_open
        self.chain_id = chain_id or new_chain_id()
        self.spool = Spool(spool_dir, self.chain_id)
        self._key = keys.chain
        self._checkpoints = (
            CheckpointLog(checkpoint_dir, self.chain_id, keys) if checkpoint_dir else None
        )
        self._checkpoint_interval = checkpoint_interval
        self._checkpointed: ChainHead | None = None  # last head on disk in the checkpoint log
        self._ticker: asyncio.Task[None] | None = None
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(max_queue)
        self._retry_interval = retry_interval
        self._metrics = metrics
        self._head = ChainHead(self.chain_id)
        self._head_id = ""  # id of the record at the head
        self._store_ok = True
        self._next_try = 0.0  # monotonic time of the next store attempt while it is down
        self._task: asyncio.Task[None] | None = None
        self._orphans_pending = True  # spools of dead writers may be waiting in spool_dir
        self._closing = False
        self.batches = 0  # commits made; records/batches is the group-commit factor

    async def start(self) -> None:
        """Replay spools left by dead writers (if the store is up), write the chain's first
        checkpoint (seq 0: the chain exists), then accept writes."""
        await self._replay_orphans()
        await self._checkpoint(force=True)
        self._task = asyncio.create_task(self._run(), name="audit-writer")
        if self._checkpoints is not None:
            self._ticker = asyncio.create_task(self._tick(), name="audit-checkpoints")

    async def write(self, record: DecisionRecord) -> None:
        """Return once ``record`` is durable; raise ``AuditUnavailable`` if it is not."""
        if self._task is None or self._task.done() or self._closing:
            raise AuditUnavailable("decision log writer is not running")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((record, fut))
        except asyncio.QueueFull:
            self._error()
            raise AuditUnavailable("decision log queue is full") from None
        started = time.perf_counter()
        # If the caller is cancelled (client gone), ``fut`` is cancelled with it, but the
        # record stays queued and is still written: the decision was made.
        await fut
        if self._metrics is not None:
            self._metrics.audit_write_seconds.observe(time.perf_counter() - started)

    async def close(self) -> None:
        """Commit everything queued, write a last checkpoint, then stop. Idempotent."""
        self._closing = True  # nothing may queue behind the stop marker
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._task is None:
            return  # never started: nothing was written, nothing to checkpoint
        if not self._task.done():
            await self._queue.put(None)
            await self._task
        await self._checkpoint()
        await asyncio.to_thread(self.spool.close)
        if self._checkpoints is not None:
            await asyncio.to_thread(self._checkpoints.close)

    @property
    def head(self) -> ChainHead:
        """The acknowledged head of this writer's chain."""
        return self._head

    @property
    def fail_open(self) -> bool:
        return self._fail_open() if callable(self._fail_open) else self._fail_open

    @property
    def store_available(self) -> bool:
        return self._store_ok

    async def _run(self) -> None:
        stop = False
        while not stop:
            item = await self._queue.get()
            if item is None:
                break
            if item == _TICK:
                await self._on_tick()
                continue
            assert isinstance(item, tuple)
            batch = [item]
            tick = False
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if nxt is None:
                    stop = True
                    break
                if isinstance(nxt, str):
                    tick = True  # handled once this batch is committed
                    continue
                batch.append(nxt)
            await self._commit(batch)
            if tick:
                await self._on_tick()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._checkpoint_interval)
            try:
                self._queue.put_nowait(_TICK)
            except asyncio.QueueFull:
                pass  # the writer is busy with records; the next tick will do

    async def _on_tick(self) -> None:
        """Retry a pending spool (idle writers too), then checkpoint the head if it moved."""
        if (self.spool.pending or self._orphans_pending) and self._may_try_store():
            try:
                await self._drain_spool()
            except Exception:
                log.exception("decision log spool replay failed")
        await self._checkpoint()

    async def _checkpoint(self, *, force: bool = False) -> None:
        """Append the head to the checkpoint log if it moved since the last one. A failure
        is logged and counted, and retried at the next tick: requests never wait on it."""
        if self._checkpoints is None or (not force and self._head == self._checkpointed):
            return
        head, head_id = self._head, self._head_id
        try:
            await asyncio.to_thread(self._checkpoints.append, head, head_id, datetime.now(UTC))
        except OSError as e:
            log.error("decision log checkpoint to %s failed: %s", self._checkpoints.path, e)
            self._error()
            return
        self._checkpointed = head

    async def _commit(self, batch: list[_Write]) -> None:
        error: AuditUnavailable | None = None
        try:
            sealed, head = seal([r for r, _ in batch], self._head, self._key)
            await self._persist(sealed)
            self._head, self._head_id = head, sealed[-1].id
            self.batches += 1
        except AuditUnavailable as e:
            error = e
        except Exception as e:  # the writer task must survive anything a backend throws
            log.exception("decision log batch failed")
            error = AuditUnavailable(f"decision log write failed: {e}")
        if error is not None:
            self._error()
        for _, fut in batch:
            if not fut.done():
                if error is None:
                    fut.set_result(None)
                else:
                    fut.set_exception(error)

    async def _persist(self, sealed: list[DecisionRecord]) -> None:
        if self._may_try_store() and await self._drain_spool():
            try:
                await self.store.append(sealed)
                self._mark_store(True)
                return
            except Exception as e:
                log.warning("decision log store unavailable: %s", e)
                self._mark_store(False)
        if not self.fail_open:
            raise AuditUnavailable("decision log store is unavailable (fail-closed)")
        try:
            await asyncio.to_thread(self.spool.append, sealed)
        except OSError as e:
            raise AuditUnavailable(f"decision log spool failed: {e}") from e

    @property
    def retry_due(self) -> bool:
        """The store is up, or down long enough that the next write should try it again."""
        return self._may_try_store()

    def _may_try_store(self) -> bool:
        return self._store_ok or time.monotonic() >= self._next_try

    def _mark_store(self, ok: bool) -> None:
        if not ok:
            self._error()
            self._next_try = time.monotonic() + self._retry_interval
        elif not self._store_ok:
            log.info("decision log store is back")
        self._store_ok = ok

    async def _drain_spool(self) -> bool:
        """Replay this writer's spool into the store; True when the spool is empty."""
        if not self.spool.pending:
            if self._orphans_pending and self._store_ok:
                await self._replay_orphans()
            return True
        try:
            await self._replay(self.spool.chunks(REPLAY_CHUNK))
            await asyncio.to_thread(self.spool.clear)
        except SpoolCorrupt:
            # Replaying it can never succeed; keep it for a human and carry on. The chain
            # will show the gap at verify time, which is the truth.
            await asyncio.to_thread(self.spool.quarantine)
            self._error()
        except Exception as e:
            log.warning("decision log spool replay failed: %s", e)
            self._mark_store(False)
            return False
        self._mark_store(True)
        await self._replay_orphans()
        return True

    async def _replay_orphans(self) -> None:
        """Spools of writers that died: replay them, then remove them. Best effort; a
        failure leaves the file for the next attempt (appends are idempotent by id)."""
        found = await asyncio.to_thread(
            lambda: list(orphans(self.spool.directory, self.spool.path))
        )
        self._orphans_pending = False
        for path, fd in found:
            try:
                await self._replay(read_chunks(path, REPLAY_CHUNK))
                await asyncio.to_thread(path.unlink)
                log.info("replayed orphaned spool %s", path)
            except SpoolCorrupt:
                await asyncio.to_thread(quarantine, path)
                self._error()
            except Exception as e:
                log.warning("could not replay spool %s yet: %s", path, e)
                self._orphans_pending = True
                self._mark_store(False)
            finally:
                os.close(fd)

    async def _replay(self, chunks: Iterator[list[DecisionRecord]]) -> None:
        # One chunk in memory at a time: a spool can grow large during a long outage.
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            await self.store.append(chunk)

    def _error(self) -> None:
        if self._metrics is not None:
            self._metrics.audit_errors.inc()
