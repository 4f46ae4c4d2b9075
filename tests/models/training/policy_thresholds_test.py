"""Calibrated thresholds patched into a policy file without disturbing the rest of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.policy.loader import PolicyError, load_policy
from models.training.policy_thresholds import write_thresholds
from tests.support.paths import TEST_POLICIES

POLICIES = TEST_POLICIES


@pytest.fixture()
def policy(tmp_path: Path) -> Path:
    shutil.copytree(POLICIES, tmp_path, dirs_exist_ok=True)
    return tmp_path / "policy.yaml"


def test_only_the_listed_thresholds_change(policy: Path) -> None:
    before = policy.read_text("utf-8")
    changed = write_thresholds(policy, {"A1.06": 0.35, "A2.01": 0.45, "X2": 0.425})
    after = policy.read_text("utf-8")
    p = load_policy(policy).policy
    for code, t in {"A1.06": 0.35, "A2.01": 0.45}.items():
        rules = p.categories[code]
        assert rules.input is not None and rules.output is not None
        assert (rules.input.threshold, rules.output.threshold) == (t, t)
    assert "A2.01" in changed and "A1.06" in changed
    # Comments, actions, the defaults' review_threshold and the other codes are untouched.
    assert [ln for ln in before.splitlines() if "A2.01" not in ln and "threshold" not in ln] == [
        ln for ln in after.splitlines() if "A2.01" not in ln and "threshold" not in ln
    ]
    assert "review_threshold: 0.6" in after
    assert p.categories["A2.02"].input is not None
    assert p.categories["A2.02"].input.threshold == 0.5
    assert p.categories["A2.01"].input is not None
    assert p.categories["A2.01"].input.action.value == "review"


def test_a_policy_that_would_become_invalid_is_left_as_it_was(policy: Path) -> None:
    text = policy.read_text("utf-8").replace(
        "A2.02: {input: {action: review, threshold: 0.5}",
        "A2.02: {input: {action: block, threshold: 0.9, review_threshold: 0.7}",
    )
    policy.write_text(text, "utf-8")
    with pytest.raises(PolicyError):
        write_thresholds(policy, {"A2.02": 0.3})  # under its review_threshold
    assert policy.read_text("utf-8") == text


def test_an_inline_rule_without_a_threshold_gets_one(policy: Path) -> None:
    text = policy.read_text("utf-8")
    assert "A1.05: {input: {action: block}, output: {action: block}}" in text
    changed = write_thresholds(policy, {"A1.05": 0.45})
    rules = load_policy(policy).policy.categories["A1.05"]
    assert rules.input is not None and rules.output is not None
    assert (rules.input.threshold, rules.output.threshold) == (0.45, 0.45)
    assert rules.input.action.value == "block" and changed == ["A1.05"]
    after = policy.read_text("utf-8")
    assert (
        "A1.05: {input: {action: block, threshold: 0.45}, output: {action: block, threshold: 0.45}}"
        in after
    )


def test_input_and_output_thresholds_are_written_apart(policy: Path) -> None:
    changed = write_thresholds(policy, {"A1.04": 0.3, "A2.01": 0.35}, {"A1.04": 0.6, "A2.01": 0.65})
    p = load_policy(policy).policy
    for code, (t_in, t_out) in {"A1.04": (0.3, 0.6), "A2.01": (0.35, 0.65)}.items():
        rules = p.categories[code]
        assert rules.input is not None and rules.output is not None
        assert (rules.input.threshold, rules.output.threshold) == (t_in, t_out), code
    assert changed == ["A1.04", "A2.01"]
