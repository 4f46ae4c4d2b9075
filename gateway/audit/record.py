"""What one decision-log record holds, and how identifying data is minimised before it is kept.

Interim Measures Art. 11 forbids keeping more identifying data than needed, while the
Cybersecurity Law (Art. 21) and Art. 14 require logs of what was stopped and of whom. So the
record keeps a keyed pseudonym instead of the end-user id, and the text only as the policy's
``TextRetention`` says. No request headers are ever copied into a record, so authorization
headers and API keys cannot reach the log; ``keep_text`` also masks key-shaped strings that a
user pasted into a prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gateway.audit.keys import TEXT_LABEL, derive, hmac_for, text_hash
from gateway.audit.recording import Ending
from gateway.audit.redact import mask_pii, mask_secrets
from gateway.decision import Decision

MAX_TEXT_CHARS = 20_000  # bounds one row; longer texts are cut with a marker


class TextRetention(StrEnum):
    NONE = "none"  # keep no text at all
    HASH = "hash"  # keep a keyed hash (HMAC-SHA256) of the text: proves what was seen
    REDACTED = "redacted"  # keep the text with personal data masked
    FULL = "full"  # keep the text (secret-shaped strings are still masked)


class Stage(StrEnum):
    REQUEST = "request"  # the input check, before the upstream is called
    RESPONSE = "response"  # the output check of a whole (non-stream) completion
    STREAM = "stream"  # the output check of a stream; a block here is an incident


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One decision, input or output, allowed ones too. ``id`` is the decision id that the
    gateway returns in ``X-Gateway-Decision-Id``. The chain fields are filled in by the
    writer when the record is committed (see ``gateway.audit.chain``)."""

    id: str
    ts: datetime  # aware, UTC; microsecond precision survives both backends
    direction: str  # gateway.decision.Direction value
    action: str  # gateway.decision.Action value
    tenant: str = ""
    user: str | None = None  # pseudonym from ``pseudonymize``, never the raw id
    request_id: str = ""
    route: str = ""
    stage: str = Stage.REQUEST.value
    incident: bool = False  # output stopped mid-generation (Interim Measures Art. 14(1))
    ending: str = ""  # how the exchange ended (recording.Ending); "" on input records
    sanction: str = ""  # measure taken against the user, if any (Art. 14(2)), e.g. "user suspended"
    categories: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    matched_terms: tuple[str, ...] = ()
    policy_version: str = ""
    model_version: str = ""
    latency_ms: dict[str, float] = field(default_factory=dict)  # per stage
    text_mode: str = TextRetention.NONE.value
    text: str | None = None
    chain_id: str = ""
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the spool, JSONL export and the chain hash all use this form."""
        # Hand-rolled rather than ``asdict``: this runs for every record on the hot path.
        return {
            "id": self.id, "ts": format_ts(self.ts), "direction": self.direction,
            "action": self.action, "tenant": self.tenant, "user": self.user,
            "request_id": self.request_id, "route": self.route, "stage": self.stage,
            "incident": self.incident, "ending": self.ending, "sanction": self.sanction,
            "categories": list(self.categories),
            "scores": dict(self.scores), "matched_terms": list(self.matched_terms),
            "policy_version": self.policy_version, "model_version": self.model_version,
            "latency_ms": dict(self.latency_ms), "text_mode": self.text_mode, "text": self.text,
            "chain_id": self.chain_id, "seq": self.seq, "prev_hash": self.prev_hash,
            "hash": self.hash,
        }  # fmt: skip

    def chained(self, chain_id: str, seq: int, prev_hash: str, hash: str) -> DecisionRecord:
        """A copy with the chain fields set. Positional on purpose: ``dataclasses.replace``
        costs ~25 µs per call, and this runs for every record the gateway writes."""
        return DecisionRecord(
            self.id, self.ts, self.direction, self.action, self.tenant, self.user,
            self.request_id, self.route, self.stage, self.incident, self.ending, self.sanction,
            self.categories,
            self.scores, self.matched_terms, self.policy_version, self.model_version,
            self.latency_ms, self.text_mode, self.text, chain_id, seq, prev_hash, hash,
        )  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DecisionRecord:
        """Inverse of ``to_dict``; unknown keys are errors."""
        values = dict(d)
        ts = values.pop("ts")
        return cls(
            ts=ts if isinstance(ts, datetime) else parse_ts(ts),
            categories=tuple(values.pop("categories", ())),
            matched_terms=tuple(values.pop("matched_terms", ())),
            **values,
        )

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        *,
        text: str | None,
        text_mode: TextRetention,
        pseudonym_key: str | bytes,
        user_id: str | None = None,
        tenant: str = "",
        request_id: str = "",
        route: str = "",
        stage: Stage = Stage.REQUEST,
        model_version: str = "",
        latency_ms: Mapping[str, float] | None = None,
        ts: datetime | None = None,
        incident: bool | None = None,
        ending: Ending | str = Ending.NONE,
        text_key: bytes | None = None,
    ) -> DecisionRecord:
        """Build the record for a pipeline ``Decision``. ``text`` is the checked text;
        what is kept of it follows ``text_mode`` (``hash`` keys it with ``text_key``, by
        default derived from ``pseudonym_key``). Unless told, a blocked stream is an
        incident (output stopped mid-generation)."""
        if text_key is None and text_mode is TextRetention.HASH:
            text_key = derive(pseudonym_key, TEXT_LABEL)
        redacted = "\n".join(decision.redacted) if decision.redacted else None
        return cls(
            id=decision.id,
            ts=ts or datetime.now(UTC),
            direction=decision.direction.value,
            action=decision.action.value,
            tenant=tenant,
            user=pseudonymize(user_id, pseudonym_key) if user_id else None,
            request_id=request_id,
            route=route,
            stage=stage.value,
            incident=(stage is Stage.STREAM and decision.blocked) if incident is None else incident,
            ending=Ending(ending).value,
            sanction="; ".join(
                dict.fromkeys(r.detail for r in decision.reasons if r.kind == "sanction")
            ),
            categories=tuple(decision.categories),
            scores=dict(decision.scores),
            matched_terms=_matched_terms(decision),
            policy_version=decision.policy_version,
            model_version=model_version,
            latency_ms=dict(latency_ms or {}),
            text_mode=text_mode.value,
            text=(
                keep_text(text, text_mode, redacted, text_key=text_key)
                if text is not None
                else None
            ),
        )


def _matched_terms(decision: Decision) -> tuple[str, ...]:
    terms = (r.detail for r in decision.reasons if r.kind in ("keyword", "pattern"))
    return tuple(dict.fromkeys(terms))  # de-duplicated, first-seen order


def pseudonymize(user_id: str, key: str | bytes) -> str:
    """A stable pseudonym for an end-user id: HMAC-SHA256 under a secret key, 128 bits hex.

    Without the key, the pseudonym cannot be linked back to the id by guessing ids, yet
    the same user maps to the same value, so per-user sanctions stay traceable (Art. 14(2))."""
    k = key.encode() if isinstance(key, str) else key
    return hmac_for(k).hexdigest(user_id.encode())[:32]


def keep_text(
    text: str,
    mode: TextRetention | str,
    redacted: str | None = None,
    max_chars: int = MAX_TEXT_CHARS,
    *,
    text_key: bytes | None = None,
) -> str | None:
    """What of ``text`` the log keeps under ``mode``.

    ``hash`` keeps ``hmac-sha256:<hex>`` under ``text_key`` (``AuditKeys.text``): an
    unkeyed hash of a short text (a phone number, a one-line prompt) is undone by hashing
    guesses. ``redacted`` is the pipeline's own redaction (spans replaced) when it has one;
    otherwise personal data (phone, ID-card, bank-card numbers, e-mail) is masked here. Secret-shaped
    strings (bearer tokens, API keys) are masked in every mode that keeps text."""
    match TextRetention(mode):
        case TextRetention.NONE:
            return None
        case TextRetention.HASH:
            if text_key is None:
                raise ValueError("audit.text: hash needs the text key (AuditKeys.text)")
            return text_hash(text, text_key)
        case TextRetention.REDACTED:
            # Secrets first: a PII mask inside a key (16 digits look like a card number)
            # would leave the rest of the key unrecognised.
            kept = mask_pii(mask_secrets(redacted if redacted is not None else text))
        case TextRetention.FULL:
            kept = mask_secrets(text)
    return kept if len(kept) <= max_chars else kept[:max_chars] + "…[truncated]"


def format_ts(ts: datetime) -> str:
    """Fixed-width UTC form, so text timestamps sort correctly and hash the same everywhere."""
    s = ts.isoformat(timespec="microseconds")
    if s.endswith("+00:00"):  # the common case, without the ~5 µs of astimezone
        return s[:-6] + "Z"
    return ts.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_ts(s: str) -> datetime:
    ts = datetime.fromisoformat(s)
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def record_columns() -> Sequence[str]:
    """Column order used by the stores and the CSV/XLSX exports."""
    return _COLUMNS


_COLUMNS: tuple[str, ...] = tuple(DecisionRecord.__dataclass_fields__)
