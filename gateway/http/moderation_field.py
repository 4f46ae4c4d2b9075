"""The ``moderation`` field of answers, in OpenAI's moderated-completions shape, and the
client's ``moderation`` request field.

OpenAI's SDK types ``ChatCompletion.moderation`` (and the chunk's) as ``{input, output}``,
each ``{"type": "moderation_results", "model", "results": [...]}`` with per-result
``flagged``, ``categories``, ``category_scores`` and ``category_applied_input_types``. The
gateway fills it with its own decisions, keyed by taxonomy codes (``A1.04`` ...), and adds
what OpenAI's shape has no field for, under names it does not use: ``action``,
``decision_id`` and ``reasons`` per result; ``action``, ``decision_id`` and, on a stream
withdrawn by the classifier, ``retract``, ``retract_chars`` and ``retract_fields`` at the top.
A direction that produced nothing (a prompt blocked before the model ran) has empty results.

A client may send ``moderation: {model, policy: {input: {mode}, output: {mode}}}``: the
field is never forwarded upstream; ``mode: block`` is what the gateway does anyway, and
``mode: score`` (report, do not enforce) is honoured only where the policy allows it
(``moderation_requests.allow_score_mode``, e.g. for an evaluation tenant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway import taxonomy
from gateway.decision import Action, Decision
from gateway.errors import InvalidRequest
from gateway.policy.model import Policy

JSONObject = dict[str, Any]
_MODES = ("score", "block")


def result(decision: Decision, model: str | None = None, *, details: bool = True) -> JSONObject:
    """One decision as a moderation result: every taxonomy code, its score (1.0 where a
    keyword, pattern or sanction acted), whether it acted, and the gateway's extras.
    ``details`` False leaves out what a reason matched: for generated text, the matched
    term is a piece of the very text that was withheld."""
    scores = {code: 0.0 for code in taxonomy.codes()}
    scores.update({c: round(v, 6) for c, v in decision.scores.items() if c in scores})
    for reason in decision.reasons:
        if reason.kind in ("keyword", "pattern", "sanction"):
            scores[reason.category] = 1.0
    acting = set(decision.categories)
    out: JSONObject = {
        "flagged": decision.action is not Action.ALLOW,
        "categories": {code: code in acting for code in scores},
        "category_scores": scores,
    }
    if model is not None:  # OpenAI's chat shape carries these; /v1/moderations does not
        out["category_applied_input_types"] = {code: ["text"] for code in scores}
        out["model"] = model
        out["type"] = "moderation_result"
    out["action"] = decision.action.value
    out["decision_id"] = decision.id
    out["reasons"] = [
        {"kind": r.kind, "category": r.category, "action": r.action.value}
        | ({"detail": r.detail} if details or r.kind not in ("keyword", "pattern") else {})
        for r in decision.reasons
    ]
    return out


def _results(decision: Decision | None, model: str, *, details: bool, single: bool) -> JSONObject:
    if single:  # the Responses API: one result, or an "error" where nothing was judged
        if decision is None:
            return {"type": "error", "code": "not_generated",
                    "message": "Nothing was generated: the request was blocked."}  # fmt: skip
        return result(decision, model, details=details)
    return {
        "type": "moderation_results",
        "model": model,
        "results": [result(decision, model, details=details)] if decision is not None else [],
    }


def moderation_field(
    input_decision: Decision | None,
    output_decision: Decision | None,
    model: str,
    *,
    single: bool = False,
) -> JSONObject:
    """``{input, output, action, decision_id}`` for an answer or a stream's last chunk.
    ``single``: the Responses API's shape (one result per direction, not a list)."""
    last = output_decision or input_decision
    return {
        "input": _results(input_decision, model, details=True, single=single),  # client's text
        "output": _results(output_decision, model, details=False, single=single),
        "action": last.action.value if last is not None else Action.ALLOW.value,
        "decision_id": input_decision.id if input_decision is not None else "",
    }


def model_name(version: str) -> str:
    return f"gateway-policy-{version}"


@dataclass(frozen=True, slots=True)
class ModerationRequest:
    """What the client's ``moderation`` field asks for."""

    requested: bool = False  # the client wants the moderation field on every answer
    enforce_input: bool = True  # False: "score" mode for the prompt
    enforce_output: bool = True


def parse_request(body: JSONObject, policy: Policy) -> ModerationRequest:
    """Read (and remove) the request's ``moderation`` field; 400 for a malformed one, or for
    ``score`` where the policy does not allow it."""
    if "moderation" not in body:
        return ModerationRequest()
    field = body.pop("moderation")
    if field is None:
        return ModerationRequest()
    if not isinstance(field, dict):
        raise InvalidRequest("'moderation' must be an object.", param="moderation")
    if not isinstance(field.get("model"), str):
        raise InvalidRequest("'moderation.model' must be a string.", param="moderation.model")
    modes = {"input": "block", "output": "block"}
    rules = field.get("policy")
    if rules is not None and not isinstance(rules, dict):
        raise InvalidRequest("'moderation.policy' must be an object.", param="moderation.policy")
    for direction in ("input", "output"):
        rule = (rules or {}).get(direction)
        if rule is None:
            continue
        param = f"moderation.policy.{direction}.mode"
        mode = rule.get("mode") if isinstance(rule, dict) else None
        if mode not in _MODES:
            raise InvalidRequest(f"'{param}' must be 'score' or 'block'.", param=param)
        modes[direction] = mode
    if "score" in modes.values() and not policy.moderation_requests.allow_score_mode:
        raise InvalidRequest(
            "This gateway enforces its policy: 'score' (report without blocking) is not "
            "allowed here (policy moderation_requests.allow_score_mode).",
            param="moderation.policy",
        )
    return ModerationRequest(True, modes["input"] == "block", modes["output"] == "block")
