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
# A direction rule written inline without a threshold: ``input: {action: block}``.
_BARE_RULE = re.compile(r"(?P<head>\b(?:input|output): *\{action: *\w+)(?P<tail> *\})")


def write_thresholds(policy: Path, thresholds: Mapping[str, float]) -> list[str]:
    """Set ``threshold`` under each code of ``thresholds`` in the policy's ``categories``
    section (both directions; added to an inline rule that has none); returns the codes
    whose values changed."""
    original = policy.read_text("utf-8")
    lines = original.splitlines(keepends=True)
    changed: set[str] = set()
    in_categories = False
    code: str | None = None
    for i, line in enumerate(lines):
        if not line.startswith(" ") and line.strip():
            in_categories = line.startswith("categories:")
            code = None
            continue
        if not in_categories:
            continue
        key = _KEY.match(line)
        if key:
            code = key["code"] if key["code"] in thresholds else None
        elif line.strip() and not line.startswith("   "):
            code = None  # a comment or key at the category level ends the previous block
        if code is None:
            continue
        value = f"threshold: {thresholds[code]:g}"
        new = _THRESHOLD.sub(value, line)
        # A code the model now scores whose rule had no threshold (it used the defaults'):
        # the calibrated one is added inline, so the code is not left at the default 0.8.
        new = _BARE_RULE.sub(rf"\g<head>, {value}\g<tail>", new)
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
