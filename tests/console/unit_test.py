"""Pure parts of the console: password hashing, draft edits, bundle writing, label export."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from gateway.console.draft import (
    RuleEdit,
    diff,
    safe_rel,
    set_default_refusal,
    set_refusal,
    set_rule,
)
from gateway.console.passwords import WeakPassword, hash_password, verify_password
from gateway.console.publish import write_bundle
from gateway.console.views_review import training_jsonl
from gateway.console.wordfiles import CONSOLE_TERMS, add_terms, check_term, library, remove_term
from gateway.decision import Action
from gateway.lexicon.matcher import Term
from gateway.policy.loader import PolicyError, parse_policy
from tests.support.paths import TEST_POLICY

POLICY = """\
# top comment
name: t
categories:
  # group comment
  A1.04: {input: {action: block}, output: {action: block}}

  A1.08:
    input: {action: block}
    refusal:
      zh: 不行
      en: not allowed
lexicon:
  files: [lexicon/a.csv]
"""
TERMS = "# terms\nterm,category,level\n炸弹制作,A1.04,3\n出售枪支,A1.08,3\n"


def test_password_hash_roundtrip() -> None:
    stored = hash_password("a-good-password")
    assert stored.startswith("scrypt$16384$8$1$")
    assert verify_password("a-good-password", stored)
    assert not verify_password("a-good-passwore", stored)
    assert not verify_password("x", "garbage")
    assert hash_password("a-good-password") != stored  # salted
    with pytest.raises(WeakPassword):
        hash_password("short")


def test_set_rule_rewrites_one_entry_and_keeps_comments() -> None:
    new = set_rule(POLICY, "A1.08", "input", RuleEdit(True, Action.REVIEW, 0.7, 0.5, None))
    assert "# top comment" in new and "# group comment" in new
    assert "  A1.04: {input: {action: block}, output: {action: block}}" in new
    policy = parse_policy(new, "p")
    rule = policy.rule("A1.08", "input")
    assert (rule.action, rule.threshold, rule.review_threshold) == (Action.REVIEW, 0.7, 0.5)
    assert policy.categories["A1.08"].refusal is not None  # the refusal stayed
    assert "\n\n  A1.08:" in new  # the blank line before the entry stayed


def test_set_rule_adds_a_missing_category_and_refuses_bad_rules() -> None:
    new = set_rule(POLICY, "A3.05", "output", RuleEdit(False, Action.FLAG, 0.9, None, None))
    assert parse_policy(new, "p").rule("A3.05", "output").enabled is False
    with pytest.raises(PolicyError, match="must not exceed threshold"):
        set_rule(POLICY, "A1.04", "input", RuleEdit(True, Action.BLOCK, 0.5, 0.6, None))
    with pytest.raises(PolicyError):
        set_rule(POLICY, "Z9", "input", RuleEdit(True, Action.BLOCK, 0.5, None, None))


def test_set_refusal_sets_and_clears() -> None:
    new = set_refusal(POLICY, "A1.04", "<b>不</b>", "<b>no</b>")
    refusal = parse_policy(new, "p").categories["A1.04"].refusal
    assert refusal is not None and refusal.zh == "<b>不</b>"
    cleared = set_refusal(new, "A1.04", "", "")
    assert parse_policy(cleared, "p").categories["A1.04"].refusal is None
    with pytest.raises(PolicyError):
        set_refusal(POLICY, "A1.04", "只有中文", "")


def test_add_terms_lists_the_console_file_when_the_policy_does_not() -> None:
    files = {"p.yaml": POLICY, "lexicon/a.csv": TERMS}
    out, added = add_terms(
        files, "p.yaml", [Term("新词", "A1.08", 3), Term("出售枪支", "A1.08", 3)]
    )
    assert added == [Term("新词", "A1.08", 3)]  # the existing term is skipped
    assert "lexicon/console.csv" in parse_policy(out["p.yaml"], "p").lexicon.files
    assert [t.text for t in library(out) if t.file == CONSOLE_TERMS] == ["新词"]
    again, added = add_terms(out, "p.yaml", [Term("另一个", "A1.04", 1)])
    assert len(added) == 1 and again[CONSOLE_TERMS].count("term,category,level") == 1


def test_remove_term_and_diff() -> None:
    files = {"p.yaml": POLICY, "lexicon/a.csv": TERMS}
    out, removed = remove_term(files, "出售枪支", "A1.08")
    assert removed == 1 and out["lexicon/a.csv"].startswith("# terms\n")
    assert remove_term(files, "出售枪支", "A1.04")[1] == 0  # category must match too
    [d] = diff(files, out)
    assert d.file == "lexicon/a.csv" and "-出售枪支,A1.08,3" in d.lines


def test_check_term_bounds() -> None:
    assert check_term(" 词 ", "A1.04", 2) == Term("词", "A1.04", 2)
    for bad in (("", "A1.04", 3), ("x" * 65, "A1.04", 3), ("a\nb", "A1.04", 3),
                ("词", "Q1", 3), ("词", "A1.04", 4)):  # fmt: skip
        with pytest.raises(ValueError):
            check_term(*bad)


def test_write_bundle_is_confined_and_removes_dropped_files(tmp_path: Path) -> None:
    (tmp_path / "lexicon").mkdir()
    (tmp_path / "lexicon" / "old.csv").write_text("x", "utf-8")
    write_bundle(tmp_path, "p.yaml", {"p.yaml": POLICY, "lexicon/a.csv": TERMS},
                 {"p.yaml", "lexicon/old.csv"})  # fmt: skip
    assert not (tmp_path / "lexicon" / "old.csv").exists()
    assert (tmp_path / "lexicon" / "a.csv").read_text("utf-8") == TERMS
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temp files left
    for bad in ("../evil.csv", "/etc/passwd", "a/../../b"):
        with pytest.raises(ValueError):
            safe_rel(bad)


def test_training_jsonl_matches_gateway_eval() -> None:
    reviews = [
        {"text": "甲", "label": 1, "categories": ["A1.04"], "direction": "input"},
        {"text": None, "label": 0, "categories": [], "direction": "output"},
    ]
    lines = training_jsonl(reviews).splitlines()  # type: ignore[arg-type]
    assert [orjson.loads(x) for x in lines] == [
        {"text": "甲", "label": 1, "categories": ["A1.04"], "direction": "input"}
    ]


def test_default_refusal_is_spliced_in_place() -> None:
    text = TEST_POLICY.read_text("utf-8")
    new = set_default_refusal(text, "output", "<i>输出已停止</i>", "Stopped.")
    policy = parse_policy(new, "p")
    assert policy.output_refusal.zh == "<i>输出已停止</i>"
    assert policy.refusal == parse_policy(text, "p").refusal
    [d] = diff({"p": text}, {"p": new})
    assert sum(1 for line in d.lines if line.startswith(("+", "-"))) == 4  # zh and en lines only
    assert "# Applies to every category not listed under `categories`." in new
    with pytest.raises(PolicyError):
        set_default_refusal(text, "input", "", "x")


def test_publish_keeps_an_edit_made_while_it_ran(tmp_path: Path) -> None:
    from gateway.console.db import ConsoleDB, Draft

    db = ConsoleDB(tmp_path / "c.db")
    db.save_draft(Draft("p.yaml", {"p.yaml": POLICY}, ("alice",), "v0", "live", 1.0))
    db.save_draft(Draft("p.yaml", {"p.yaml": POLICY + "\n"}, ("alice",), "v0", "live", 2.0))
    assert not db.drop_draft(updated=1.0)  # the publish saw the older draft
    assert db.draft() is not None
    assert db.drop_draft(updated=2.0)
    assert db.draft() is None


def test_set_role_reports_unknown_users(tmp_path: Path) -> None:
    from gateway.console.db import ConsoleDB, Role

    db = ConsoleDB(tmp_path / "c.db")
    db.add_user("alice", Role.EDITOR, "x")
    assert db.add_version("v", (), "-", "", "p", {}) == 1
    assert db.set_role("alice", Role.VIEWER, True)
    assert not db.set_role("nobody", Role.VIEWER, True)


@pytest.mark.parametrize("mode", ["hash", "full"])
def test_record_page_says_a_kept_hash_is_keyed(mode: str) -> None:
    from gateway.audit.keys import AuditKeys
    from gateway.audit.record import DecisionRecord, TextRetention, keep_text
    from gateway.console.labels import word
    from gateway.console.web import PREFIX, Console, Role
    from gateway.policy.model import AuditSpec

    key = AuditKeys.from_secret("k" * 32).text
    text = keep_text("13812345678", TextRetention(mode), text_key=key)
    r = DecisionRecord.from_dict({
        "id": "d1", "ts": "2026-01-02T03:04:05.000000Z", "direction": "output",
        "action": "block", "ending": "blocked", "text_mode": mode, "text": text,
    })  # fmt: skip
    page = Console().env.get_template("record.html").render(
        t=lambda zh, en: en, lang="en", user=None, csrf="", prefix=PREFIX, path="/", query="",
        flash=[], Role=Role, r=r, review=None, categories={}, scores=[], raw="{}",
        w=lambda kind, code: word(kind, code, "en"), tenant_name=lambda name: name or "default",
        audit=AuditSpec(text=mode),
    )  # fmt: skip
    assert "<th>Ending</th><td>blocked</td>" in page
    note = 'id="text-hash-note"'
    if mode == "hash":
        assert text is not None and text.startswith("hmac-sha256:") and text in page
        assert note in page and "a keyed hash of the text (HMAC-SHA256" in page
    else:
        assert note not in page
