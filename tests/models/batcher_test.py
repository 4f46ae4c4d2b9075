"""The dynamic batcher on a fake model: batching, limits, failure, cancellation, overload."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from gateway.classifier import ClassifierUnavailable, Scores
from gateway.metrics import Metrics
from models.batcher import Batcher, BatchLimits, Row, RowResult


class FakeModel:
    """Scores a row as {"A1.04": max id / 100}; records every batch; can block or fail."""

    def __init__(self) -> None:
        self.batches: list[list[Row]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail: Exception | None = None
        self.threads: set[str] = set()

    def run(self, rows: Sequence[Row]) -> list[RowResult]:
        self.threads.add(threading.current_thread().name)
        self.gate.wait(5)
        self.batches.append(list(rows))
        if self.fail is not None:
            raise self.fail
        return [{"A1.04": max(r, default=0) / 100} for r in rows]


def encode(text: str) -> list[Row]:
    """ "a|b|c" -> three rows (windows); each row's ids are the char codes mod 100."""
    return [[ord(c) % 100 for c in part] for part in text.split("|")]


def make(model: FakeModel, metrics: Metrics | None = None, **limits: int) -> Batcher:
    return Batcher(
        model.run,
        pad_length=lambda n: 16 if n <= 16 else 64,
        limits=BatchLimits(**limits),
        metrics=metrics,
    )


async def classify(b: Batcher, *texts: str) -> list[Scores]:
    return list(await asyncio.gather(*b.enqueue(list(texts), encode)))


async def test_concurrent_callers_share_batches_up_to_max_batch() -> None:
    model = FakeModel()
    b = make(model, max_batch=4, max_wait_us=50_000)
    results = await asyncio.gather(*(classify(b, chr(65 + i)) for i in range(10)))
    assert [r[0]["A1.04"] for r in results] == [(65 + i) % 100 / 100 for i in range(10)]
    assert [len(x) for x in model.batches] == [4, 4, 2]
    assert model.threads == {"classifier-model_0"}  # off the event loop, one dedicated thread
    await b.aclose()


async def test_max_wait_closes_a_partial_batch() -> None:
    model = FakeModel()
    b = make(model, max_batch=64, max_wait_us=2_000)
    loop = asyncio.get_running_loop()
    start = loop.time()
    await classify(b, "x")
    assert loop.time() - start < 0.5
    assert [len(x) for x in model.batches] == [1]
    await b.aclose()


async def test_token_budget_closes_a_batch() -> None:
    model = FakeModel()
    # Rows of 17+ ids pad to 64 tokens: a 128-token budget admits two of them per call.
    b = make(model, max_batch=32, max_tokens=128, max_wait_us=20_000)
    await asyncio.gather(*(classify(b, chr(65 + i) * 20) for i in range(5)))
    assert [len(x) for x in model.batches] == [2, 2, 1]
    await b.aclose()


async def test_a_model_failure_reaches_every_waiting_caller() -> None:
    model = FakeModel()
    model.fail = RuntimeError("CUDA out of memory")
    b = make(model, max_batch=8, max_wait_us=10_000)
    outcomes = await asyncio.gather(*(classify(b, t) for t in "abc"), return_exceptions=True)
    assert all(isinstance(o, ClassifierUnavailable) for o in outcomes)
    assert all("CUDA out of memory" in str(o) for o in outcomes)
    model.fail = None  # the batcher keeps serving after a failed batch
    assert (await classify(b, "d"))[0] == {"A1.04": 0.0}
    await b.aclose()


async def test_one_failed_row_fails_only_its_text() -> None:
    def run(rows: Sequence[Row]) -> list[RowResult]:
        return [ValueError("unparseable") if r == [0] else {"A1.04": 0.5} for r in rows]

    b = Batcher(run, pad_length=lambda n: 16, limits=BatchLimits(max_wait_us=10_000))
    ok, bad = await asyncio.gather(classify(b, "a"), classify(b, "d"), return_exceptions=True)
    assert ok == [{"A1.04": 0.5}]
    assert isinstance(bad, ClassifierUnavailable)
    await b.aclose()


async def test_cancelled_callers_are_dropped_before_the_model_runs() -> None:
    model = FakeModel()
    model.gate.clear()  # hold the model thread on the first batch
    b = make(model, max_batch=1, max_wait_us=0)
    first = asyncio.create_task(classify(b, "a"))
    await asyncio.sleep(0.05)  # "a" is running; the rest must queue behind it
    gone = [asyncio.create_task(classify(b, t)) for t in "bcd"]
    stay = asyncio.create_task(classify(b, "e"))
    await asyncio.sleep(0.01)
    for t in gone:
        t.cancel()
    model.gate.set()
    assert (await first)[0]["A1.04"] == 0.97
    assert (await stay)[0]["A1.04"] == 0.01
    ran = [row for batch in model.batches for row in batch]
    assert ran == [encode("a")[0], encode("e")[0]]  # "b", "c", "d" never reached the model
    await b.aclose()


async def test_full_queue_refuses_at_once() -> None:
    model = FakeModel()
    model.gate.clear()
    b = make(model, max_batch=2, max_queue=4, max_wait_us=0)
    running = asyncio.create_task(classify(b, "a", "b"))
    await asyncio.sleep(0.05)  # first batch taken; the queue is empty again
    # One text, three windows: a long text enters the queue one slice (max_queue // 4 = 1
    # row) at a time.
    queued = asyncio.create_task(classify(b, "c|d|e"))
    await asyncio.sleep(0)
    with pytest.raises(ClassifierUnavailable, match="queue full"):
        b.enqueue(["f", "g", "h", "i"], encode)  # 1 + 4 > 4 rows: refused without waiting
    assert len(b.enqueue(["h"], encode)) == 1  # 1 + 1 fits
    model.gate.set()
    await asyncio.gather(running, queued)
    await b.aclose()


async def test_a_text_longer_than_the_queue_is_scored_in_slices() -> None:
    model = FakeModel()
    b = make(model, max_batch=2, max_queue=8)  # slices of 2 rows
    windows = [chr(33 + i) for i in range(30)]
    [scores] = await classify(b, "|".join(windows))  # 30 windows: more than the queue holds
    assert scores == {"A1.04": max(ord(w) % 100 for w in windows) / 100}
    assert sum(len(x) for x in model.batches) == 30
    assert max(len(x) for x in model.batches) <= 2
    await b.aclose()


async def test_long_texts_score_the_maximum_over_windows() -> None:
    model = FakeModel()
    b = make(model, max_batch=2, max_wait_us=1_000)
    # Five windows over three batches; the max (from "c", code 99) comes from the middle.
    [scores] = await classify(b, "a|b|c|\x05|\x06")
    assert scores == {"A1.04": 0.99}
    assert sum(len(x) for x in model.batches) == 5
    await b.aclose()


async def test_identical_texts_are_computed_once() -> None:
    model = FakeModel()
    b = make(model, max_batch=16, max_wait_us=20_000)
    results = await asyncio.gather(classify(b, "x", "x", "y"), classify(b, "x"), classify(b, "y"))
    assert [len(x) for x in model.batches] == [2]
    assert results[0] == [{"A1.04": 0.2}, {"A1.04": 0.2}, {"A1.04": 0.21}]
    results[0][0]["A1.04"] = 7.0  # each caller owns its dict
    assert results[1] == [{"A1.04": 0.2}]
    await b.aclose()


async def test_close_fails_waiting_callers_and_refuses_new_ones() -> None:
    model = FakeModel()
    model.gate.clear()
    b = make(model, max_batch=1, max_wait_us=0)
    tasks = [asyncio.create_task(classify(b, t)) for t in "ab"]
    await asyncio.sleep(0.05)
    await b.aclose()
    model.gate.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, ClassifierUnavailable) for o in outcomes)
    with pytest.raises(ClassifierUnavailable):
        b.enqueue(["c"], encode)


async def test_metrics_report_batches_queue_and_inference() -> None:
    metrics = Metrics()
    model = FakeModel()
    b = make(model, metrics, max_batch=4, max_wait_us=20_000)
    await asyncio.gather(*(classify(b, t) for t in "abcdef"))
    value = metrics.registry.get_sample_value
    assert value("classifier_batch_size_count") == 2
    assert value("classifier_batch_size_sum") == 6
    assert value("classifier_batch_tokens_sum") == 6 * 16
    assert value("classifier_queue_wait_seconds_count") == 6
    assert value("classifier_inference_seconds_count") == 2
    assert value("classifier_queue_depth") == 0
    await b.aclose()


async def test_workers_run_batches_side_by_side_on_their_own_threads() -> None:
    """With two workers a second batch starts while the first is still in the model; with
    one it waits. The barrier only opens when two calls are inside ``run`` at once."""
    barrier = threading.Barrier(2, timeout=2)
    model = FakeModel()

    def run(rows: Sequence[Row]) -> list[RowResult]:
        barrier.wait()  # BrokenBarrierError unless another call is running at the same time
        return model.run(rows)

    b = Batcher(run, pad_length=lambda n: 16, limits=BatchLimits(max_batch=2, workers=2))
    results = await asyncio.gather(*(classify(b, t) for t in ("a", "b", "c", "d")))
    assert len(results) == 4 and sorted(len(x) for x in model.batches) == [2, 2]
    assert model.threads == {"classifier-model_0", "classifier-model_1"}
    await b.aclose()

    barrier.reset()
    one = Batcher(run, pad_length=lambda n: 16, limits=BatchLimits(max_batch=2, workers=1))
    with pytest.raises(ClassifierUnavailable, match="BrokenBarrier"):  # calls never overlap
        await asyncio.gather(*(classify(one, t) for t in ("e", "f", "g", "h")))
    await one.aclose()


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BatchLimits(workers=0)
