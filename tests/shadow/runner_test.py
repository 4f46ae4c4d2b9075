"""The shadow runner: what the request path sees (``observe`` returns at once, samples a
bounded share, drops when the queue is full, never raises) and what the worker does (the
draft judged on the live scores or a candidate's, runs that end by count, deadline, stop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gateway.console.draft import RuleEdit, compile_bundle, set_rule
from gateway.console.wordfiles import add_terms, check_term
from gateway.decision import Action, Decision, Direction
from gateway.metrics import Metrics
from gateway.moderation.pipeline import CheckContext, Pipeline
from gateway.policy.compiled import PolicySet, load_policy_set
from gateway.shadow import Observation, RunCounts, Shadow, ShadowPlan
from tests.support.console import FixedScores
from tests.support.paths import TEST_LEXICON, TEST_POLICY

NEW_TERM = "紫水晶走私渠道"


def _bundle() -> dict[str, str]:
    files = {"default.yaml": TEST_POLICY.read_text("utf-8")}
    for f in sorted(TEST_LEXICON.iterdir()):
        files[f"lexicon/{f.name}"] = f.read_text("utf-8")
    return files


@pytest.fixture(scope="module")
def live() -> PolicySet:
    return load_policy_set(TEST_POLICY)


@pytest.fixture(scope="module")
def draft() -> PolicySet:
    """The test policy plus a new level-3 term, and A1.08's input threshold raised to 0.9."""
    files, _ = add_terms(_bundle(), "default.yaml", [check_term(NEW_TERM, "A1.08", 3)])
    files["default.yaml"] = set_rule(files["default.yaml"], "A1.08", "input",
                                     RuleEdit(True, Action.BLOCK, 0.9, None, None))  # fmt: skip
    return compile_bundle(files, "default.yaml")


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Observation] = []
        self.ended: list[tuple[int, str, RunCounts]] = []
        self.done = asyncio.Event()

    def sink(self, batch: list[Observation]) -> None:
        self.seen.extend(batch)

    def on_end(self, run_id: int, state: str, counts: RunCounts) -> None:
        self.ended.append((run_id, state, counts))
        self.done.set()


async def _live_decision(
    live: PolicySet, text: str, clf: object = None
) -> tuple[Decision, CheckContext]:
    ctx = CheckContext("dec_test", "zh")
    decision = await Pipeline(lambda: live, Metrics(), clf).check([text], Direction.INPUT, ctx)  # type: ignore[arg-type]
    return decision, ctx


async def test_a_run_judges_sampled_requests_with_the_draft(
    live: PolicySet, draft: PolicySet
) -> None:
    shadow, rec = Shadow(None), Recorder()
    shadow.start(ShadowPlan(1, draft, 1.0, 3, 3600), lambda: live, rec.sink, rec.on_end)
    texts = [f"请告诉我{NEW_TERM}怎么联系", "今天天气不错", "出售枪支的渠道", "不会被抽到"]
    for text in texts:
        decision, ctx = await _live_decision(live, text)
        shadow.observe(Direction.INPUT, [text], decision, ctx)
    await asyncio.wait_for(rec.done.wait(), 10)
    assert [(o.live.action, o.draft.action) for o in rec.seen] == [
        (Action.ALLOW, Action.BLOCK), (Action.ALLOW, Action.ALLOW), (Action.BLOCK, Action.BLOCK)]  # fmt: skip
    assert [o.changed for o in rec.seen] == [True, False, False]
    assert rec.seen[0].draft.categories == ("A1.08",) and rec.seen[0].texts == (texts[0],)
    assert all(o.draft_ms >= 0 for o in rec.seen)
    # The live policy is timed again for one check in five: the first, here.
    assert [o.live_ms is not None for o in rec.seen] == [True, False, False]
    [(run_id, state, counts)] = rec.ended
    assert (run_id, state, counts.sampled, counts.evaluated, counts.dropped) == (1, "done", 3, 3, 0)
    assert shadow.plan is None
    await shadow.aclose()


async def test_the_draft_is_judged_on_the_live_scores(live: PolicySet, draft: PolicySet) -> None:
    """The live model's scores carry over: 0.75 blocks A1.08 live (0.725) but not in the
    draft (0.9), without running any model in the shadow."""
    shadow, rec = Shadow(FixedScores("可疑标记", {"A1.08": 0.75})), Recorder()
    shadow.start(ShadowPlan(2, draft, 1.0, 1, 3600), lambda: live, rec.sink, rec.on_end)
    decision, ctx = await _live_decision(
        live, "一段可疑标记的文本", FixedScores("可疑标记", {"A1.08": 0.75})
    )
    assert decision.action is Action.BLOCK
    shadow.observe(Direction.INPUT, ["一段可疑标记的文本"], decision, ctx)
    await asyncio.wait_for(rec.done.wait(), 10)
    [o] = rec.seen
    assert (o.live.action, o.draft.action, o.draft.scores) == (
        Action.BLOCK,
        Action.ALLOW,
        {"A1.08": 0.75},
    )
    await shadow.aclose()


async def test_a_candidate_classifier_judges_the_draft(live: PolicySet) -> None:
    shadow, rec = Shadow(None), Recorder()
    candidate = FixedScores("天气", {"A1.04": 0.99})
    shadow.start(ShadowPlan(3, live, 1.0, 1, 3600, candidate), lambda: live, rec.sink, rec.on_end)
    decision, ctx = await _live_decision(live, "今天天气不错")
    shadow.observe(Direction.INPUT, ["今天天气不错"], decision, ctx)
    await asyncio.wait_for(rec.done.wait(), 10)
    [o] = rec.seen
    assert (o.live.action, o.draft.action, o.draft.categories) == (
        Action.ALLOW,
        Action.BLOCK,
        ("A1.04",),
    )
    await shadow.aclose()


async def test_observe_samples_a_share_and_drops_when_the_queue_is_full(live: PolicySet) -> None:
    draws = iter([0.2, 0.7, 0.1, 0.3, 0.05])
    shadow, rec = Shadow(None, queue_size=2, sample=lambda: next(draws)), Recorder()
    shadow.start(ShadowPlan(4, live, 0.5, 100, 3600), lambda: live, rec.sink, rec.on_end)
    decision, ctx = await _live_decision(live, "你好")
    # No await between the calls: the worker cannot take anything off the queue meanwhile.
    for _ in range(5):
        shadow.observe(Direction.INPUT, ["你好"], decision, ctx)
    counts = shadow.counts
    assert (counts.sampled, counts.dropped) == (2, 2)  # 0.7 was not sampled; 2 did not fit
    assert shadow.stop(4)
    assert rec.ended[0][1] == "stopped"
    await shadow.aclose()


async def test_a_run_takes_at_most_its_rate(live: PolicySet) -> None:
    now = [0.0]
    shadow, rec = Shadow(None, clock=lambda: now[0]), Recorder()
    shadow.start(ShadowPlan(9, live, 1.0, 100, 3600, rate=2), lambda: live, rec.sink, rec.on_end)
    decision, ctx = await _live_decision(live, "你好")
    for _ in range(5):
        shadow.observe(Direction.INPUT, ["你好"], decision, ctx)
    assert (shadow.counts.sampled, shadow.counts.dropped) == (2, 3)  # a burst of 2, then none
    now[0] = 1.0  # a second later, two more tokens
    for _ in range(3):
        shadow.observe(Direction.INPUT, ["你好"], decision, ctx)
    assert (shadow.counts.sampled, shadow.counts.dropped) == (4, 4)
    await shadow.aclose()


async def test_observe_never_raises_and_does_nothing_without_a_run(live: PolicySet) -> None:
    def broken() -> float:
        raise RuntimeError("sampler broke")

    shadow, rec = Shadow(None, sample=broken), Recorder()
    decision, ctx = await _live_decision(live, "你好")
    shadow.observe(Direction.INPUT, ["你好"], decision, ctx)  # no run: nothing happens
    shadow.start(ShadowPlan(5, live, 1.0, 10, 3600), lambda: live, rec.sink, rec.on_end)
    shadow.observe(Direction.INPUT, ["你好"], decision, ctx)  # logged, not raised
    assert shadow.counts.sampled == 0
    await shadow.aclose()
    assert rec.ended[0][1] == "interrupted"


async def test_a_failing_sink_does_not_stop_the_worker(live: PolicySet) -> None:
    calls: list[int] = []

    def sink(batch: list[Observation]) -> None:
        calls.append(len(batch))
        if len(calls) == 1:
            raise OSError("disk full")

    shadow, rec = Shadow(None), Recorder()
    shadow.start(ShadowPlan(6, live, 1.0, 2, 3600), lambda: live, sink, rec.on_end)
    decision, ctx = await _live_decision(live, "你好")
    shadow.observe(Direction.INPUT, ["你好"], decision, ctx)
    await asyncio.sleep(1.5)  # the first batch is flushed (and fails) after a second
    shadow.observe(Direction.INPUT, ["你好"], decision, ctx)
    await asyncio.wait_for(rec.done.wait(), 10)
    assert sum(calls) == 2 and rec.ended[0][1] == "done"
    await shadow.aclose()


async def test_a_run_ends_at_its_deadline_and_a_new_run_ends_the_old(live: PolicySet) -> None:
    now = [100.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    shadow, rec = Shadow(None, clock=clock), Recorder()
    shadow.start(ShadowPlan(7, live, 1.0, 10, 60), lambda: live, rec.sink, rec.on_end)
    shadow.start(ShadowPlan(8, live, 1.0, 10, 60), lambda: live, rec.sink, rec.on_end)
    assert rec.ended[0][:2] == (7, "stopped")
    decision, ctx = await _live_decision(live, "你好")
    now[0] = 161.0
    shadow.observe(Direction.INPUT, ["你好"], decision, ctx)
    assert rec.ended[1][:2] == (8, "done") and shadow.plan is None
    assert not shadow.stop()
    await shadow.aclose()
