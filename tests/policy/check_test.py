"""`gateway policy check`: every problem as file:line: message, exact texts asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.policy.loader import PolicyError, parse_policy
from tests.support.paths import SHIPPED_POLICY

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_default_policy_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(SHIPPED_POLICY)]) == 0
    out = capsys.readouterr().out
    assert ": ok (version " in out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nlanguge: zh\n", ["p.yaml:2: unknown key 'languge'"]),
        (
            "categories:\n  A1.04:\n    input:\n      actoin: block\n",
            ["p.yaml:4: unknown key 'actoin' in 'categories.A1.04.input'"],
        ),
        (
            "categories:\n  A9.99: {input: {action: block}}\n",
            [
                "p.yaml:1: categories: unknown taxonomy code(s): A9.99 (see gateway/data/taxonomy.json, e.g. A1.04)"
            ],
        ),
        (
            "defaults:\n  input:\n    action: destroy\n",
            [
                "p.yaml:3: defaults.input.action: Input should be 'allow', 'flag', 'review', 'redact' or 'block'"
            ],
        ),
        (
            "defaults:\n  input: {threshold: 0.5, review_threshold: 0.9}\n",
            [
                "p.yaml:2: defaults.input: review_threshold and flag_threshold must not exceed threshold"
            ],
        ),
        ("name: a\nname: b\n", ["p.yaml:2: duplicate key 'name'"]),
        (
            "name: [unclosed\n",
            ["p.yaml:2: invalid YAML: expected ',' or ']', but got '<stream end>'"],
        ),
        ("- just\n- a list\n", ["p.yaml:1: a policy must be a mapping of keys to values"]),
    ],
)
def test_problems_name_file_and_line(text: str, expected: list[str]) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert [str(p) for p in info.value.problems] == expected


def test_check_exits_nonzero_and_prints_each_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfail_mode: sideways\nlexicon:\n  files: [nothing.csv]\n", "utf-8")
    assert main(["policy", "check", str(bad)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"{bad}:2: fail_mode: Input should be 'open' or 'closed'",
        f"{bad}:3: lexicon file '{tmp_path / 'nothing.csv'}': No such file or directory",
        f"{bad}: 2 problems",
    ]


def test_check_reports_five_different_mistakes_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt key, an unknown category code, a bad action, thresholds out of order and
    bad term-file rows: each used to hide the ones after it until it was fixed."""
    (tmp_path / "lexicon").mkdir()
    (tmp_path / "lexicon" / "terms.csv").write_text(
        "term,category,level\n好词,A1.04,3\n坏词,Z9,1\n又一个,A1.04,high\n", "utf-8"
    )
    p = tmp_path / "p.yaml"
    p.write_text(
        "name: five\n"
        "fail_mod: closed\n"
        "categories:\n"
        "  A9.99: {input: {action: block}}\n"
        "  A1.04:\n"
        "    input: {action: destroy}\n"
        "  A1.05:\n"
        "    input: {threshold: 0.5, review_threshold: 0.9}\n"
        "lexicon:\n"
        "  files: [lexicon/terms.csv]\n",
        "utf-8",
    )
    assert main(["policy", "check", str(p)]) == 1
    terms = tmp_path / "lexicon" / "terms.csv"
    assert capsys.readouterr().out.strip().splitlines() == [
        f"{p}:2: unknown key 'fail_mod'",
        f"{p}:3: categories: unknown taxonomy code(s): A9.99 (see gateway/data/taxonomy.json,"
        " e.g. A1.04)",
        f"{p}:6: categories.A1.04.input.action: Input should be 'allow', 'flag', 'review',"
        " 'redact' or 'block'",
        f"{p}:8: categories.A1.05.input: review_threshold and flag_threshold must not exceed"
        " threshold",
        f"{terms}:3: unknown category 'Z9' (expected a code like A1.04)",
        f"{terms}:4: level must be an integer, got 'high'",
        f"{p}: 6 problems",
    ]


def test_tenant_overrides_are_checked_when_the_base_policy_is_invalid(tmp_path: Path) -> None:
    from gateway.policy.check import check_policy

    p = tmp_path / "p.yaml"
    p.write_text(
        "fail_mode: sideways\ntenants:\n  acme:\n    overrides: {audit: {text: everything}}\n",
        "utf-8",
    )
    active, problems = check_policy(p)
    assert active is None
    assert [str(x) for x in problems] == [
        f"{p}:1: fail_mode: Input should be 'open' or 'closed'",
        f"{p}:4: tenants.acme.overrides.audit.text: Input should be 'none', 'hash', 'redacted'"
        " or 'full'",
    ]
    assert problems[1].loc == ("tenants", "acme", "overrides", "audit", "text")
    assert problems[1].kind == "literal_error" and problems[1].value("input") == "everything"


def test_term_file_problems_name_the_file_once(tmp_path: Path) -> None:
    from gateway.policy.check import check_policy

    (tmp_path / "t.csv").write_text("term,category,level\n词,Z9,1\n", "utf-8")
    p = tmp_path / "p.yaml"
    p.write_text("lexicon:\n  files: [t.csv]\n", "utf-8")
    _, problems = check_policy(p)
    assert [str(x) for x in problems] == [
        f"{tmp_path / 't.csv'}:2: unknown category 'Z9' (expected a code like A1.04)"
    ]


def test_missing_term_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "p.yaml"
    p.write_text("lexicon:\n  files: [nothing.csv]\n", "utf-8")
    assert main(["policy", "check", str(p)]) == 1
    assert "lexicon file" in capsys.readouterr().out


def test_schema_export(tmp_path: Path) -> None:
    import json

    out = tmp_path / "schema.json"
    assert main(["policy", "schema", "--out", str(out)]) == 0
    schema = json.loads(out.read_text("utf-8"))
    assert schema["additionalProperties"] is False
    assert "categories" in schema["properties"]
