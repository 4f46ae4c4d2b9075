"""The shadow runner: a draft policy judged beside the live one, on live traffic, without
touching a single response.

The request path calls ``observe`` after each final live decision. It returns at once:
it samples a bounded share of requests, puts the texts on a bounded queue and drops them
when the queue is full; it never raises. One background worker takes them off the queue
and checks them with the draft (and, for the latency comparison, once more with the live
policy under the same conditions), then hands the pair of decisions to a sink, which keeps
them apart from the decision log. A run ends after its number of requests, at its
deadline, or when stopped.

The draft is judged on the classifier scores the live decision already has (the same
model gives the same scores), so a shadow run costs no model time; a run with a
candidate classifier (a new model) runs that model instead, and the live side runs the
live model again, so the latency comparison is fair. The cost is bounded three ways: the
sampled share, a rate (checks per second, ``DEFAULT_RATE``) and the queue; the live
policy is timed again for a sample of the checks only.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.classifier import Classifier, ClassifierUnavailable, Scores
from gateway.decision import Decision, Direction
from gateway.metrics import Metrics
from gateway.moderation.pipeline import CheckContext, Pipeline
from gateway.policy.compiled import PolicySet

log = logging.getLogger("gateway.shadow")

QUEUE_SIZE = 256  # requests waiting for the worker; more are dropped (and counted)
FLUSH_EVERY = 50  # observations handed to the sink at once
FLUSH_SECONDS = 1.0
# The live policy is checked again (to compare check times fairly) for one in this many
# observations only: the comparison needs a sample, not every request.
LIVE_TIMING_EVERY = 5
DEFAULT_RATE = 20.0  # checks per second at most: bounds the CPU a run takes from serving


@dataclass(frozen=True, slots=True)
class ShadowPlan:
    """What one run evaluates, on how much traffic, until when."""

    run_id: int
    draft: PolicySet
    share: float  # 0 < share <= 1: the part of requests sampled
    limit: int  # evaluations, then the run is done
    seconds: float  # the run ends after this long in any case
    candidate: Classifier | None = None  # a new model to judge with; None: the live scores
    rate: float = DEFAULT_RATE  # sampled checks per second at most; more are dropped


@dataclass(frozen=True, slots=True)
class Observation:
    """One request checked both ways. ``live`` is the decision the gateway acted on."""

    run_id: int
    direction: Direction
    tenant: str
    texts: tuple[str, ...]
    live: Decision
    draft: Decision
    # The live policy checked again here under the same conditions, for one observation in
    # LIVE_TIMING_EVERY (None for the others).
    live_ms: float | None
    draft_ms: float

    @property
    def changed(self) -> bool:
        return (self.live.action, self.live.categories) != (self.draft.action,
                                                             self.draft.categories)  # fmt: skip


@dataclass(slots=True)
class RunCounts:
    sampled: int = 0  # queued for the worker
    dropped: int = 0  # sampled, but over the rate or the queue was full
    evaluated: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class _Job:
    run_id: int
    direction: Direction
    texts: tuple[str, ...]
    live: Decision
    ctx: CheckContext


Sink = Callable[[list[Observation]], None]
OnEnd = Callable[[int, str, RunCounts], None]


class _KnownScores:
    """A classifier that answers with the scores the live check already got, so the draft
    is judged on the same model output without running the model again."""

    def __init__(self, live: Decision) -> None:
        self._scores = dict(live.scores)
        self._failed = any(r.kind == "unavailable" for r in live.reasons)

    async def classify(
        self, texts: Sequence[str], direction: str | None = None, *,
        normalized: Sequence[str] | None = None,
    ) -> list[Scores]:  # fmt: skip
        if self._failed:
            raise ClassifierUnavailable("the live check had no classifier answer")
        # The pipeline keeps each code's maximum over the texts: one text carries them all.
        return [dict(self._scores)] + [{} for _ in texts[1:]]

    def info(self) -> dict[str, str]:
        return {"name": "live-scores"}

    async def aclose(self) -> None:
        return None


class Shadow:
    """The one shadow runner of a gateway process (``AppState.shadow``)."""

    def __init__(
        self,
        live_classifier: Classifier | None,
        *,
        queue_size: int = QUEUE_SIZE,
        sample: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._live_classifier = live_classifier
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=queue_size)
        self._sample = sample
        self._clock = clock
        self._metrics = Metrics()  # shadow checks never count as traffic
        self._plan: ShadowPlan | None = None
        self._sink: Sink | None = None
        self._on_end: OnEnd | None = None
        self._counts = RunCounts()
        self._deadline = 0.0
        self._tokens, self._refilled = 0.0, 0.0  # the rate limit's bucket
        self._worker: asyncio.Task[None] | None = None
        self._live: Callable[[], PolicySet] | None = None
        self._candidates: dict[str, Classifier] = {}  # loaded once, closed with the runner

    # --- the request path

    def observe(
        self, direction: Direction, texts: Sequence[str], live: Decision, ctx: CheckContext
    ) -> None:
        """Offer one final live decision to the running shadow. Returns at once and never
        raises: the shadow must not change or slow down what the client gets."""
        plan = self._plan
        if plan is None:
            return
        try:
            counts = self._counts
            if counts.sampled >= plan.limit or self._sample() >= plan.share:
                return
            now = self._clock()
            if now >= self._deadline:
                self._end("done")
                return
            self._tokens = min(
                max(plan.rate, 1.0), self._tokens + (now - self._refilled) * plan.rate
            )
            self._refilled = now
            if self._tokens < 1.0:
                counts.dropped += 1
                return
            self._queue.put_nowait(_Job(plan.run_id, direction, tuple(texts), live, ctx))
            self._tokens -= 1.0
            counts.sampled += 1
        except asyncio.QueueFull:
            self._counts.dropped += 1
        except Exception:  # never into the request
            log.exception("shadow: observe failed")

    # --- control (the console)

    @property
    def plan(self) -> ShadowPlan | None:
        return self._plan

    @property
    def counts(self) -> RunCounts:
        return self._counts

    def start(self, plan: ShadowPlan, live: Callable[[], PolicySet], sink: Sink,
              on_end: OnEnd) -> None:  # fmt: skip
        """Begin ``plan`` (ending any run before it as ``stopped``). ``live`` is the live
        policy set, ``sink`` keeps observations, ``on_end`` hears how the run ended."""
        if self._plan is not None:
            self._end("stopped")
        while not self._queue.empty():  # jobs of an earlier run
            self._queue.get_nowait()
        self._plan, self._live, self._sink, self._on_end = plan, live, sink, on_end
        self._counts = RunCounts(started=self._clock())
        self._deadline = self._clock() + plan.seconds
        self._tokens, self._refilled = max(plan.rate, 1.0), self._clock()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    def stop(self, run_id: int | None = None, state: str = "stopped") -> bool:
        """End the running run (only ``run_id``, when given); True if one ended."""
        if self._plan is None or (run_id is not None and self._plan.run_id != run_id):
            return False
        self._end(state)
        return True

    async def candidate(self, spec: str, load: Callable[[str], Classifier]) -> Classifier:
        """The candidate classifier ``spec``, loaded (off the event loop) on first use."""
        if spec not in self._candidates:
            self._candidates[spec] = await asyncio.to_thread(load, spec)
        return self._candidates[spec]

    async def aclose(self) -> None:
        if self._plan is not None:
            self._end("interrupted")
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for clf in self._candidates.values():
            await clf.aclose()
        self._candidates.clear()

    def _end(self, state: str) -> None:
        plan, on_end, counts = self._plan, self._on_end, self._counts
        self._plan = None
        if plan is not None and on_end is not None:
            try:
                on_end(plan.run_id, state, counts)
            except Exception:
                log.exception("shadow: recording the end of run %s failed", plan.run_id)

    # --- the worker

    async def _work(self) -> None:
        batch: list[Observation] = []
        last_flush = self._clock()
        while True:
            try:
                job = await asyncio.wait_for(self._queue.get(), FLUSH_SECONDS)
            except TimeoutError:
                job = None
            plan = self._plan
            if job is not None and plan is not None and job.run_id == plan.run_id:
                try:
                    batch.append(await self._evaluate(plan, job))
                    self._counts.evaluated += 1
                except Exception:
                    self._counts.errors += 1
                    log.exception("shadow: evaluating a request failed")
            done = plan is not None and self._counts.evaluated >= plan.limit
            if batch and (len(batch) >= FLUSH_EVERY or done or plan is None
                          or self._clock() - last_flush >= FLUSH_SECONDS):  # fmt: skip
                self._flush(batch)
                batch, last_flush = [], self._clock()
            if done and self._plan is plan:
                self._end("done")
            elif plan is not None and self._clock() >= self._deadline:
                self._end("done")

    def _flush(self, batch: list[Observation]) -> None:
        if self._sink is None:
            return
        try:
            self._sink(batch)
        except Exception:
            log.exception("shadow: keeping %d observations failed", len(batch))

    async def _evaluate(self, plan: ShadowPlan, job: _Job) -> Observation:
        assert self._live is not None
        live_set = self._live()
        if plan.candidate is not None:
            draft_clf: Classifier | None = plan.candidate
            live_clf: Classifier | None = self._live_classifier
        else:
            draft_clf = live_clf = _KnownScores(job.live) if job.live.scores or any(
                r.kind == "unavailable" for r in job.live.reasons) else None  # fmt: skip
        ctx = CheckContext(job.ctx.decision_id + "-shadow", job.ctx.language,
                           job.ctx.user_status, job.ctx.tenant)  # fmt: skip
        live_ms = None
        if self._counts.evaluated % LIVE_TIMING_EVERY == 0:
            t0 = time.perf_counter()
            await Pipeline(lambda: live_set, self._metrics, live_clf).check(
                job.texts, job.direction, ctx
            )
            live_ms = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        draft = await Pipeline(lambda: plan.draft, self._metrics, draft_clf).check(
            job.texts, job.direction, ctx
        )
        t2 = time.perf_counter()
        return Observation(plan.run_id, job.direction, job.ctx.tenant, job.texts, job.live, draft,
                           live_ms, (t2 - t1) * 1000)  # fmt: skip
