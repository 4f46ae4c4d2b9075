"""The training recipe end to end on a tiny slice of the shared data, plus its pure parts."""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

import pytest

from gateway.policy.loader import load_policy
from gateway.taxonomy import is_code
from models.training import cli, labels, splits
from models.training.example import Example, dedup_key, with_direction
from models.training.paths import shared_datasets
from models.training.perturb import Perturber
from tests.support.paths import TEST_POLICIES

DATA = shared_datasets()


# A few dozen rows per source, a small n-gram model, one epoch: seconds, not minutes.
TINY = (
    "--limit 60 --dim 8 --ngram-hidden 16 --buckets 4096 --ngram-epochs 1 --min-support 3 "
    "--seed 1 --max-minutes 2"
)
# The character transformer: 1 layer of width 32, a fraction of an epoch.
TINY_ENCODER = (
    "--limit 30 --layers 1 --hidden 32 --epochs 0.3 --min-support 3 --seed 1 --max-minutes 2"
)


POLICIES = TEST_POLICIES


def _train(out: Path, *extra: str, args: str = TINY) -> None:
    assert cli.main(["--data-dir", str(DATA), "--out", str(out), *args.split(), *extra]) == 0


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
    th = metrics["thresholds"]
    assert set(th["input"]) == set(th["output"]) == set(metrics["labels"])
    for code in metrics["labels"]:
        rules = policy.categories[code]
        assert rules.input is not None and rules.output is not None
        assert rules.input.threshold == th["input"][code], code
        assert rules.output.threshold == th["output"][code], code
    sets = metrics["pipeline"]
    assert {"test", "benign_prompts", "robustness/original"} <= set(sets)
    assert {f"robustness/{v}" for v in ("homophone", "pinyin", "traditional")} <= set(sets)
    for by_mode in sets.values():
        assert set(by_mode) == {"keywords", "classifier", "full"}
        assert len({v["n"] for v in by_mode.values()}) == 1
    assert sets["benign_prompts"]["full"]["n"] >= 50  # the held-out bank at least
    assert "keywords only / model only / both" in (tiny_model / "README.md").read_text()


async def test_recipe_writes_a_loadable_model_directory(tiny_model: Path) -> None:
    import models

    for name in ("config.json", "model.safetensors", "pinyin.txt", "thresholds.json",
                 "metrics.json", "README.md"):  # fmt: skip
        assert (tiny_model / name).is_file(), name
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["model_type"] == "char_ngram"
    assert config["features"]["word_orders"] == [1, 2]  # the recipe's default features
    codes = list(config["id2label"].values())
    assert codes and all(is_code(c) for c in codes)
    clf = models.load_classifier(str(tiny_model), device="cpu", cache_size=0)
    assert clf.info()["kind"] == "ngram"
    [scores] = await clf.classify(["你好"], direction="input")
    assert set(scores) == set(codes)
    await clf.aclose()


@pytest.mark.parametrize("bad", ["0", "2,1", "1,1", "a", "1,-2"])
def test_word_orders_must_be_distinct_ascending_positive(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--word-orders", bad, "--card-only"])
    assert "--word-orders" in capsys.readouterr().err


def test_no_word_orders_is_allowed() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert parser.parse_args(["--word-orders", ""]).word_orders == ()
    assert parser.parse_args([]).word_orders == (1, 2)


def test_thresholds_and_metrics_cover_every_label(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    thresholds = json.loads((tiny_model / "thresholds.json").read_text())
    metrics = json.loads((tiny_model / "metrics.json").read_text())
    for direction in ("input", "output"):
        assert set(thresholds[direction]) == set(config["id2label"].values())
        assert all(0.0 < t < 1.0 for t in thresholds[direction].values())
    assert {"zh", "en", "mixed"} <= set(metrics["test_by_lang"])
    assert set(metrics["test_by_direction"]) == {"in", "out"}
    # Answers proper: fewer rows than the "out" direction, which holds social comments too.
    answers = sum(g["n"] for g in metrics["test_answers_by_lang"].values())
    assert 0 < answers < metrics["test_by_direction"]["out"]["n"]
    assert {"COLD", "zh_harmful", "en_prompts_benign", "KdConv", "GSM8K"} <= set(
        metrics["test_by_source"]
    )
    assert set(metrics["xsafety"]) == {"zh", "en"}
    assert "harmful_scenarios_recall" in metrics["xsafety"]["en"]
    assert metrics["stream_bank"]["n"] > 400 and metrics["stream_bank"]["prefixes_checked"] > 0
    cal = metrics["calibration"]
    assert cal["benign_pool_n"] > 0 and set(cal["benign_pool_by_lang"]) >= {"zh", "en"}
    pools = cal["benign_pools"]
    assert pools["answers"]["checks"] > pools["answers"]["n"] > 0 and pools["prompts"]["n"] > 0
    assert set(metrics["robustness"]) == {
        "original",
        "homophone",
        "pinyin",
        "traditional",
        "symbols",
        "emoji",
    }
    card = (tiny_model / "README.md").read_text()
    assert "Validated languages" in card and "Label mapping" in card and "CC BY-SA" in card


def test_same_seed_gives_same_weights(tiny_model: Path, tmp_path: Path) -> None:
    _train(tmp_path)
    again = (tmp_path / "model.safetensors").read_bytes()
    assert again == (tiny_model / "model.safetensors").read_bytes()


async def test_encoder_from_scratch_and_fine_tuned_from_init(tmp_path: Path) -> None:
    """``--arch encoder`` trains the character transformer; ``--init DIR`` fine-tunes a
    pretrained encoder directory (here a tiny random BERT with its own tokenizer and labels):
    the result has the recipe's labels, the direction markers and loads in the core."""
    import models
    from models.tiny import build_encoder

    scratch = tmp_path / "scratch"
    _train(scratch, "--arch", "encoder", args=TINY_ENCODER)
    pretrained = build_encoder(tmp_path / "pretrained", ("neg", "pos"), max_length=64)
    tuned = tmp_path / "tuned"
    _train(tuned, "--init", str(pretrained), args=TINY_ENCODER)
    for out in (scratch, tuned):
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["arch"] == "encoder"
        config = json.loads((out / "config.json").read_text())
        assert list(config["id2label"].values()) == metrics["labels"]
        clf = models.load_classifier(str(out), device="cpu", cache_size=0)
        assert clf.adapter.direction_markers == {"input": "[IN]", "output": "[OUT]"}  # type: ignore[attr-defined]
        [scores] = await clf.classify(["你好"], direction="output")
        assert set(scores) == set(metrics["labels"])
        await clf.aclose()
    assert json.loads((tuned / "metrics.json").read_text())["config"]["init"] == str(pretrained)
    assert json.loads((tuned / "config.json").read_text())["max_position_embeddings"] == 64


def test_the_recipe_refuses_to_learn_from_the_stream_bank(tmp_path: Path) -> None:
    from models.training.dataset import DataConfig
    from models.training.recipe import RecipeConfig, prepare
    from models.training.stream_bank import StreamBankOverlap
    from models.training.train import TrainConfig
    from models.training.written import written_sources

    learnt = next(r.text for r in written_sources(30) if r.direction == "out")
    bank = tmp_path / "bank.jsonl"
    bank.write_text(json.dumps({"id": "x", "text": learnt.upper() + " "}) + "\n", "utf-8")
    cfg = RecipeConfig(
        data=DataConfig(DATA, limit=30, min_support=3),
        train=TrainConfig(),
        out=tmp_path / "never",
        stream_bank=bank,
    )
    with pytest.raises(StreamBankOverlap):
        prepare(cfg)


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
    rows.append(_ex("已在测试集", {"A2.04"}, "held", "test"))
    rows.append(_ex("已在测试集", {"A2.04"}, "other"))
    rows.append(_ex("同组的另一句", {"A2.04"}, "held"))
    out = splits.build(rows, seed=3)
    by_group: dict[str, set[str | None]] = {}
    for r in out:
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in by_group.values())
    assert {r.split for r in out} >= {"train", "val", "test"}
    assert [r.split for r in out if r.text == "已在测试集"] == ["test"]
    assert [r.split for r in out if r.text == "同组的另一句"] == ["test"]  # the group follows


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
