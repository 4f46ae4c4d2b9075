"""What the decision log keeps of texts that a person must look at.

``audit.text`` sets what every record keeps; ``hash`` (the shipped choice) keeps no text, so
a reviewer would see only a digest. ``audit.review_text`` keeps more for the records a
person has to judge (blocked and review decisions: the review queue, complaints, incident
records): ``redacted`` (default) keeps the text with personal data masked, ``full`` the
whole text, ``none`` nothing beyond ``audit.text``. It never keeps less than ``audit.text``
does. These records age out with the rest of the log (the retention rules apply to them
unchanged).
"""

from __future__ import annotations

from gateway.audit.record import TextRetention
from gateway.decision import Action, Decision

REVIEW_ACTIONS = frozenset({Action.BLOCK, Action.REVIEW})
# From keeping least to keeping most.
_ORDER = (TextRetention.NONE, TextRetention.HASH, TextRetention.REDACTED, TextRetention.FULL)


def needs_review(decision: Decision) -> bool:
    return decision.action in REVIEW_ACTIONS


def text_mode_for(decision: Decision, mode: TextRetention, review_text: str) -> TextRetention:
    """The text mode of one record: ``mode``, raised to ``review_text`` for decisions a
    person reviews."""
    if review_text == "none" or not needs_review(decision):
        return mode
    wanted = TextRetention(review_text)
    return wanted if _ORDER.index(wanted) > _ORDER.index(mode) else mode
