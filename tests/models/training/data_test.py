"""The project's data files and their loader, and the stream-bank overlap check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.training import splits, written
from models.training.example import detect_lang
from models.training.stream_bank import (
    STREAM_BANK,
    StreamBankOverlap,
    check_no_overlap,
    load_bank,
    without_overlap,
)

GOOD = {
    "text": "怎样向警方举报电信诈骗？",
    "direction": "in",
    "lang": "zh",
    "domain": "law",
    "label": 0,
    "hard_negative": True,
    "codes": [],
}


def _write(path: Path, *rows: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def test_every_shipped_data_file_loads_and_is_not_empty() -> None:
    files = written.data_files()
    assert {f.stem for f in files} >= {"zh_prompts_benign", "en_harmful", "mixed_benign"}
    for path in files:
        rows = list(written.read_file(path))
        assert rows, path
        assert all(r.source == path.stem for r in rows)
    harmful = list(written.read_file(written.DATA_DIR / "zh_harmful.jsonl"))
    assert all(r.codes for r in harmful)


def test_rows_keep_their_fields(tmp_path: Path) -> None:
    bad = {**GOOD, "text": "Write a hateful rant", "label": 1, "codes": ["A2.09"], "lang": "en"}
    path = _write(tmp_path / "mine.jsonl", GOOD, bad)
    first, second = written.read_file(path)
    assert first.direction == "in" and first.lang == "zh" and not first.codes
    assert first.tags == {"domain:law", "hard_negative"}
    assert second.codes == {"A2.09"} and second.source == "mine"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"direction": "up"}, "'direction'"),
        ({"lang": "fr"}, "'lang'"),
        ({"label": 1}, "label 1 needs taxonomy codes"),
        ({"label": 1, "codes": ["B9.99"]}, "label 1 needs taxonomy codes"),
        ({"codes": ["A2.09"]}, "label 0 none"),
        ({"text": " "}, "'text'"),
        ({"split": "train"}, "'split'"),
        ({"hard_negative": "yes"}, "'hard_negative'"),
        ({"group": ""}, "'group'"),
        ({"group": 7}, "'group'"),
    ],
)
def test_a_bad_row_names_file_and_line(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", GOOD, {**GOOD, **change})
    with pytest.raises(written.DataFileError, match=message) as err:
        list(written.read_file(path))
    assert f"{path}:2" in str(err.value)


def test_not_json_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": \n', "utf-8")
    with pytest.raises(written.DataFileError, match=r"broken.jsonl:1: not JSON"):
        list(written.read_file(path))


def test_pinned_rows_stay_in_test_even_when_duplicated(tmp_path: Path) -> None:
    pinned = {**GOOD, "split": "test"}
    rows = [
        *written.read_file(_write(tmp_path / "a.jsonl", GOOD)),
        *written.read_file(_write(tmp_path / "b.jsonl", pinned)),
    ]
    out = splits.build(rows, seed=0)
    assert [r.split for r in out] == ["test"]
    bank = written.heldout_bank()
    assert len(bank) == 50 and {r.split for r in bank} == {"test"}


def test_rows_of_one_group_share_a_split(tmp_path: Path) -> None:
    # Forty topics of three rows each: every topic lands whole in one split, and the
    # topics spread over more than one split (the group, not the file, is hashed).
    rows = [
        {**GOOD, "text": f"第{t}个话题的第{i}个问题", "group": f"topic-{t}"}
        for t in range(40)
        for i in range(3)
    ]
    out = splits.build(list(written.read_file(_write(tmp_path / "g.jsonl", *rows))), seed=0)
    by_topic: dict[str, set[str | None]] = {}
    for row in out:
        by_topic.setdefault(row.group, set()).add(row.split)
    assert len(by_topic) == 40 and all(len(s) == 1 for s in by_topic.values())
    assert len({s for seen in by_topic.values() for s in seen}) > 1


def test_language_detection() -> None:
    assert detect_lang("今天天气很好") == "zh"
    assert detect_lang("How are you?") == "en"
    assert detect_lang("怎么把 PDF 转成 Word？") == "mixed"


def test_the_stream_bank_overlaps_no_shipped_data() -> None:
    bank = load_bank(STREAM_BANK)
    assert len(bank) > 400
    check_no_overlap([r.text for r in written.written_sources()], bank)


def test_data_waiting_for_the_next_retrain_loads_and_misses_the_stream_bank() -> None:
    """``data/next/`` is not trained on yet; it must be ready to be: well-formed, and no
    text the streaming test's held-out bank holds."""
    files = written.data_files(written.DATA_DIR / "next")
    assert files and all(p.parent.name == "next" for p in files)
    rows = [r for path in files for r in written.read_file(path)]
    assert len(rows) >= 2000
    check_no_overlap([r.text for r in rows], load_bank(STREAM_BANK))
    assert not {p.stem for p in files} & {p.stem for p in written.data_files()}


@pytest.mark.parametrize("spelling", ["exact", "spaced", "traditional", "punctuation"])
def test_overlap_with_the_stream_bank_is_refused(spelling: str) -> None:
    bank = load_bank(STREAM_BANK)
    answer = next(t for t in bank if any("\u4e00" <= c <= "\u9fff" for c in t))
    import opencc

    text = {
        "exact": answer,
        "spaced": " ".join(answer),
        "traditional": opencc.OpenCC("s2t").convert(answer),
        "punctuation": answer.replace("，", ",").rstrip("。") + "!!",
    }[spelling]
    with pytest.raises(StreamBankOverlap, match="held-out stream bank"):
        check_no_overlap(["一句无关的话", text], bank)


def test_derived_text_matching_the_bank_is_dropped_not_trained() -> None:
    """A prefix the recipe cuts itself ("Sure thing!" -> "Sure") may equal a bank answer
    after punctuation is ignored: it is dropped; everything else is kept in order."""
    bank = ["Sure!", "今天天气不错。"]
    derived = ["Sure", "Sure thing", "今天天气不错", "今天天气", "sure!!"]
    assert without_overlap(derived, bank, str) == ["Sure thing", "今天天气"]


def test_every_long_benign_answer_is_also_trained_on_its_opening() -> None:
    """The gateway's first look at a streamed answer is its first 40 characters, 80 while
    none is Chinese: every long benign answer is also a training row cut to 40-80 (Chinese)
    or 80-120 (English) of them; harmful answers and prompts are not cut."""
    from models.training.dataset import DataConfig, training_texts
    from models.training.example import Example
    from models.training.perturb import Perturber

    answer = "Here is a plan for your week. " * 8
    chinese = "这是你下周的计划每天早上先跑步三十分钟" * 8  # as normalized: no punctuation
    rows = [
        Example(answer, "out", frozenset(), "written", "a", split="train"),
        Example(answer + " bad", "out", frozenset({"X1"}), "written", "b", split="train"),
        Example(answer + " ask", "in", frozenset(), "written", "c", split="train"),
        Example(chinese, "out", frozenset(), "written", "d", split="train"),
    ]
    cfg = DataConfig(
        data_dir=Path("."), written_copies=1, prefix_rate=0.0, short_rate=0.0,
        no_direction_rate=0.0, variant_rate_pos=0.0, variant_rate_neg=0.0,
    )  # fmt: skip
    out = training_texts(rows, cfg, Perturber("abc"))
    openings = [r.text.split(" ", 1)[1] for r in out if len(r.text) < 140]  # less the marker
    assert len(openings) == 2
    latin, han = sorted(openings, key=lambda t: t[0].isascii(), reverse=True)
    assert 80 <= len(latin) <= 120 and answer.lower().startswith(latin)  # normalized: lower-case
    assert 40 <= len(han) <= 80 and chinese.startswith(han)
