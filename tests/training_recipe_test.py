"""The training recipe end to end on a tiny slice of the shared data, plus its pure parts."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from gateway.policy.loader import load_policy
from gateway.taxonomy import is_code
from models.training import cli, labels, splits
from models.training.example import Example, dedup_key, with_direction
from models.training.paths import shared_datasets
from models.training.perturb import Perturber
from tests.paths import TEST_POLICIES

DATA = shared_datasets()


# A few dozen rows per source, a 1-layer width-32 model, one epoch: seconds, not minutes.
TINY = "--limit 60 --layers 1 --hidden 32 --epochs 1 --min-support 3 --seed 1 --max-minutes 2"


POLICIES = TEST_POLICIES


def _train(out: Path, *extra: str) -> None:
    assert cli.main(["--data-dir", str(DATA), "--out", str(out), *TINY.split(), *extra]) == 0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny_model")
    policies = tmp_path_factory.mktemp("policies")
    shutil.copytree(POLICIES, policies, dirs_exist_ok=True)
    _train(out, "--policy", str(policies / "policy.yaml"))
    return out


def test_thresholds_reach_the_policy_and_the_pipeline_is_evaluated(tiny_model: Path) -> None:
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    policy = load_policy(Path(metrics["pipeline_policy"])).policy
    for code, t in metrics["thresholds"].items():
        rules = policy.categories[code]
        assert rules.input is not None and rules.output is not None
        assert rules.input.threshold == t and rules.output.threshold == t, code
    sets = metrics["pipeline"]
    assert {"cold_dev", "test", "benign_prompts", "robustness/original"} <= set(sets)
    assert {f"robustness/{v}" for v in ("homophone", "pinyin", "traditional")} <= set(sets)
    for by_mode in sets.values():
        assert set(by_mode) == {"keywords", "classifier", "full"}
        assert len({v["n"] for v in by_mode.values()}) == 1
    assert sets["benign_prompts"]["full"]["n"] >= 50  # the held-out bank at least
    # The keyword lexicon knows COLD's slurs poorly, so the model adds recall on top of it.
    assert "keywords only / model only / both" in (tiny_model / "README.md").read_text()


def test_recipe_writes_a_loadable_model_directory(tiny_model: Path) -> None:
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.txt",
        "thresholds.json",
        "metrics.json",
        "README.md",
    ):
        assert (tiny_model / name).is_file(), name
    tok = AutoTokenizer.from_pretrained(tiny_model)  # type: ignore[no-untyped-call]
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model)
    assert model.config.problem_type == "multi_label_classification"
    codes = list(model.config.id2label.values())
    assert codes and all(is_code(c) for c in codes)
    batch = tok(["[IN] 你好", "[OUT] 好的"], return_tensors="pt", padding=True)
    assert batch["input_ids"][0, 1].item() == tok.convert_tokens_to_ids("[IN]")
    assert model(**batch).logits.shape == (2, len(codes))


def test_thresholds_and_metrics_cover_every_label(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    thresholds = json.loads((tiny_model / "thresholds.json").read_text())
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    assert set(thresholds) == set(config["id2label"].values())
    assert all(0.0 < t < 1.0 for t in thresholds.values())
    assert metrics["cold_dev"]["n"] > 0
    assert set(metrics["robustness"]) == {
        "original",
        "homophone",
        "pinyin",
        "traditional",
        "symbols",
        "emoji",
    }
    assert metrics["speed_cpu_batch32_128chars"]["fp32_texts_per_s"] > 0
    assert "Label mapping" in (tiny_model / "README.md").read_text()


def test_same_seed_gives_same_weights(tiny_model: Path, tmp_path: Path) -> None:
    _train(tmp_path)
    again = (tmp_path / "model.safetensors").read_bytes()
    assert again == (tiny_model / "model.safetensors").read_bytes()


def _ex(
    text: str, codes: set[str], group: str, split: str | None = None, direction: str = "in"
) -> Example:
    return Example(text, direction, frozenset(codes), "t", group, split)  # type: ignore[arg-type]


def test_dedup_merges_codes_and_positive_wins() -> None:
    rows = splits.dedup(
        [
            _ex("你好，世界！", set(), "a"),
            _ex("你好 世界", {"A2.05"}, "b"),
            _ex("你好世界", {"A2.01"}, "c"),
        ]
    )
    assert len(rows) == 1 and rows[0].codes == {"A2.05", "A2.01"}


def test_split_keeps_groups_together_and_does_not_leak() -> None:
    rows = [_ex(f"第{i}个问题的包装{j}", {"X2"}, f"g{i}") for i in range(200) for j in range(3)]
    rows.append(_ex("已在开发集", {"A2.04"}, "dev", "cold_dev"))
    rows.append(_ex("已在开发集", {"A2.04"}, "other"))
    out = splits.build(rows, seed=3)
    by_group: dict[str, set[str | None]] = {}
    for r in out:
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in by_group.values())
    assert {r.split for r in out} >= {"train", "val", "test", "cold_dev"}
    assert [r.split for r in out if r.text == "已在开发集"] == ["cold_dev"]


def test_check_no_leak_raises() -> None:
    with pytest.raises(ValueError, match="held-out"):
        splits.check_no_leak(
            [_ex("同一句话", set(), "a", "train"), _ex("同一句话。", set(), "b", "test")]
        )


@pytest.mark.parametrize(
    ("top", "sub", "want"),
    [
        ("歧视偏见", "地域歧视内容", {"A2.04"}),
        ("侵犯权益", "侵害他人隐私权|侵害他人个人信息权益", {"A4.05", "A4.06"}),
        ("违法犯罪", "贩卖毒品", {"A1.08"}),
        ("侵害权益", "其他", {"A4.07"}),
        ("歧视偏见", "未知子类", {"A2.09"}),
    ],
)
def test_jade_mapping(top: str, sub: str, want: set[str]) -> None:
    assert labels.jade_codes(top, sub) == want


def test_every_mapped_code_is_a_taxonomy_code() -> None:
    targets = [
        *labels.COLD_TOPIC.values(),
        labels.SWSR_SEXIST,
        labels.JAILBREAK,
        *labels.JADE_SUB.values(),
    ]
    targets += [c for c in labels.JAILBENCH_SUB.values() if c] + [
        c for v in labels.MULTIJAIL_TAG.values() for c in v
    ]
    assert all(is_code(c) for c in targets)
    assert labels.multijail_codes("['Weapons', 'Self-harm']") == {"A1.08", "A4.01"}


def test_perturbations_are_seeded_and_change_text() -> None:
    p = Perturber("你好世界傻瓜沙瓜这是一个句子", rate=0.5)
    text = "这是一个傻瓜句子"
    for name, fn in p.variants.items():
        a, b = fn(text, random.Random(7)), fn(text, random.Random(7))
        assert a == b, name
        assert a != text, name


def test_dedup_key_and_direction_marker() -> None:
    assert dedup_key("Ｈｅｌｌｏ，  世界!") == dedup_key("hello世界")
    assert with_direction("x", "out") == "[OUT] x"
    assert with_direction("X", None) == "x"
    assert with_direction("炸 彈", "in") == "[IN] 炸弹"  # normalized as the gateway does
