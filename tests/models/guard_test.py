"""Generative guard models: verdict parsers on real-format outputs, and the whole path."""

from __future__ import annotations

from pathlib import Path

import pytest

import models
from gateway.classifier import ClassifierUnavailable
from models import guard_parse as gp
from models.local import LocalClassifier
from tests.support.models import guard_dirs  # noqa: F401


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        ("safe", gp.Verdict("safe", ())),
        ("\n\nsafe", gp.Verdict("safe", ())),
        ("\n\nunsafe\nS1", gp.Verdict("unsafe", ("S1",))),
        ("unsafe\nS10,S11", gp.Verdict("unsafe", ("S10", "S11"))),
        ("unsafe\nS2, S2", gp.Verdict("unsafe", ("S2",))),
        ("unsafe", gp.Verdict("unsafe", ())),
        ("safe<|eot_id|>", gp.Verdict("safe", ())),
    ],
)
def test_llama_guard_outputs(output: str, verdict: gp.Verdict) -> None:
    assert gp.parse_llama_guard(output) == verdict


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        ("Safety: Safe\nCategories: None", gp.Verdict("safe", ())),
        ("Safety: Unsafe\nCategories: Violent", gp.Verdict("unsafe", ("Violent",))),
        (
            "Safety: Controversial\nCategories: Politically Sensitive Topics",
            gp.Verdict("controversial", ("Politically Sensitive Topics",)),
        ),
        (
            "Safety: Unsafe\nCategories: PII, Jailbreak\nRefusal: No",
            gp.Verdict("unsafe", ("PII", "Jailbreak")),
        ),
    ],
)
def test_qwen3guard_outputs(output: str, verdict: gp.Verdict) -> None:
    assert gp.parse_qwen3guard(output) == verdict


@pytest.mark.parametrize("output", ["", "I cannot help with that.", "Safety"])
def test_unparseable_outputs_are_errors(output: str) -> None:
    with pytest.raises(gp.GuardOutputError):
        gp.parse(output, "llama_guard")
    with pytest.raises(gp.GuardOutputError):
        gp.parse(output, "qwen3guard")


@pytest.mark.parametrize(
    ("verdict", "fmt", "scores"),
    [
        (gp.Verdict("safe", ()), "llama_guard", {}),
        (gp.Verdict("unsafe", ("S4",)), "llama_guard", {"X1": 1.0, "A1.06": 1.0}),
        (gp.Verdict("unsafe", ("S99",)), "llama_guard", {"A1.08": 1.0}),
        (gp.Verdict("unsafe", ()), "llama_guard", {"A1.08": 1.0}),
        (gp.Verdict("unsafe", ("Jailbreak", "PII")), "qwen3guard", {"X2": 1.0, "A4.06": 1.0}),
        (gp.Verdict("controversial", ("Violent",)), "qwen3guard", {"A1.06": 0.5}),
    ],
)
def test_verdicts_map_to_taxonomy_codes(
    verdict: gp.Verdict, fmt: gp.GuardFormat, scores: dict[str, float]
) -> None:
    assert gp.to_scores(verdict, fmt) == scores


def test_label_map_overrides_guard_categories() -> None:
    v = gp.Verdict("unsafe", ("S13",))
    assert gp.to_scores(v, "llama_guard", overrides={"S13": ("A1.02",)}) == {"A1.02": 1.0}


def load(path: Path, **options: object) -> LocalClassifier:
    clf = models.load_classifier(str(path), device="cpu", cache_size=0, **options)  # type: ignore[arg-type]
    assert isinstance(clf, LocalClassifier)
    return clf


async def test_whole_path_unsafe_verdict(guard_dirs: dict[str, Path]) -> None:  # noqa: F811
    clf = load(guard_dirs["unsafe"], max_new_tokens=4, max_wait_us=10_000)
    assert clf.info()["kind"] == "guard:llama_guard"
    long_text = "坏人做坏事。" * 120  # several windows, each its own prompt
    assert len(clf.adapter.encode(long_text)) > 1
    out = await clf.classify(["你好", long_text])
    assert out == [{"A1.08": 1.0}, {"A1.08": 1.0}]
    assert all(b in clf.adapter.shapes.batch_sizes for b, _ in clf.adapter.shapes_seen)
    await clf.aclose()


async def test_whole_path_safe_verdict(guard_dirs: dict[str, Path]) -> None:  # noqa: F811
    clf = load(guard_dirs["safe"], max_new_tokens=3)
    assert await clf.classify(["你好", "hello"]) == [{}, {}]
    await clf.aclose()


async def test_garbage_output_fails_that_text_not_silently_safe(
    guard_dirs: dict[str, Path],  # noqa: F811
) -> None:
    clf = load(guard_dirs["random"], max_new_tokens=4)
    with pytest.raises(ClassifierUnavailable, match="verdict"):
        await clf.classify(["你好"])
    await clf.aclose()


def test_prompt_uses_the_chat_template(guard_dirs: dict[str, Path]) -> None:  # noqa: F811
    clf = load(guard_dirs["safe"])
    [row] = clf.adapter.encode("你好")
    tok = clf.adapter._tokenizer  # type: ignore[attr-defined]
    assert tok.decode(row) == "[USER] 你 好 [ASSISTANT]"
