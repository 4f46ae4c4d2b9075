"""Classifiers on serving engines (models/serving), each against a scripted server that
speaks its protocol (loadtest/mock_engines.py), over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import models
from gateway.classifier import ClassifierUnavailable, HealthReporting
from gateway.metrics import Metrics
from loadtest.mock_engines import MockEngine
from models.serving import ServedClassifier
from models.serving.spec import SpecError, parse_spec
from tests.support.servers import ServerThread, free_port

TERROR_MAP = {"terrorism": "A1.04", "porn": ["A1.06"], "neutral": None}


@pytest.fixture
def label_map(tmp_path: Path) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(TERROR_MAP), "utf-8")
    return path


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[ServerThread] = []

    def start(engine: MockEngine) -> str:
        server = ServerThread(engine).start()
        started.append(server)
        return server.url

    yield start
    for s in started:
        s.stop()


def load(spec: str, **kw: Any) -> ServedClassifier:
    clf = models.load_classifier(spec, **kw)
    assert isinstance(clf, ServedClassifier)
    return clf


# --- specs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "backend", "url", "options"),
    [
        ("http://gw:8080", "gateway", "http://gw:8080", {}),
        ("vllm+http://guard:8000/v1?model=qg", "openai_guard", "http://guard:8000/v1", {"model": "qg"}),
        ("sglang+https://g/v1", "openai_guard", "https://g/v1", {}),
        ("openai-guard+http://g:1/v1?format=llama_guard", "openai_guard", "http://g:1/v1",
         {"format": "llama_guard"}),
        ("tei+http://tei:80?scores=sigmoid", "tei", "http://tei:80", {"scores": "sigmoid"}),
        ("vllm-classify+http://v:8000?labels=a,b", "vllm_classify", "http://v:8000", {"labels": "a,b"}),
        ("triton+http://t:8000/v2/models/m", "kserve", "http://t:8000/v2/models/m", {}),
        ("/models/zh", None, None, None),
        ("org/model", None, None, None),
    ],
)  # fmt: skip
def test_specs_name_backend_url_and_options(
    spec: str, backend: str | None, url: str | None, options: dict[str, str] | None
) -> None:
    parsed = parse_spec(spec)
    if backend is None:
        assert parsed is None
        return
    assert parsed is not None
    assert (parsed.backend, parsed.url, parsed.options) == (backend, url, options)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("onnx+http://h", "unknown scheme 'onnx'"),
        ("tei+http://h?model=x", "unknown option(s) model for tei"),
        ("tei+http://h?max_batch=1&max_batch=2", "option 'max_batch' given twice"),
        ("kserve+http://h:1/v2/models/m?max_batch=0", "max_batch='0'"),
        ("tei+http://h?scores=relu", "scores='relu'"),
        ("kserve+http://h/predict", "names the model"),
        ("vllm-classify+http://h?labels=safe,toxic", "label 'toxic'"),
    ],
)
def test_bad_specs_are_errors_that_say_why(spec: str, message: str) -> None:
    with pytest.raises((SpecError, ValueError)) as err:
        models.load_classifier(spec)
    assert message in str(err.value)


def test_credentials_never_reach_info(serve: Any) -> None:
    clf = load("tei+http://user:secret@127.0.0.1:9/")
    assert "secret" not in json.dumps(clf.info())


# --- OpenAI-compatible chat guard (vLLM, SGLang) -------------------------------------------


async def test_guard_verdicts_become_taxonomy_codes(serve: Any) -> None:
    engine = MockEngine("openai", model="Qwen/Qwen3Guard-Gen-4B")
    url = serve(engine)
    clf = load(f"vllm+{url}/v1")
    out = await clf.classify(["你好", "教我做炸弹"], direction="input")
    assert out == [{}, {"A1.06": 1.0}]  # Violent -> A1.06 (models/guard_parse.py)
    assert clf.info()["name"] == "Qwen/Qwen3Guard-Gen-4B" and clf.info()["format"] == "qwen3guard"
    assert len(engine.calls) == 2, "one conversation per call"
    call = engine.calls[0]
    assert call["model"] == "Qwen/Qwen3Guard-Gen-4B" and call["temperature"] == 0
    assert call["messages"] == [{"role": "user", "content": "你好"}]
    await clf.aclose()


async def test_answers_are_judged_as_the_assistant_turn(serve: Any) -> None:
    seen: list[tuple[str, str]] = []

    def guard(text: str, role: str) -> str:
        seen.append((text, role))
        return "unsafe\nS1,S10" if role == "assistant" else "safe"

    url = serve(MockEngine("openai", model="meta-llama/Llama-Guard-3-8B", guard=guard))
    clf = load(f"openai-guard+{url}")  # /v1 is added
    assert await clf.classify(["答案"], direction="output") == [{"A1.06": 1.0, "A2.09": 1.0}]
    assert await clf.classify(["答案"], direction="input") == [{}]  # not the cached answer
    assert seen == [("答案", "assistant"), ("答案", "user")]
    await clf.aclose()


async def test_label_map_overrides_guard_categories(serve: Any, tmp_path: Path) -> None:
    (tmp_path / "g.json").write_text(json.dumps({"Violent": "A1.04"}), "utf-8")
    url = serve(MockEngine("openai", model="qwen3guard"))
    clf = load(f"vllm+{url}/v1?label_map={tmp_path / 'g.json'}")
    assert await clf.classify(["bomb"]) == [{"A1.04": 1.0}]
    await clf.aclose()


async def test_an_answer_the_parser_cannot_read_fails_only_that_text(serve: Any) -> None:
    def guard(text: str, role: str) -> str:
        return "I'm sorry, I can't help." if text == "odd" else "Safety: Safe\nCategories: None"

    url = serve(MockEngine("openai", model="qwen3guard", guard=guard))
    clf = load(f"vllm+{url}/v1")
    with pytest.raises(ClassifierUnavailable, match="not understood"):
        await clf.classify(["fine", "odd"])
    assert await clf.classify(["fine"]) == [{}]
    await clf.aclose()


async def test_the_guard_model_must_be_named_when_the_server_has_several(serve: Any) -> None:
    url = serve(MockEngine("openai", models=("guard-a", "guard-b")))
    clf = load(f"vllm+{url}/v1")
    with pytest.raises(ClassifierUnavailable, match="name the guard with"):
        await clf.classify(["x"])
    assert (await clf.health())["status"] == "down"
    named = load(f"vllm+{url}/v1?model=guard-b&format=qwen3guard")
    assert await named.classify(["x"]) == [{}]
    await clf.aclose()
    await named.aclose()


async def test_long_texts_are_judged_in_overlapping_slices(serve: Any) -> None:
    engine = MockEngine("openai", model="qwen3guard")
    url = serve(engine)
    clf = load(f"vllm+{url}/v1?window_chars=100&window_overlap=10")
    text = "".join(f"{i:03d}" for i in range(134)) + "炸弹"  # a truncating client misses it
    assert await clf.classify([text]) == [{"A1.06": 1.0}]
    sent = [c["messages"][-1]["content"] for c in engine.calls]
    assert max(len(s) for s in sent) == 100 and len(sent) == 5
    assert "".join(s[10:] if i else s for i, s in enumerate(sent)) == text
    await clf.aclose()


# --- text-embeddings-inference --------------------------------------------------------------


async def test_tei_batches_concurrent_texts_within_the_servers_limit(
    serve: Any, label_map: Path
) -> None:
    engine = MockEngine("tei", model="org/zh-encoder", max_client_batch_size=4, delay_ms=30)
    url = serve(engine)
    clf = load(f"tei+{url}?label_map={label_map}&max_inflight=1")
    texts = [f"文本{i}" for i in range(9)] + ["怎么做炸弹"]
    results = await asyncio.gather(*(clf.classify([t]) for t in texts))
    assert results[-1][0] == pytest.approx({"A1.04": 0.9, "A1.06": 0.05})
    assert results[0][0] == pytest.approx({"A1.04": 0.02, "A1.06": 0.02})
    sizes = [len(c["inputs"]) for c in engine.calls]
    assert sum(sizes) == 10 and max(sizes) == 4 and len(sizes) < 10  # coalesced, bounded
    assert all(all(isinstance(x, list) and len(x) == 1 for x in c["inputs"]) for c in engine.calls)
    assert engine.calls[0]["truncate"] is True and engine.calls[0]["raw_scores"] is False
    assert clf.info()["name"] == "org/zh-encoder" and clf.info()["max_batch"] == "4"
    await clf.aclose()


async def test_tei_sigmoid_mode_asks_for_raw_scores(serve: Any, label_map: Path) -> None:
    engine = MockEngine("tei")
    url = serve(engine)
    clf = load(f"tei+{url}?label_map={label_map}&scores=sigmoid")
    [scores] = await clf.classify(["bomb"])
    assert engine.calls[0]["raw_scores"] is True
    assert scores["A1.04"] == pytest.approx(0.9 / 1.9)  # sigmoid(log 0.9)
    await clf.aclose()


async def test_tei_labels_without_a_code_are_refused_before_any_text(serve: Any) -> None:
    engine = MockEngine("tei")
    url = serve(engine)
    clf = load(f"tei+{url}")  # terrorism, porn have no code and no label map
    with pytest.raises(ClassifierUnavailable, match="label 'terrorism'"):
        await clf.classify(["x"])
    assert engine.calls == []
    await clf.aclose()


async def test_blank_and_repeated_texts_are_not_sent_twice(serve: Any, label_map: Path) -> None:
    engine = MockEngine("tei")
    url = serve(engine)
    clf = load(f"tei+{url}?label_map={label_map}")
    out = await clf.classify(["", "  ", "你好", "你好"])
    assert out[0] == out[1] == {} and out[2] == out[3]
    assert engine.calls == [{"inputs": [["你好"]], "truncate": True, "raw_scores": False}]
    await clf.aclose()


# --- vLLM /classify -------------------------------------------------------------------------


async def test_vllm_classify_maps_probability_columns(serve: Any, label_map: Path) -> None:
    engine = MockEngine("vllm", model="org/cls", max_input_length=64)
    url = serve(engine)
    clf = load(f"vllm-classify+{url}?labels=neutral,terrorism,porn&label_map={label_map}")
    out = await clf.classify(["色情小说", "你好"])
    assert out[0] == pytest.approx({"A1.04": 0.1, "A1.06": 0.8})
    assert engine.calls == [{"model": "org/cls", "input": ["色情小说", "你好"]}]
    assert clf.backend.window_chars == 64  # max_model_len from /v1/models
    await clf.aclose()


async def test_vllm_columns_can_be_mapped_by_index(serve: Any, tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(json.dumps({"0": None, "1": "A1.04", "2": "A1.06"}))
    url = serve(MockEngine("vllm"))
    clf = load(f"vllm-classify+{url}?label_map={tmp_path / 'm.json'}")
    assert (await clf.classify(["bomb"]))[0] == pytest.approx({"A1.04": 0.9, "A1.06": 0.05})
    await clf.aclose()


# --- KServe v2 / Triton ---------------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2])
async def test_kserve_sends_a_bytes_tensor_shaped_as_the_metadata_says(
    serve: Any, label_map: Path, rank: int
) -> None:
    engine = MockEngine("kserve", model="zh-guard", input_rank=rank)
    url = serve(engine)
    clf = load(
        f"kserve+{url}/v2/models/zh-guard?labels=neutral,terrorism,porn&label_map={label_map}"
    )
    out = await clf.classify(["炸弹", "你好", "porn"])
    assert [max(s, key=s.__getitem__) for s in out] == ["A1.04", "A1.04", "A1.06"]
    assert out[0]["A1.04"] == pytest.approx(0.9) and out[1]["A1.04"] == pytest.approx(0.02)
    [tensor] = engine.calls[0]["inputs"]
    assert tensor["shape"] == ([3, 1] if rank == 2 else [3]) and tensor["datatype"] == "BYTES"
    assert clf.info()["version"] == "3"
    assert (await clf.health())["status"] == "ok"
    await clf.aclose()


# --- failures, limits, health, metrics -------------------------------------------------------


async def test_failures_are_unavailable_and_counted(serve: Any, label_map: Path) -> None:
    engine = MockEngine("tei")
    url = serve(engine)
    metrics = Metrics(CollectorRegistry())
    clf = load(f"tei+{url}?label_map={label_map}", metrics=metrics, total_timeout_s=0.3)
    assert len(await clf.classify(["a"])) == 1
    engine.status = 500
    with pytest.raises(ClassifierUnavailable, match="HTTP 500"):
        await clf.classify(["b"])
    engine.status, engine.delay_ms = None, 2000
    with pytest.raises(ClassifierUnavailable):
        await clf.classify(["c"])

    def count(outcome: str) -> float:
        v = metrics.registry.get_sample_value(
            "classifier_remote_requests_total",
            {"backend": "tei", "stage": "primary", "outcome": outcome},
        )
        return v or 0.0

    assert (count("ok"), count("status_5xx")) == (1.0, 1.0)
    assert metrics.registry.get_sample_value(
        "classifier_remote_batch_texts_count", {"backend": "tei", "stage": "primary"}
    ) >= 2  # fmt: skip
    await clf.aclose()


async def test_a_full_queue_refuses_at_once(serve: Any, label_map: Path) -> None:
    url = serve(MockEngine("tei", delay_ms=300))
    clf = load(f"tei+{url}?label_map={label_map}&max_queue=2&max_inflight=1&max_batch=1")
    first = asyncio.ensure_future(clf.classify(["a"]))
    await asyncio.sleep(0.1)  # "a" is in flight; the queue is empty again
    with pytest.raises(ClassifierUnavailable, match="queue full"):
        await clf.classify(["b", "c", "d"])
    assert len(await first) == 1
    await clf.aclose()


async def test_a_caller_that_gives_up_leaves_others_their_result(
    serve: Any, label_map: Path
) -> None:
    engine = MockEngine("tei", delay_ms=200)
    url = serve(engine)
    clf = load(f"tei+{url}?label_map={label_map}")
    patient = asyncio.ensure_future(clf.classify(["同一句话"]))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await clf.classify(["同一句话"])
    assert len(await patient) == 1
    assert len(engine.calls) == 1, "the shared text was computed once"
    await clf.aclose()


async def test_verdicts_are_cached(serve: Any, label_map: Path) -> None:
    engine = MockEngine("tei")
    url = serve(engine)
    clf = load(f"tei+{url}?label_map={label_map}", cache_size=100)
    first = await clf.classify(["缓存"])
    assert await clf.classify(["缓存"]) == first
    assert len(engine.calls) == 1
    await clf.aclose()


async def test_health_follows_the_engine(serve: Any, label_map: Path) -> None:
    engine = MockEngine("tei")
    url = serve(engine)
    clf = load(f"tei+{url}?label_map={label_map}")
    assert isinstance(clf, HealthReporting)
    assert await clf.health() == {"status": "ok"}
    engine.down = True
    clf._health = None  # the two-second memory, skipped for the test
    health = await clf.health()
    assert health["status"] == "down" and "503" in health["detail"]
    await clf.aclose()


async def test_an_unreachable_engine_is_unavailable_and_down() -> None:
    clf = load(f"tei+http://127.0.0.1:{free_port()}", connect_timeout_s=0.2)
    with pytest.raises(ClassifierUnavailable, match="unreachable"):
        await clf.classify(["x"])
    assert (await clf.health())["status"] == "down"
    await clf.aclose()


def test_a_late_failure_after_every_caller_left_is_not_left_unread() -> None:
    import gc

    from models.serving.batching import CallBatcher

    async def call(texts: list[str]) -> list[Any]:
        await asyncio.sleep(0.2)
        raise ClassifierUnavailable("late failure")

    async def scenario() -> None:
        batcher = CallBatcher(call)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):  # a cascade's budget running out
                await batcher.run(["x"])
        await asyncio.sleep(0.4)  # the call fails after its only caller left
        await batcher.aclose()

    unread: list[dict[str, Any]] = []
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _, ctx: unread.append(ctx))
    loop.run_until_complete(scenario())
    gc.collect()  # an unread exception is reported when its future is collected
    loop.close()
    assert [c["message"] for c in unread] == []
