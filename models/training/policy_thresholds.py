"""Write calibrated thresholds into a policy file, keeping its comments and layout.

The policy is a file compliance staff edit by hand, so it is patched line by line instead
of being re-dumped from YAML (which would drop every comment). Only ``threshold:`` values
of the listed codes change; actions, ``review_threshold`` and everything else stay.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from gateway.policy.loader import PolicyError, load_policy

_KEY = re.compile(r"^  (?P<code>[A-Z]\d(?:\.\d\d)?):")
_THRESHOLD = re.compile(r"(?<![\w])threshold: *[0-9.]+")
# A direction's rule written inline: ``input: {action: block, threshold: 0.5}``.
_INLINE_RULE = re.compile(r"(?P<dir>\b(?:input|output)): *\{(?P<body>[^{}]*)\}")
_DIRECTION_KEY = re.compile(r"^\s+(?P<dir>input|output):")


def write_thresholds(
    policy: Path, inputs: Mapping[str, float], outputs: Mapping[str, float] | None = None
) -> list[str]:
    """Set ``threshold`` of each code of ``inputs`` (prompts) and ``outputs`` (answers;
    default: the same values) in the policy's ``categories`` section, adding it to an
    inline rule that has none; returns the codes whose values changed."""
    by_direction = {"input": inputs, "output": outputs if outputs is not None else inputs}
    original = policy.read_text("utf-8")
    lines = original.splitlines(keepends=True)
    changed: set[str] = set()
    in_categories = False
    code: str | None = None
    direction: str | None = None  # the direction key a multi-line rule is under
    for i, line in enumerate(lines):
        if not line.startswith(" ") and line.strip():
            in_categories = line.startswith("categories:")
            code = None
            continue
        if not in_categories:
            continue
        key = _KEY.match(line)
        if key:
            code = key["code"] if key["code"] in inputs else None
            direction = None
        elif line.strip() and not line.startswith("   "):
            code = None  # a comment or key at the category level ends the previous block
        if code is None:
            continue
        if m := _DIRECTION_KEY.match(line):
            direction = m["dir"]
        new = _patch(line, code, by_direction, direction)
        if new != line:
            changed.add(code)
            lines[i] = new
    policy.write_text("".join(lines), "utf-8")
    try:  # a threshold under a review_threshold is invalid: never leave a broken policy
        load_policy(policy)
    except PolicyError:
        policy.write_text(original, "utf-8")
        raise
    return sorted(changed)


def _patch(
    line: str, code: str, by_direction: Mapping[str, Mapping[str, float]], direction: str | None
) -> str:
    """One line of a code's block with its thresholds set. An inline rule without a
    threshold gets one: a code the model now scores is not left at the defaults' 0.8."""

    def inline(m: re.Match[str]) -> str:
        value = f"threshold: {by_direction[m['dir']][code]:g}"
        body = m["body"]
        body = _THRESHOLD.sub(value, body) if _THRESHOLD.search(body) else f"{body}, {value}"
        return f"{m['dir']}: {{{body}}}"

    new = _INLINE_RULE.sub(inline, line)
    if new == line and direction is not None and _THRESHOLD.search(line):
        new = _THRESHOLD.sub(f"threshold: {by_direction[direction][code]:g}", line)
    return new
