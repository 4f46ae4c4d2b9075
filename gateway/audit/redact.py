"""Masks for what the decision log must not keep: personal data and secrets.

Patterns are deliberately simple and compiled once; they err towards masking (a false
mask costs a little evidence, a missed one keeps personal data against Art. 11, or a
live credential in a log that compliance staff export).

Secrets are recognised by their vendor formats, each replaced by a label that still says
what kind of secret was there (evidence that a user pasted one). Formats without a
distinctive prefix (an AWS secret access key is 40 base64 characters) are caught only
where they are assigned to a telling name (``aws_secret_access_key = ...``).
"""

from __future__ import annotations

import re

_PII = (
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), "[id-card]"),  # PRC resident ID
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), "[card]"),  # bank cards
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"), "[phone]"),
)

_TAIL = r"(?![A-Za-z0-9_-])"  # a token ends where its alphabet does
_SECRETS = (
    # Whole PEM private-key blocks (RSA, EC, OPENSSH, ENCRYPTED ...); a block pasted without
    # its END line is masked to the end of its base64 body.
    (
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"
            r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|[A-Za-z0-9+/=:,\-\s]*)"
        ),
        "[private-key]",
    ),
    # JSON Web Tokens: base64url header and payload both start with '{"' (eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"), "[jwt]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer [secret]"),
    # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), and other sk-/pk-/rk- API keys.
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"), "[api-key]"),
    # GitHub: classic tokens (ghp_, gho_, ghu_, ghs_, ghr_ + 36) and fine-grained PATs.
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}" + _TAIL), "[github-token]"),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), "[github-token]"),
    # AWS access key ids: long-term (AKIA) and temporary (ASIA), 20 characters.
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"), "[aws-access-key-id]"),
    # Google API keys: AIza + 35.
    (re.compile(r"\bAIza[A-Za-z0-9_-]{35}" + _TAIL), "[google-api-key]"),
    # Slack bot, app, user and refresh tokens.
    (re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"), "[slack-token]"),
    # Stripe secret and restricted keys.
    (re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}"), "[stripe-key]"),
    # Alibaba Cloud AccessKey ids and Tencent Cloud SecretIds.
    (re.compile(r"\bLTAI[A-Za-z0-9]{12,30}(?![A-Za-z0-9])"), "[alibaba-access-key-id]"),
    (re.compile(r"\bAKID[A-Za-z0-9]{13,40}(?![A-Za-z0-9])"), "[tencent-secret-id]"),
    # Secrets assigned to telling names (config lines, env files, JSON).
    (
        re.compile(
            r"(?i)\b(api[_-]?key|authorization|x-api-key|aws[_-]?secret[_-]?access[_-]?key"
            r"|secret[_-]?access[_-]?key|aws[_-]?session[_-]?token|client[_-]?secret)"
            r"""(["']?\s*[:=]\s*)(?!\[|bearer\s)["']?[^\s"',;]+["']?"""
        ),
        r"\1\2[secret]",
    ),
)


def mask_pii(text: str) -> str:
    for pattern, label in _PII:
        text = pattern.sub(label, text)
    return text


def mask_secrets(text: str) -> str:
    for pattern, label in _SECRETS:
        text = pattern.sub(label, text)
    return text
