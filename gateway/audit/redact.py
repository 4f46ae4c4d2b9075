"""Masks for what the decision log must not keep: personal data and secrets.

Patterns are deliberately simple and compiled once; they err towards masking (a false
mask costs a little evidence, a missed one keeps personal data against Art. 11).
"""

from __future__ import annotations

import re

_PII = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), "[id-card]"),  # PRC resident ID
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), "[card]"),  # bank cards
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"), "[phone]"),
)
_SECRETS = (
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer [secret]"),
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"), "[api-key]"),
    (re.compile(r"(?i)\b(api[_-]?key|authorization|x-api-key)\s*[:=]\s*\S+"), r"\1: [secret]"),
)


def mask_pii(text: str) -> str:
    for pattern, label in _PII:
        text = pattern.sub(label, text)
    return text


def mask_secrets(text: str) -> str:
    for pattern, label in _SECRETS:
        text = pattern.sub(label, text)
    return text
