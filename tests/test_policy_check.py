"""`gateway policy check`: every problem as file:line: message, exact texts asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main
from gateway.policy.loader import PolicyError, parse_policy
from tests.paths import SHIPPED_POLICY

ROOT = Path(__file__).resolve().parent.parent


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
    assert out == [f"{bad}:2: fail_mode: Input should be 'open' or 'closed'"]


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
