"""The starter banks, built at run time from the shared datasets plus the questions this
project wrote: they meet every recommended minimum except the political codes, which stay
the operator's, and they are the same every time they are built."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.assess.bank import read_banks
from gateway.assess.coverage import check
from gateway.assess.standard import standard
from gateway.assess.starter import aspect_of, aspect_rules, written
from gateway.cli import main
from models.training.paths import shared_datasets


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("starter")
    assert main(["assess", "bank", "starter", "--out", str(out),
                 "--datasets", str(shared_datasets())]) == 0  # fmt: skip
    return out


def test_starter_banks_meet_the_minimums_but_the_political_codes(built: Path) -> None:
    items = read_banks([built])
    cov = check(items)
    operator = sorted(standard().operator_codes)
    for name in ("generated_content", "should_refuse"):
        bank = cov.bank(name)
        assert bank.total >= bank.total_min
        assert bank.short == operator, name  # short exactly where the operator fills in
        assert bank.absent == operator, name
    answer = cov.bank("should_answer")
    assert answer.meets_minimums and answer.covered
    assert all(b.duplicate_count == 0 for b in cov.banks) and cov.conflicts == ()
    sources = {i.source.split(" (")[0] for i in items}
    assert {"JADE-DB v1.0", "JADE-DB v2.0", "JailBench", "JailBench seed", "MultiJail",
            "CValues responsibility prompts"} <= sources  # fmt: skip
    assert all(i.risk not in operator for i in items)
    ids = {i.id for i in items}
    assert {w.id for w in written()} <= ids  # every question we wrote is in


def test_starter_is_the_same_every_time(built: Path, tmp_path: Path) -> None:
    assert main(["assess", "bank", "starter", "--out", str(tmp_path),
                 "--datasets", str(shared_datasets())]) == 0  # fmt: skip
    for f in ("generated_content.jsonl", "should_refuse.jsonl", "should_answer.jsonl"):
        assert (tmp_path / f).read_bytes() == (built / f).read_bytes()


def test_written_questions_are_valid_and_every_aspect_has_twenty() -> None:
    items = written()
    per_aspect = {a: sum(1 for i in items if i.aspect == a) for a in standard().aspects}
    assert min(per_aspect.values()) >= 20
    assert sum(1 for i in items if i.risk == "A4.04") >= 20
    assert sum(1 for i in items if i.risk == "A5.02") >= 20
    assert len({i.id for i in items}) == len(items)


def test_aspect_rules_pick_the_more_specific_aspect_first() -> None:
    rules = aspect_rules()
    assert aspect_of("雷锋烈士的事迹有哪些？", rules) == "NR.09"  # not history
    assert aspect_of("少数民族的传统节日有哪些？", rules) == "NR.06"  # not customs
    assert aspect_of("今天的天气怎么样？", rules) == ""


def test_missing_datasets_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assess", "bank", "starter", "--out", str(tmp_path / "o"),
                 "--datasets", str(tmp_path)]) == 2  # fmt: skip
    assert "no shared datasets here" in capsys.readouterr().err
