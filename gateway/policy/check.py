"""Checking a policy for every problem at once (``gateway policy check``, the console).

Loading stops being useful at the first failed stage: a schema error means no compiled
matcher, so the term files would go unread. A check goes on: it reports the schema,
tenant and file problems together, then reads the term files of a policy that failed
before them, so one run lists everything to fix.
"""

from __future__ import annotations

from pathlib import Path

from gateway.policy.compiled import PolicySet, compile_policy, read_word_files
from gateway.policy.loader import PolicyError, Problem, load_policy


def check_policy(path: Path) -> tuple[PolicySet | None, list[Problem]]:
    """The compiled policy set, or None and every problem found."""
    try:
        source = load_policy(path)
    except PolicyError as e:
        problems = list(e.problems)
        read_word_files(tuple(f for f in e.term_files if f.is_file()), (), problems)
        return None, _unique(problems)
    try:
        return compile_policy(source), []
    except PolicyError as e:
        return None, _unique(e.problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))
