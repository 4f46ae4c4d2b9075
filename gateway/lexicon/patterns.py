"""Detectors for personal information (TC260-003 A4.06) and redaction.

Detectors are regexes plus a checksum where the format has one, so random digit runs do
not fire: PRC resident ID numbers (GB 11643-1999: region, valid birth date, ISO 7064
MOD 11-2 check character), mainland mobile numbers, bank card numbers (Luhn) and e-mail
addresses. Digits may be full-width (``１３８…``) and grouped with spaces or dashes
(``138 1234 5678``, ``6222 0212 3456 7890``), as people type them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date

CN_ID = "cn_id"
CN_MOBILE = "cn_mobile"
BANK_CARD = "bank_card"
EMAIL = "email"
ALL_KINDS: frozenset[str] = frozenset({CN_ID, CN_MOBILE, BANK_CARD, EMAIL})

# When spans overlap, the more specific kind wins (an 18-digit ID can pass Luhn too).
_PRIORITY = {CN_ID: 0, CN_MOBILE: 1, BANK_CARD: 2, EMAIL: 3}


@dataclass(frozen=True, slots=True)
class PatternHit:
    """A detected item: its kind and its span in the text."""

    kind: str
    start: int
    end: int


_D = r"[0-9０-９]"
_NOT_DIGIT_BEFORE = r"(?<![0-9０-９A-Za-z])"
_NOT_DIGIT_AFTER = r"(?![0-9０-９A-Za-z])"

_ID_RE = re.compile(rf"{_NOT_DIGIT_BEFORE}{_D}{{17}}[0-9０-９Xx]{_NOT_DIGIT_AFTER}")
_MOBILE_RE = re.compile(
    rf"{_NOT_DIGIT_BEFORE}(?:[+＋]?[8８][6６][ -]?)?[1１][3-9３-９]{_D}(?:[ -]?{_D}{{4}}){{2}}{_NOT_DIGIT_AFTER}"
)
# 13-19 digits, optionally in groups separated by single spaces or dashes.
_CARD_RE = re.compile(rf"{_NOT_DIGIT_BEFORE}{_D}(?:[ -]?{_D}){{12,18}}{_NOT_DIGIT_AFTER}")
_EMAIL_RE = re.compile(
    # ASCII-only boundaries: CJK counts as \w in Python, and "邮箱a@b.cn" has no space.
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*"
    r"\.[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _digits(s: str) -> str:
    # int() accepts full-width digits; normalize them so slicing and checks are simple.
    return "".join(str(int(c)) for c in s if c.isdigit())


def is_valid_cn_id(number: str) -> bool:
    """A GB 11643 resident ID: 18 chars, plausible region and birth date, right check char."""
    body, check = number[:17], number[17:].upper()
    if len(number) != 18 or not body.isdigit() or body[0] == "0":
        return False
    body = _digits(body)
    try:
        born = date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    expected = _ID_CHECK[total % 11]
    return (_digits(check) if check.isdigit() else check) == expected


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by bank card numbers."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_MAYBE_PII = re.compile(r"[0-9０-９@＠]")


def find_pii(text: str, kinds: Collection[str] = ALL_KINDS) -> list[PatternHit]:
    """Personal information in ``text``, non-overlapping, sorted by start."""
    if _MAYBE_PII.search(text) is None:
        return []  # every kind needs a digit or an @: most texts have neither
    found: list[PatternHit] = []
    if CN_ID in kinds:
        found += [
            PatternHit(CN_ID, *m.span()) for m in _ID_RE.finditer(text) if is_valid_cn_id(m.group())
        ]
    if CN_MOBILE in kinds:
        found += [PatternHit(CN_MOBILE, *m.span()) for m in _MOBILE_RE.finditer(text)]
    if BANK_CARD in kinds:
        for m in _CARD_RE.finditer(text):
            digits = _digits(m.group())
            if 13 <= len(digits) <= 19 and luhn_ok(digits):
                found.append(PatternHit(BANK_CARD, *m.span()))
    if EMAIL in kinds:
        found += [PatternHit(EMAIL, *m.span()) for m in _EMAIL_RE.finditer(text)]
    return _drop_overlaps(found)


def _drop_overlaps(hits: list[PatternHit]) -> list[PatternHit]:
    kept: list[PatternHit] = []
    for hit in sorted(hits, key=lambda h: (_PRIORITY[h.kind], h.start)):
        if all(hit.end <= k.start or k.end <= hit.start for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


def redact(text: str, spans: Iterable[tuple[int, int]], mask: str = "[已脱敏]") -> str:
    """Replace each span (merged where they overlap or touch) with ``mask``."""
    merged: list[list[int]] = []
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces: list[str] = []
    pos = 0
    for start, end in merged:
        pieces.append(text[pos:start])
        pieces.append(mask)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)
