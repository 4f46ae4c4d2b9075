"""PII detectors (A4.06) with valid and invalid checksums, and redaction."""

from __future__ import annotations

import pytest

from gateway.lexicon.patterns import (
    ALL_KINDS,
    BANK_CARD,
    CN_ID,
    CN_MOBILE,
    EMAIL,
    PatternHit,
    find_pii,
    is_valid_cn_id,
    luhn_ok,
    redact,
)

VALID_ID = "11010519491231002X"  # the GB 11643 standard's example
VALID_ID_2 = "110101200001010010"
VALID_CARD = "6222021234567894"


def kinds(text: str) -> list[tuple[str, str]]:
    return [(h.kind, text[h.start : h.end]) for h in find_pii(text)]


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (VALID_ID, True),
        (VALID_ID.lower(), True),
        (VALID_ID_2, True),
        ("110105194912310021", False),  # wrong check character
        ("110105194913310028", False),  # month 13
        ("110105194902300025", False),  # 30 February
        ("010105194912310021", False),  # region cannot start with 0
        ("11010519491231002", False),  # too short
    ],
)
def test_cn_id_checksum(number: str, valid: bool) -> None:
    assert is_valid_cn_id(number) is valid
    assert (kinds(f"身份证号{number}。") == [(CN_ID, number)]) is valid


def test_cn_id_full_width_digits() -> None:
    fw = VALID_ID_2.translate({c: c + 0xFEE0 for c in range(0x30, 0x3A)})
    assert kinds(f"号码{fw}") == [(CN_ID, fw)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("手机13812345678", "13812345678"),
        ("call +86 138-1234-5678 now", "+86 138-1234-5678"),
        ("电话：138 1234 5678。", "138 1234 5678"),
        ("８６１３８１２３４５６７８", "８６１３８１２３４５６７８"),
    ],
)
def test_mobile_numbers(text: str, found: str) -> None:
    assert kinds(text) == [(CN_MOBILE, found)]


@pytest.mark.parametrize("text", ["12812345678", "订单号213812345678901", "1381234567"])
def test_not_mobile_numbers(text: str) -> None:
    assert CN_MOBILE not in {k for k, _ in kinds(text)}


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (VALID_CARD, True),
        ("4111111111111111", True),
        ("6222021234567890", False),
        ("4111111111111112", False),
    ],
)
def test_bank_card_luhn(number: str, valid: bool) -> None:
    assert luhn_ok(number) is valid
    grouped = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    assert (kinds(f"卡号{grouped}") == [(BANK_CARD, grouped)]) is valid


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("邮箱a.b+tag@example.com。", "a.b+tag@example.com"),
        ("write to Zhang_San@mail.sub.example.cn, thanks", "Zhang_San@mail.sub.example.cn"),
    ],
)
def test_email(text: str, found: str) -> None:
    assert kinds(text) == [(EMAIL, found)]


@pytest.mark.parametrize("text", ["a@b", "@example.com", "user@localhost"])
def test_not_email(text: str) -> None:
    assert kinds(text) == []


def test_id_wins_over_bank_card_overlap() -> None:
    # An 18-digit ID may also pass Luhn; it must be reported once, as an ID.
    assert [k for k, _ in kinds(VALID_ID_2)] == [CN_ID]


def test_kinds_filter() -> None:
    text = f"{VALID_ID} 13812345678 a@example.com"
    assert [h.kind for h in find_pii(text, kinds={EMAIL})] == [EMAIL]
    assert {h.kind for h in find_pii(text)} == {CN_ID, CN_MOBILE, EMAIL}
    assert ALL_KINDS == {CN_ID, CN_MOBILE, BANK_CARD, EMAIL}


def test_redact_merges_and_masks() -> None:
    text = f"身份证{VALID_ID}，手机13812345678"
    spans = [(h.start, h.end) for h in find_pii(text)]
    assert redact(text, spans) == "身份证[已脱敏]，手机[已脱敏]"
    assert redact("abcdef", [(1, 3), (2, 4), (5, 9)], mask="*") == "a*e*"
    assert redact("abc", []) == "abc"


def test_pattern_hit_shape() -> None:
    assert find_pii("a@example.com") == [PatternHit(EMAIL, 0, 13)]
