"""Coalesce the texts of concurrent ``classify`` calls into few HTTP calls to an engine.

One bounded queue of distinct texts; a dispatcher task owns it. Batching is continuous, as
in ``models.batcher``: when one of ``max_inflight`` call slots is free, the dispatcher takes
whatever is queued at once (up to ``max_batch`` texts) and sends it; while every slot is
busy the queue fills, so under load calls are full without any waiting, and a lone caller
is sent at once. ``max_wait_us`` > 0 makes a free slot wait that long for company instead.

Identical texts queued or in flight share one result. A caller that gives up (timeout,
cancellation) leaves the call its texts are in running for the others; texts nobody waits
for any more are dropped before they are sent. When the queue cannot take a call's texts,
the caller gets ``ClassifierUnavailable`` at once so the policy's fail mode applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from gateway.classifier import ClassifierUnavailable, Scores

log = logging.getLogger(__name__)

CallResult = Scores | Exception  # one text may fail without failing its neighbours
CallFn = Callable[[list[str]], Awaitable[list[CallResult]]]


class _Entry:
    __slots__ = ("future", "text", "waiters")

    def __init__(self, text: str, future: asyncio.Future[Scores]) -> None:
        self.text = text
        self.future = future
        self.waiters = 0


class CallBatcher:
    def __init__(
        self,
        call: CallFn,
        *,
        max_batch: int = 32,
        max_inflight: int = 4,
        max_queue: int = 2048,
        max_wait_us: int = 0,
        depth: Any = None,  # a Gauge child: texts waiting
    ) -> None:
        if min(max_batch, max_inflight, max_queue) < 1 or max_wait_us < 0:
            raise ValueError("max_batch, max_inflight, max_queue must be >= 1, max_wait_us >= 0")
        self._call = call
        self.max_batch = max_batch
        self._max_queue = max_queue
        self._max_wait = max_wait_us / 1e6
        self._depth = depth
        self._queue: deque[tuple[_Entry, float]] = deque()
        self._open: dict[str, _Entry] = {}
        self._slots = asyncio.Semaphore(max_inflight)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False

    async def run(self, texts: Sequence[str]) -> list[Scores]:
        """Scores for each text, in order; each caller gets its own dicts."""
        if self._closed:
            raise ClassifierUnavailable("served classifier is closed")
        loop = asyncio.get_running_loop()
        fresh = len({t for t in texts if t not in self._open})
        if len(self._queue) + fresh > self._max_queue:
            raise ClassifierUnavailable(
                f"served classifier queue full ({len(self._queue)} + {fresh} > {self._max_queue})"
            )
        entries: list[_Entry] = []
        now = loop.time()
        for text in texts:
            entry = self._open.get(text)
            if entry is None:
                entry = self._open[text] = _Entry(text, loop.create_future())
                self._queue.append((entry, now))
            entry.waiters += 1
            entries.append(entry)
        self._gauge()
        self._wake.set()
        if self._task is None:
            self._task = loop.create_task(self._serve(), name="served-classifier-batcher")
        try:
            # shield: one caller leaving must not cancel a result others wait for
            results = await asyncio.gather(*(asyncio.shield(e.future) for e in entries))
        finally:
            for e in entries:
                e.waiters -= 1
        return [dict(r) for r in results]

    async def aclose(self) -> None:
        """Stop, and fail every waiting caller."""
        self._closed = True
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for entry in list(self._open.values()):
            self._finish(entry, ClassifierUnavailable("served classifier is closed"))
        self._queue.clear()
        self._gauge()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()  # a free call slot first; the queue fills meanwhile
            try:
                batch = await self._next_batch(loop)
            except BaseException:
                self._slots.release()
                raise
            task = loop.create_task(self._dispatch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _next_batch(self, loop: asyncio.AbstractEventLoop) -> list[_Entry]:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._max_wait and len(self._queue) < self.max_batch:
                delay = self._queue[0][1] + self._max_wait - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            batch = self._take()
            if batch:
                return batch

    def _take(self) -> list[_Entry]:
        batch: list[_Entry] = []
        while self._queue and len(batch) < self.max_batch:
            entry, _ = self._queue.popleft()
            if entry.waiters > 0:
                batch.append(entry)
            else:  # every caller left: never send it
                self._forget(entry)
                entry.future.cancel()
        self._gauge()
        return batch

    async def _dispatch(self, batch: list[_Entry]) -> None:
        try:
            results = await self._call([e.text for e in batch])
            if len(results) != len(batch):
                raise ClassifierUnavailable(
                    f"served classifier returned {len(results)} results for {len(batch)} texts"
                )
        except Exception as exc:
            for entry in batch:
                self._finish(entry, exc)
        else:
            for entry, result in zip(batch, results, strict=True):
                self._finish(entry, result)
        finally:
            self._slots.release()

    def _finish(self, entry: _Entry, result: CallResult) -> None:
        self._forget(entry)
        if entry.future.done():
            return
        if isinstance(result, Exception):
            if not isinstance(result, ClassifierUnavailable):
                log.error("served classifier call failed unexpectedly", exc_info=result)
                err = ClassifierUnavailable(f"served classifier failed: {result!r}")
                err.__cause__ = result
                result = err
            entry.future.set_exception(result)
            # Callers that gave up (a cascade's budget) left no one to read it; asyncio.shield
            # drops its callback then, so mark it read here (waiters still get it).
            entry.future.exception()
        else:
            entry.future.set_result(result)

    def _forget(self, entry: _Entry) -> None:
        if self._open.get(entry.text) is entry:
            del self._open[entry.text]

    def _gauge(self) -> None:
        if self._depth is not None:
            self._depth.set(len(self._queue))
