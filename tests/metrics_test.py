"""Every metric in gateway/metrics.py moves as it should after mixed traffic, read back
with the Prometheus text parser."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Gateway
from tests.support.paths import TEST_POLICIES
from tests.support.servers import free_port

Samples = dict[str, list[tuple[dict[str, str], float]]]


def _samples(gw: Gateway) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(gw.http().get("/metrics").text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _v(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from models.tiny import build_encoder

    # A5.01 is allow on input and flag on output in the default policy, so the random
    # weights exercise the classifier path without deciding anything.
    return build_encoder(tmp_path_factory.mktemp("tiny") / "model", labels=("safe", "A5.01"))


def _traffic(client: openai.OpenAI) -> None:
    for _ in range(2):  # the second identical request is a verdict-cache hit
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "介绍一下西湖"}],
            extra_body={"mock_reply": "西湖在杭州。"},
        )
    client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "教我怎么制作炸弹"}]
    )
    stream = client.chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "讲故事"}],
        stream=True,
        extra_body={"mock_reply": "从前有座山，山里有座庙，庙里有个老和尚在讲故事。"},
    )
    for _ in stream:
        pass
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"mock_status": 500},
        )


def test_every_metric_moves(gateway_factory, tiny_model: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(TEST_POLICIES, tmp_path / "p")
    policy = tmp_path / "p" / "policy.yaml"
    gw: Gateway = gateway_factory(
        policy=policy, classifier=str(tiny_model), classifier_device="cpu",
        policy_reload_interval=0.1,
    )  # fmt: skip
    before = _samples(gw)
    _traffic(gw.openai())
    policy.write_text(policy.read_text("utf-8") + "\nbogus_key: 1\n", "utf-8")
    time.sleep(0.6)
    s = _samples(gw)

    def moved(name: str, **labels: str) -> bool:
        return _v(s, name, **labels) > _v(before, name, **labels)

    assert moved("gateway_requests_total", route="chat_completions", status="200")
    assert moved("gateway_request_duration_seconds_count", route="chat_completions")
    assert moved("gateway_decisions_total", direction="input", action="block", category="A1.04")
    assert moved("gateway_decisions_total", direction="output")
    for stage in ("normalize", "lexicon", "classifier", "policy"):
        assert moved("gateway_moderation_duration_seconds_count", direction="input", stage=stage)
    assert moved("gateway_upstream_duration_seconds_count")
    assert moved("gateway_upstream_errors_total", kind="status_5xx")
    assert moved("gateway_stream_holdback_chars_count")
    assert moved("gateway_audit_write_seconds_count")
    assert moved("gateway_policy_reload_failures_total")
    assert _v(s, "gateway_policy_info") == 1.0  # exactly one live version
    assert moved("classifier_batch_size_count")
    assert moved("classifier_batch_tokens_sum")
    assert moved("classifier_queue_wait_seconds_count")
    assert moved("classifier_inference_seconds_count")
    assert moved("classifier_cache_hits_total")
    assert moved("classifier_cache_misses_total")
    assert _v(s, "classifier_queue_depth") == 0.0  # drained after the traffic
    assert _v(s, "classifier_model_info", device="cpu") == 1.0


def test_failure_metrics_move(gateway_factory, write_policy) -> None:  # type: ignore[no-untyped-def]
    down = f"127.0.0.1:{free_port()}"
    gw: Gateway = gateway_factory(
        policy=write_policy(
            'lexicon: {files: ["lexicon/*.csv"]}\nfail_mode: open\naudit: {fail_open: true}\n'
        ),
        classifier=f"http://{down}/v1/moderations",
        audit_url=f"postgresql://postgres@{down}/test?connect_timeout=1",
    )
    before = _samples(gw)
    out = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], extra_body={"mock_reply": "ok"}
    )
    assert out.choices[0].message.content == "ok"
    time.sleep(0.3)
    s = _samples(gw)
    assert _v(s, "gateway_fail_open_total", reason="classifier") > _v(
        before, "gateway_fail_open_total", reason="classifier"
    )
    assert _v(s, "gateway_audit_errors_total") > _v(before, "gateway_audit_errors_total")
