"""Cascades: a band of first-stage scores escalates to a second classifier, whose verdict
wins; a second stage that misses the budget falls back to the policy's fail mode.

The stage alone (gateway/moderation/cascade.py) against in-process classifiers, then the
whole gateway: a scripted TEI encoder as the first stage, a scripted vLLM guard as the
second, the OpenAI SDK as client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from gateway.classifier import ClassifierUnavailable, Scores
from gateway.decision import Direction
from gateway.metrics import Metrics
from gateway.moderation.cascade import Cascade
from gateway.policy.model import Policy
from loadtest.mock_engines import MockEngine
from tests.conftest import Gateway, GatewayFactory
from tests.support.servers import ServerThread


class Scripted:
    """A classifier that answers from a table (the seam, nothing else)."""

    def __init__(self, name: str, table: dict[str, Scores], delay_s: float = 0.0) -> None:
        self.name = name
        self.table = table
        self.delay_s = delay_s
        self.seen: list[list[str]] = []

    async def classify(
        self, texts: Sequence[str], direction: str | None = None, *,
        normalized: Sequence[str] | None = None,
    ) -> list[Scores]:  # fmt: skip
        self.seen.append(list(texts))
        await asyncio.sleep(self.delay_s)
        return [dict(self.table.get(t, {})) for t in texts]

    def info(self) -> dict[str, str]:
        return {"name": self.name, "version": "v1", "path": "-", "device": "-", "dtype": "-"}

    async def aclose(self) -> None:
        return None


def policy(**cascade: Any) -> Policy:
    return Policy.model_validate({
        "categories": {"A1.04": {"input": {"action": "block", "threshold": 0.5}}},
        "cascade": {"enabled": True, "budget_ms": 200,
                    "bands": {"A1.04": {"low": 0.3, "high": 0.9}}, **cascade},
    })  # fmt: skip


FIRST = {"unsure": {"A1.04": 0.55}, "sure": {"A1.04": 0.95}, "clean": {"A1.04": 0.01},
         "low": {"A1.04": 0.35, "A1.06": 0.7}}  # fmt: skip


def cascade(second: Scripted, registry: CollectorRegistry | None = None) -> Cascade:
    return Cascade(Scripted("enc", FIRST), second, Metrics(registry or CollectorRegistry()))


async def refine(c: Cascade, p: Policy, texts: list[str]) -> Any:
    first = [dict(FIRST.get(t, {})) for t in texts]
    return await c.refine(p, Direction.INPUT, texts, None, first)


async def test_only_texts_inside_a_band_escalate_and_the_second_verdict_wins() -> None:
    second = Scripted("guard", {"unsure": {"A1.04": 0.0}, "low": {"A1.04": 1.0, "A2.09": 1.0}})
    reg = CollectorRegistry()
    out = await refine(cascade(second, reg), policy(), ["clean", "unsure", "sure", "low"])
    assert second.seen == [["unsure", "low"]]
    assert out.scores[0] == {"A1.04": 0.01} and out.scores[2] == {"A1.04": 0.95}
    assert out.scores[1] == {"A1.04": 0.0}  # lowered: the guard cleared the banded code
    assert out.scores[3] == {"A1.04": 1.0, "A1.06": 0.7, "A2.09": 1.0}  # raised, A1.06 kept
    assert not out.failed
    facts = {(f.text_index, f.category): (f.first, f.second) for f in out.facts}
    assert facts == {(1, "A1.04"): (0.55, 0.0), (3, "A1.04"): (0.35, 1.0), (3, "A2.09"): (0.0, 1.0)}
    assert {f.first_model for f in out.facts} == {"enc@v1"}
    assert {f.second_model for f in out.facts} == {"guard@v1"}

    def n(metric: str, **labels: str) -> float:
        return reg.get_sample_value(metric, {"direction": "input", **labels}) or 0.0

    assert n("classifier_cascade_texts_total", stage="first") == 2
    assert n("classifier_cascade_texts_total", stage="second") == 2
    assert n("classifier_cascade_outcomes_total", outcome="lowered") == 1  # block -> allow
    assert n("classifier_cascade_outcomes_total", outcome="raised") == 1  # allow -> block
    assert n("classifier_cascade_outcomes_total", outcome="upheld") == 0


async def test_a_slow_second_stage_stops_at_the_budget_and_fails() -> None:
    second = Scripted("guard", {}, delay_s=5.0)
    started = time.monotonic()
    out = await refine(cascade(second), policy(budget_ms=50), ["unsure", "clean"])
    assert time.monotonic() - started < 2.0  # the budget, not the guard's 5 s
    assert out.failed and out.scores[0] == {"A1.04": 0.55}  # first-stage scores kept
    assert [(f.category, f.second) for f in out.facts] == [("A1.04", None)]


async def test_an_unavailable_second_stage_fails_the_same_way() -> None:
    class Down(Scripted):
        async def classify(self, texts: Sequence[str], direction: str | None = None, *,
                           normalized: Sequence[str] | None = None) -> list[Scores]:  # fmt: skip
            raise ClassifierUnavailable("down")

    out = await refine(cascade(Down("guard", {})), policy(), ["unsure"])
    assert out.failed


@pytest.mark.parametrize(
    "change",
    [
        {"enabled": False},
        {"directions": ["output"]},
        {"bands": {"A1.06": {"low": 0.3, "high": 0.9}}},
    ],
)
async def test_nothing_escalates_when_the_cascade_does_not_apply(change: dict[str, Any]) -> None:
    second = Scripted("guard", {})
    out = await refine(cascade(second), policy(**change), ["unsure"])
    assert second.seen == [] and out.scores == [{"A1.04": 0.55}] and not out.failed


async def test_a_default_band_covers_every_other_code() -> None:
    second = Scripted("guard", {})
    p = policy(bands={}, default_band={"low": 0.5, "high": 0.8})
    await refine(cascade(second), p, ["unsure", "low", "sure"])
    assert second.seen == [["unsure", "low"]]  # A1.04 0.55 and A1.06 0.7 are inside


@pytest.mark.parametrize(
    ("cascade_spec", "message"),
    [
        ({"enabled": True}, "needs `bands` or a `default_band`"),
        ({"bands": {"A9.99": {"low": 0.1, "high": 0.2}}}, "unknown taxonomy code"),
        ({"bands": {"A1.04": {"low": 0.6, "high": 0.6}}}, "low (0.6) must be below high"),
        ({"budget_ms": 5}, "greater than or equal to 10"),
        ({"bogus": 1}, "Extra inputs are not permitted"),
    ],
)
def test_cascade_policies_are_validated(cascade_spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Policy.model_validate({"cascade": cascade_spec})


def test_the_shipped_policy_documents_the_cascade_off() -> None:
    from tests.support.paths import SHIPPED_POLICY

    text = SHIPPED_POLICY.read_text("utf-8")
    assert "cascade:" in text
    assert Policy.model_validate(yaml.safe_load(text)).cascade.enabled is False


# --- the whole gateway ------------------------------------------------------------------------

# First stage (TEI): probabilities for neutral, terrorism, porn.
ENCODER = {"边界的问题": [0.45, 0.55, 0.0], "可疑的问题": [0.6, 0.4, 0.0],
           "明显的问题": [0.05, 0.95, 0.0]}  # fmt: skip
UNSAFE_FOR_GUARD = {"可疑的问题", "明显的问题"}


def encoder(text: str) -> list[float]:
    return ENCODER.get(text, [0.98, 0.01, 0.01])


def guard(text: str, role: str) -> str:
    if text in UNSAFE_FOR_GUARD:
        return "Safety: Unsafe\nCategories: Violent"
    return "Safety: Safe\nCategories: None"


@pytest.fixture(scope="module")
def engines() -> Iterator[tuple[MockEngine, MockEngine, str, str]]:
    tei = MockEngine("tei", model="org/zh-encoder", judge=encoder)
    vllm = MockEngine("openai", model="Qwen/Qwen3Guard-Gen-4B", guard=guard)
    servers = [ServerThread(tei).start(), ServerThread(vllm).start()]
    yield tei, vllm, servers[0].url, servers[1].url
    for s in servers:
        s.stop()


def _gateway(
    factory: GatewayFactory, write_policy: Callable[[str], Path], urls: tuple[str, str],
    tmp_path: Path, fail_mode: str = "closed", budget_ms: int = 2000,
) -> Gateway:  # fmt: skip
    (tmp_path / "tei.json").write_text('{"neutral": null, "terrorism": "A1.04", "porn": "A1.06"}')
    (tmp_path / "guard.json").write_text('{"Violent": "A1.04"}')
    path = write_policy(
        'lexicon: {files: ["lexicon/*.csv"]}\n'
        f"fail_mode: {fail_mode}\n"
        "categories:\n  A1.04: {input: {action: block, threshold: 0.5}}\n"
        f"cascade:\n  enabled: true\n  budget_ms: {budget_ms}\n"
        "  bands: {A1.04: {low: 0.3, high: 0.9}}\n"
    )
    return factory(
        policy=path,
        classifier=f"tei+{urls[0]}?label_map={tmp_path / 'tei.json'}",
        classifier_second=f"vllm+{urls[1]}/v1?label_map={tmp_path / 'guard.json'}",
        classifier_cache_size=0,
    )


def _ask(gw: Gateway, text: str) -> Any:
    return gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": text}],
        moderation={"model": "x"}, extra_body={"mock_reply": "好的。"},
    )  # fmt: skip


def test_the_gateway_escalates_a_band_and_the_guard_decides(
    gateway_factory: GatewayFactory, write_policy: Callable[[str], Path], tmp_path: Path,
    engines: tuple[MockEngine, MockEngine, str, str],
) -> None:  # fmt: skip
    _tei, vllm, tei_url, vllm_url = engines
    gw = _gateway(gateway_factory, write_policy, (tei_url, vllm_url), tmp_path)
    asked_before = len(vllm.calls)

    lowered = _ask(gw, "边界的问题")  # first stage 0.55 >= 0.5 would block; the guard says safe
    assert lowered.choices[0].finish_reason != "content_filter"
    [res] = lowered.moderation.input.results
    assert res.category_scores["A1.04"] == 0.0
    [note] = [r for r in res.model_extra["reasons"] if r["kind"] == "cascade"]
    assert note["category"] == "A1.04" and note["action"] == "allow"
    assert note["detail"] == (
        "escalated: org/zh-encoder@0123abcd 0.550 -> Qwen/Qwen3Guard-Gen-4B 0.000"
    )

    raised = _ask(gw, "可疑的问题")  # 0.4 would pass; the guard says unsafe
    assert raised.choices[0].finish_reason == "content_filter"
    assert raised.moderation.input.results[0].categories["A1.04"] is True

    sure = _ask(gw, "明显的问题")  # 0.95 is above the band: the first stage decides alone
    assert sure.choices[0].finish_reason == "content_filter"
    guard_texts = [c["messages"][-1]["content"] for c in vllm.calls[asked_before:]]
    assert "边界的问题" in guard_texts and "可疑的问题" in guard_texts
    assert "明显的问题" not in guard_texts

    text = gw.http().get("/metrics").text
    assert 'classifier_cascade_outcomes_total{direction="input",outcome="lowered"} 1.0' in text
    assert 'classifier_cascade_outcomes_total{direction="input",outcome="raised"} 1.0' in text
    assert (
        'classifier_remote_requests_total{backend="openai_guard",outcome="ok",stage="second"}'
        in text
    )
    ready = gw.http().get("/readyz").json()
    assert ready["second_classifier"]["name"] == "Qwen/Qwen3Guard-Gen-4B"
    assert ready["second_classifier"]["stage"] == "second"


@pytest.mark.parametrize("fail_mode", ["closed", "open"])
def test_a_slow_guard_falls_back_to_the_fail_mode_within_the_budget(
    gateway_factory: GatewayFactory, write_policy: Callable[[str], Path], tmp_path: Path,
    engines: tuple[MockEngine, MockEngine, str, str], fail_mode: str,
) -> None:  # fmt: skip
    _tei, vllm, tei_url, vllm_url = engines
    gw = _gateway(gateway_factory, write_policy, (tei_url, vllm_url), tmp_path,
                  fail_mode=fail_mode, budget_ms=150)  # fmt: skip
    vllm.delay_ms = 5000
    try:
        started = time.monotonic()
        r = _ask(gw, "可疑的问题")  # in the band, first stage below the threshold
        elapsed = time.monotonic() - started
    finally:
        vllm.delay_ms = 0
    assert elapsed < 3.0, "the budget bounds the wait, not the guard's 5 s"
    [res] = r.moderation.input.results
    kinds = {x["kind"]: x for x in res.model_extra["reasons"]}
    assert kinds["cascade"]["detail"].endswith("no answer in time")
    if fail_mode == "closed":
        assert r.choices[0].finish_reason == "content_filter"
        assert kinds["unavailable"]["action"] == "block"
    else:
        assert r.choices[0].message.content == "好的。"
        assert kinds["unavailable"]["action"] == "flag"
        metrics = gw.http().get("/metrics").text
        assert 'gateway_fail_open_total{reason="classifier"} 1.0' in metrics
    assert (
        'classifier_cascade_outcomes_total{direction="input",outcome="unavailable"} 1.0'
        in gw.http().get("/metrics").text
    )


def test_gateway_eval_measures_the_policy_with_its_cascade(
    write_policy: Callable[[str], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    engines: tuple[MockEngine, MockEngine, str, str], capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from gateway.cli import main

    _, _, tei_url, vllm_url = engines
    (tmp_path / "tei.json").write_text('{"neutral": null, "terrorism": "A1.04", "porn": "A1.06"}')
    (tmp_path / "guard.json").write_text('{"Violent": "A1.04"}')
    policy_path = write_policy(
        'lexicon: {files: ["lexicon/*.csv"]}\n'
        "categories:\n  A1.04: {input: {action: block, threshold: 0.5}}\n"
        "cascade: {enabled: true, budget_ms: 2000, bands: {A1.04: {low: 0.3, high: 0.9}}}\n"
    )
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "边界的问题", "label": 0}\n{"text": "可疑的问题", "label": 1}\n')
    args = ["eval", "--data", str(data), "--mode", "classifier", "--policy", str(policy_path),
            "--classifier", f"tei+{tei_url}?label_map={tmp_path / 'tei.json'}"]  # fmt: skip

    assert main(args) == 0  # the first stage alone gets both wrong
    assert json.loads(capsys.readouterr().out)["confusion"] == {"tp": 0, "fp": 1, "tn": 0, "fn": 1}
    monkeypatch.setenv(
        "GATEWAY_CLASSIFIER_SECOND", f"vllm+{vllm_url}/v1?label_map={tmp_path / 'guard.json'}"
    )
    assert main(args) == 0  # the guard decides the band
    assert json.loads(capsys.readouterr().out)["confusion"] == {"tp": 1, "fp": 0, "tn": 1, "fn": 0}


async def test_the_consoles_try_it_runs_the_cascade_too(tmp_path: Path) -> None:
    from gateway.console.tryit import Evaluator
    from gateway.policy.compiled import load_policy_set

    path = tmp_path / "policy.yaml"
    path.write_text(
        yaml.safe_dump(policy().model_dump(mode="json", include={"categories", "cascade"}))
    )
    second = Scripted("guard", {"unsure": {"A1.04": 0.0}})
    evaluator = Evaluator(Scripted("enc", FIRST), second=second)
    decision = await evaluator.check(
        load_policy_set(path), "unsure", Direction.INPUT, "default", "zh"
    )
    assert second.seen == [["unsure"]]
    assert decision.action.value == "allow"
    assert [r.kind for r in decision.reasons] == ["cascade"]
