"""Records: pseudonyms, text retention, secret masking, and building from a Decision."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from gateway.audit import DecisionRecord, TextRetention, keep_text, pseudonymize
from gateway.audit.keys import TEXT_LABEL, AuditKeys, derive, text_hash
from gateway.audit.record import Stage, format_ts
from gateway.audit.recording import Ending
from gateway.decision import Action, Decision, Direction, Reason
from tests.support.audit import KEYS

TEXT = "我的手机号是13812345678，邮箱 zhang.san@example.com，身份证11010519491231002X"


def test_pseudonym_is_keyed_stable_and_not_the_id() -> None:
    a = pseudonymize("user-42", "key-1")
    assert a == pseudonymize("user-42", "key-1")
    assert a != pseudonymize("user-42", "key-2")
    assert a != pseudonymize("user-43", "key-1")
    assert "user-42" not in a and len(a) == 32
    int(a, 16)  # hex


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (TextRetention.NONE, None),
        (TextRetention.FULL, TEXT),
        (TextRetention.REDACTED, "我的手机号是[phone]，邮箱 [email]，身份证[id-card]"),
    ],
)
def test_keep_text_modes(mode: TextRetention, expected: str | None) -> None:
    assert keep_text(TEXT, mode, text_key=KEYS.text) == expected


def test_hash_mode_keeps_a_keyed_hash_that_guessing_cannot_undo() -> None:
    phone = "13812345678"
    kept = keep_text(phone, TextRetention.HASH, text_key=KEYS.text)
    assert kept is not None and kept.startswith("hmac-sha256:") and len(kept) == 12 + 64
    assert kept == text_hash(phone, KEYS.text)  # what `gateway audit hash-text` prints
    # An attacker without the key who hashes every phone number finds nothing:
    assert hashlib.sha256(phone.encode()).hexdigest() not in kept
    other = AuditKeys.from_secret("another-secret-of-at-least-32-characters!")
    assert keep_text(phone, TextRetention.HASH, text_key=other.text) != kept
    with pytest.raises(ValueError, match="needs the text key"):
        keep_text(phone, TextRetention.HASH)


def test_keys_are_separate_per_purpose_and_never_printed() -> None:
    keys = AuditKeys.from_secret("s" * 32)
    assert len({keys.chain, keys.anchor, keys.checkpoint, keys.text}) == 4
    assert keys.text == derive("s" * 32, TEXT_LABEL) != ("s" * 32).encode()
    assert repr(keys) == f"AuditKeys(key_id={keys.key_id!r})" and len(keys.key_id) == 16


def test_redacted_prefers_the_pipelines_redaction() -> None:
    assert keep_text("骂人的话", "redacted", redacted="**的话") == "**的话"


@pytest.mark.parametrize("mode", [TextRetention.FULL, TextRetention.REDACTED])
def test_secrets_never_kept(mode: TextRetention) -> None:
    text = "Authorization: Bearer abcdefghijklmnop12345 and key sk-proj-ABCDEFGHIJKLMNOPQRSTUV"
    kept = keep_text(text, mode)
    assert kept is not None
    assert "abcdefghijklmnop12345" not in kept
    assert "ABCDEFGHIJKLMNOPQRSTUV" not in kept


def test_a_key_with_a_card_like_digit_run_is_masked_whole_in_redacted_mode() -> None:
    key = "AKID1234567890123456789abcdefghijklm"  # 19 digits: also a "card number"
    assert keep_text(f"id {key}", TextRetention.REDACTED) == "id [tencent-secret-id]"


def test_long_text_is_bounded() -> None:
    kept = keep_text("字" * 50_000, "full", max_chars=1000)
    assert kept is not None and len(kept) < 1100 and kept.endswith("[truncated]")


def test_from_decision_stream_block_is_an_incident() -> None:
    decision = Decision(
        id="dec-1",
        direction=Direction.OUTPUT,
        action=Action.BLOCK,
        categories=("A1.04",),
        scores={"A1.04": 0.97},
        reasons=(
            Reason("keyword", "A1.04", "恐怖袭击", Action.BLOCK),
            Reason("keyword", "A1.04", "恐怖袭击", Action.BLOCK),
            Reason("classifier", "A1.04", "score 0.97 >= 0.80", Action.BLOCK),
            Reason("sanction", "X4", "user restricted: escalated", Action.BLOCK),
        ),
        policy_version="pv1",
    )
    r = DecisionRecord.from_decision(
        decision,
        text="secret text",
        text_mode=TextRetention.HASH,
        pseudonym_key="k",
        user_id="alice",
        tenant="acme",
        request_id="req-9",
        route="/v1/chat/completions",
        stage=Stage.STREAM,
        model_version="m1",
        latency_ms={"lexicon": 0.2},
    )
    assert r.id == "dec-1" and r.incident and r.stage == "stream"
    assert r.matched_terms == ("恐怖袭击",)  # de-duplicated; classifier reasons are not terms
    assert r.user == pseudonymize("alice", "k")
    assert r.text == text_hash("secret text", derive("k", TEXT_LABEL))  # keyed, derived
    assert r.policy_version == "pv1" and r.scores == {"A1.04": 0.97}
    assert r.sanction == "user restricted: escalated"


def test_from_decision_input_block_is_not_an_incident() -> None:
    d = Decision(id="d", direction=Direction.INPUT, action=Action.BLOCK)
    r = DecisionRecord.from_decision(d, text=None, text_mode=TextRetention.FULL, pseudonym_key="k")
    assert not r.incident and r.user is None and r.text is None and r.ending == ""


@pytest.mark.parametrize("ending", list(Ending))
def test_from_decision_keeps_the_ending(ending: Ending) -> None:
    d = Decision(id="d", direction=Direction.OUTPUT, action=Action.ALLOW)
    r = DecisionRecord.from_decision(
        d, text=None, text_mode=TextRetention.NONE, pseudonym_key="k", ending=ending
    )
    assert r.ending == ending.value and DecisionRecord.from_dict(r.to_dict()) == r


def test_from_decision_refuses_an_unknown_ending() -> None:
    d = Decision(id="d", direction=Direction.OUTPUT, action=Action.ALLOW)
    with pytest.raises(ValueError, match="'finished' is not a valid Ending"):
        DecisionRecord.from_decision(
            d, text=None, text_mode=TextRetention.NONE, pseudonym_key="k", ending="finished"
        )


def test_dict_round_trip_and_fixed_width_ts() -> None:
    r = DecisionRecord(
        id="x", ts=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), direction="input", action="flag",
        categories=("A2.01", "A3.02"), scores={"A2.01": 0.5}, matched_terms=("词",),
    )  # fmt: skip
    assert DecisionRecord.from_dict(r.to_dict()) == r
    assert format_ts(r.ts) == "2026-01-02T03:04:05.000000Z"
    with pytest.raises(TypeError):
        DecisionRecord.from_dict({**r.to_dict(), "authorization": "Bearer x"})


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(200))])
def test_prepared_hmac_is_rfc_2104(key: bytes) -> None:
    import hmac

    from gateway.audit.keys import HmacSha256

    for message in (b"", b"abc", "决策".encode() * 300):
        expected = hmac.new(key, message, hashlib.sha256).hexdigest()
        assert HmacSha256(key).hexdigest(message) == expected
