"""What a report must hold, checked the same way for the API and the public page.

Every problem is an ``InvalidRequest`` naming the offending field (``param``), so the API
answers 400 in OpenAI's error shape and the page shows the message next to the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest
from gateway.policy.model import ReportsSpec

FIELDS = ("decision_id", "text", "reason", "detail", "contact", "user", "lang")
MAX_DETAIL_CHARS = 2000
MAX_CONTACT_CHARS = 200
MAX_USER_CHARS = 256
# Decision ids are ``dec_`` + hex, with ``-out`` (the answer) or ``-N`` (a moderations
# input) appended; anything of this shape is looked up, the rest is refused outright.
DECISION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class DecisionNotFound(InvalidRequest):
    code = "decision_not_found"


@dataclass(frozen=True, slots=True)
class ReportInput:
    reason: str
    decision_id: str = ""
    text: str = ""
    detail: str = ""
    contact: str = ""
    user: str = ""
    lang: str = "zh"


def _string(body: Mapping[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name)
    value = value.strip()
    if len(value) > limit:
        raise InvalidRequest(f"'{name}' is longer than {limit} characters.", param=name)
    return value


def parse_report(body: Mapping[str, Any], spec: ReportsSpec) -> ReportInput:
    """Validate a report body (a JSON object, or the page's form fields)."""
    unknown = sorted(k for k in body if k not in FIELDS)
    if unknown:
        raise InvalidRequest(
            f"Unrecognized request argument supplied: {', '.join(unknown)}.", param=unknown[0]
        )
    decision_id = _string(body, "decision_id", 128)
    text = _string(body, "text", spec.max_text_chars)
    if decision_id and not DECISION_ID.match(decision_id):
        raise InvalidRequest("'decision_id' is not a decision id.", param="decision_id")
    if not decision_id and not text:
        raise InvalidRequest(
            "Name the reported answer with 'decision_id' (the X-Gateway-Decision-Id header "
            "or moderation.decision_id), or paste it as 'text'.",
            param="decision_id",
        )
    reason = _string(body, "reason", 32)
    if not reason:
        raise InvalidRequest("Missing required parameter: 'reason'.", param="reason")
    if spec.reason(reason) is None:
        codes = ", ".join(r.code for r in spec.reasons)
        raise InvalidRequest(f"'reason' must be one of: {codes}.", param="reason")
    detail = _string(body, "detail", MAX_DETAIL_CHARS)
    if reason == "other" and not detail:
        raise InvalidRequest("With reason 'other', say what is wrong in 'detail'.", param="detail")
    lang = _string(body, "lang", 8) or "zh"
    if lang not in ("zh", "en"):
        raise InvalidRequest("'lang' must be 'zh' or 'en'.", param="lang")
    return ReportInput(
        reason=reason,
        decision_id=decision_id,
        text=text,
        detail=detail,
        contact=_string(body, "contact", MAX_CONTACT_CHARS),
        user=_string(body, "user", MAX_USER_CHARS),
        lang=lang,
    )
