"""The dynamic batcher: one bounded queue per model, one model thread, callers await futures.

Batching is continuous: a model thread that is idle takes whatever is queued at once (up to
``max_batch`` rows or ``max_tokens`` padded tokens); while the model threads are busy the
next batch fills, so under load batches are full without any waiting. ``max_wait_us`` > 0
makes an idle model wait that long for company instead (worth it only on accelerators
whose per-call cost dwarfs a short wait). ``workers``
model threads may each run a batch at once: a small model on a CPU spends much of a call
in Python and in per-operator overhead that one intra-op thread pool cannot spread over
the cores, and two single-threaded calls side by side did 1.4x the work of one two-threaded
call on a 2-core machine.

Rows are token sequences (windows of a text); a text's scores are the per-code maximum over
its rows. Identical texts that are queued or running share one computation. Admission is
all-or-nothing and immediate: when the queue cannot take a request's rows, the caller gets
``ClassifierUnavailable`` at once so the policy's fail-open / fail-closed rule applies. A
long text never counts against the queue with more than ``max_queue // 4`` rows at a time:
its windows enter the queue as earlier ones finish, so a text of any length is scored with
bounded work in flight, and its length alone never makes the classifier "unavailable".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway.classifier import ClassifierUnavailable, Scores
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

Row = list[int]
RowResult = Scores | Exception  # an adapter may fail one row without failing the batch
RunFn = Callable[[Sequence[Row]], list[RowResult]]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_batch: int = 32  # rows per model call
    max_tokens: int = 8192  # padded tokens per model call (rows x longest row's bucket)
    max_wait_us: int = 0  # how long an idle model waits for company (0: continuous)
    max_queue: int = 2048  # rows waiting; beyond this callers are refused at once
    workers: int = 1  # model calls in flight at once, each on its own model thread

    def __post_init__(self) -> None:
        if (
            min(self.max_batch, self.max_tokens, self.max_queue, self.workers) < 1
            or self.max_wait_us < 0
        ):
            raise ValueError(f"invalid batch limits: {self}")


class _Entry:
    """One distinct text in flight: its rows, its waiters and the running maximum."""

    __slots__ = ("failed", "key", "left", "queued", "rows", "scores", "waiters")

    def __init__(self, key: str, rows: list[Row]) -> None:
        self.key = key
        self.rows = rows
        self.left = len(rows)  # rows not yet scored
        self.queued = 0  # rows handed to the queue so far (a long text enters in slices)
        self.scores: Scores = {}
        self.waiters: list[asyncio.Future[Scores]] = []
        self.failed = False

    def abandoned(self) -> bool:
        return self.failed or all(w.done() for w in self.waiters)


class Batcher:
    """Owns the queue and the model thread. Create it anywhere; it starts on first use."""

    def __init__(
        self,
        run: RunFn,
        *,
        pad_length: Callable[[int], int],
        limits: BatchLimits | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._run = run
        self._pad = pad_length
        self._limits = limits or BatchLimits()
        self._max_wait = self._limits.max_wait_us / 1e6
        self._metrics = metrics
        self._queue: deque[tuple[_Entry, int, float]] = deque()
        self._slice = max(1, self._limits.max_queue // 4)  # rows in flight per long text
        self._queued = 0  # rows in the queue, abandoned ones included until taken
        self._queued_tokens = 0
        self._open: dict[str, _Entry] = {}
        self._wake = asyncio.Event()  # queue became non-empty
        self._full = asyncio.Event()  # queue holds a full batch
        self._executor = ThreadPoolExecutor(
            max_workers=self._limits.workers, thread_name_prefix="classifier-model"
        )
        self._slots = asyncio.Semaphore(self._limits.workers)  # free model threads
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def limits(self) -> BatchLimits:
        return self._limits

    def enqueue(
        self, texts: Sequence[str], encode: Callable[[str], list[Row]]
    ) -> list[asyncio.Future[Scores]]:
        """Queue ``texts`` (encoding only those not already in flight) and return one future
        per text, in order. Raises ``ClassifierUnavailable`` at once if they do not fit."""
        if self._closed:
            raise ClassifierUnavailable("classifier is closed")
        loop = asyncio.get_running_loop()
        fresh: dict[str, list[Row]] = {}
        for text in texts:
            if text not in self._open and text not in fresh:
                fresh[text] = encode(text)
        need = sum(min(len(rows), self._slice) for rows in fresh.values())
        if self._queued + need > self._limits.max_queue:
            raise ClassifierUnavailable(
                f"classifier queue full ({self._queued} + {need} > {self._limits.max_queue} rows)"
            )
        now = loop.time()
        for text, rows in fresh.items():
            entry = self._open[text] = _Entry(text, rows)
            self._queue_rows(entry, min(len(rows), self._slice), now)
        futures: list[asyncio.Future[Scores]] = []
        for text in texts:
            fut: asyncio.Future[Scores] = loop.create_future()
            self._open[text].waiters.append(fut)
            futures.append(fut)
        if self._task is None:
            self._task = loop.create_task(self._serve(), name="classifier-batcher")
        if need:
            self._wake.set()
            if self._batch_ready():
                self._full.set()
            self._gauge()
        return futures

    def _queue_rows(self, entry: _Entry, n: int, now: float) -> None:
        """Hand the entry's next ``n`` rows to the queue."""
        for i in range(entry.queued, entry.queued + n):
            self._queue.append((entry, i, now))
            self._queued_tokens += self._pad(len(entry.rows[i]))
        entry.queued += n
        self._queued += n

    def call_in_model_thread(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on a model thread and wait (warm-up: CUDA graphs are per thread, which
        is why accelerators get one worker)."""
        self._executor.submit(fn).result()

    async def aclose(self) -> None:
        """Stop taking work, fail every waiting caller, and release the model thread."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._running):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for entry in list(self._open.values()):
            self._fail(entry, ClassifierUnavailable("classifier is closed"))
        self._queue.clear()
        self._queued = self._queued_tokens = 0
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _batch_ready(self) -> bool:
        return (
            self._queued >= self._limits.max_batch or self._queued_tokens >= self._limits.max_tokens
        )

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()  # a free model thread first; the queue fills meanwhile
            try:
                batch = await self._next_batch(loop)
            except BaseException:
                self._slots.release()
                raise
            task = loop.create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _next_batch(self, loop: asyncio.AbstractEventLoop) -> list[tuple[_Entry, int]]:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._queue[0][2] + self._max_wait - loop.time() if self._max_wait else 0.0
            if delay > 0 and not self._batch_ready():
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._full.wait()
            batch = self._take(loop.time())
            if batch:
                return batch

    async def _run_batch(self, batch: list[tuple[_Entry, int]]) -> None:
        try:
            await self._execute(batch)
        except Exception as exc:  # a bug here must not strand the callers
            log.exception("classifier batch failed unexpectedly")
            for entry, _ in batch:
                self._fail(entry, exc)
        finally:
            self._slots.release()

    def _take(self, now: float) -> list[tuple[_Entry, int]]:
        """Pop the next batch, dropping rows nobody waits for any more."""
        batch: list[tuple[_Entry, int]] = []
        longest = 0
        waits: list[float] = []
        while self._queue and len(batch) < self._limits.max_batch:
            entry, i, queued_at = self._queue[0]
            pad = self._pad(len(entry.rows[i]))
            if entry.abandoned():
                self._forget(entry)
            elif batch and (len(batch) + 1) * max(longest, pad) > self._limits.max_tokens:
                break
            else:
                batch.append((entry, i))
                longest = max(longest, pad)
                waits.append(now - queued_at)
            self._queue.popleft()
            self._queued -= 1
            self._queued_tokens -= pad
        if self._metrics is not None:
            self._gauge()
            for w in waits:
                self._metrics.classifier_queue_wait.observe(w)
        return batch

    async def _execute(self, batch: list[tuple[_Entry, int]]) -> None:
        rows = [entry.rows[i] for entry, i in batch]
        started = time.perf_counter()
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._run, rows
            )
            if len(results) != len(rows):
                raise RuntimeError(f"adapter returned {len(results)} results for {len(rows)} rows")
        except Exception as exc:
            for entry, _ in batch:
                self._fail(entry, exc)
            return
        if self._metrics is not None:
            self._metrics.classifier_inference.observe(time.perf_counter() - started)
            self._metrics.classifier_batch_size.observe(len(rows))
            self._metrics.classifier_batch_tokens.observe(
                len(rows) * max(self._pad(len(r)) for r in rows)
            )
        for (entry, _), result in zip(batch, results, strict=True):
            if entry.failed:
                continue
            if isinstance(result, Exception):
                self._fail(entry, result)
                continue
            merged = entry.scores
            for code, score in result.items():
                if score > merged.get(code, -1.0):
                    merged[code] = score
            entry.left -= 1
            if entry.left == 0:
                self._resolve(entry)
            elif entry.queued < len(entry.rows) and not entry.abandoned():
                self._queue_rows(entry, 1, asyncio.get_running_loop().time())  # a long text
                self._wake.set()

    def _resolve(self, entry: _Entry) -> None:
        self._forget(entry)
        first = True
        for w in entry.waiters:
            if not w.done():
                # Each caller gets its own dict so one cannot alter another's result.
                w.set_result(entry.scores if first else dict(entry.scores))
                first = False

    def _fail(self, entry: _Entry, exc: BaseException) -> None:
        entry.failed = True
        self._forget(entry)
        for w in entry.waiters:
            if not w.done():
                err = exc if isinstance(exc, ClassifierUnavailable) else None
                if err is None:
                    err = ClassifierUnavailable(f"classifier failed: {exc!r}")
                    err.__cause__ = exc
                w.set_exception(err)

    def _forget(self, entry: _Entry) -> None:
        if self._open.get(entry.key) is entry:
            del self._open[entry.key]

    def _gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.classifier_queue_depth.set(self._queued)
