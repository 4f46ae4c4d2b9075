"""The secret masks: every common key format is masked, and look-alikes are left alone.

Key-shaped strings below are built from fixed filler, never real credentials.
"""

from __future__ import annotations

import pytest

from gateway.audit.redact import mask_pii, mask_secrets

A36 = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # 36 alphanumerics
PEM_RSA = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq0+ZZ3\nq1w2e3r4t5y6==\n"
    "-----END RSA PRIVATE KEY-----"
)
PEM_OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)

MASKED = [
    # (what it is, text, the label that must replace it)
    ("openai key", "key sk-proj-" + A36, "key [api-key]"),
    ("openai legacy key", "sk-" + A36 + "xyz", "[api-key]"),
    ("anthropic key", "用这个 sk-ant-api03-" + A36 + "-AA 调用", "用这个 [api-key] 调用"),
    ("github classic pat", "token ghp_" + A36, "token [github-token]"),
    ("github oauth", "gho_" + A36, "[github-token]"),
    ("github user-to-server", "ghu_" + A36, "[github-token]"),
    ("github server-to-server", "ghs_" + A36, "[github-token]"),
    ("github refresh", "ghr_" + A36, "[github-token]"),
    ("github fine-grained pat", "github_pat_11ABCDEFG0123456789_" + A36, "[github-token]"),
    ("aws access key id", "id AKIAIOSFODNN7EXAMPLE ok", "id [aws-access-key-id] ok"),
    ("aws temporary key id", "ASIAY34FZKBOKMUTVV7A", "[aws-access-key-id]"),
    (
        "aws secret key assignment",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = [secret]",
    ),
    (
        "aws secret key in json",
        '{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}',
        '{"SecretAccessKey": [secret]}',
    ),
    (
        "aws session token",
        "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEXAMPLE",
        "AWS_SESSION_TOKEN=[secret]",
    ),
    ("google api key", "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "[google-api-key]"),
    ("slack bot token", "xoxb-123456789012-1234567890123-" + A36[:24], "[slack-token]"),
    ("slack user token", "xoxp-1234567890-abcdefghij", "[slack-token]"),
    ("slack app token", "xoxa-2-1234567890-abcdef", "[slack-token]"),
    ("slack refresh token", "xoxr-1234567890-abcdef", "[slack-token]"),
    ("stripe live secret", "sk_live_" + A36[:24], "[stripe-key]"),
    ("stripe restricted", "rk_live_" + A36[:24], "[stripe-key]"),
    ("stripe test secret", "sk_test_" + A36[:24], "[stripe-key]"),
    ("jwt", "cookie " + JWT + " end", "cookie [jwt] end"),
    ("bearer jwt", "Authorization: Bearer " + JWT, "Authorization: Bearer [jwt]"),
    ("bearer token", "authorization: bearer abcdefghij.klmn", "authorization: Bearer [secret]"),
    ("pem rsa private key", "key:\n" + PEM_RSA + "\nthanks", "key:\n[private-key]\nthanks"),
    ("pem openssh private key", PEM_OPENSSH, "[private-key]"),
    ("pem without its end line", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg==", "[private-key]"),
    (
        "alibaba access key id",
        "阿里云 LTAI5tQ9x2Yb7Zk3Hm8Wn1Pc 密钥",
        "阿里云 [alibaba-access-key-id] 密钥",
    ),
    ("alibaba old access key id", "LTAIabcd1234efgh5678", "[alibaba-access-key-id]"),
    ("tencent secret id", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "[tencent-secret-id]"),
    ("api key assignment", 'api_key: "abc123def456"', "api_key: [secret]"),
    ("client secret", "client_secret=Zx9-Yw8_Vu7", "client_secret=[secret]"),
]


@pytest.mark.parametrize(("kind", "text", "expected"), MASKED, ids=[m[0] for m in MASKED])
def test_key_formats_are_masked(kind: str, text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


NEAR_MISSES = [
    # (what it is, text): each must come out unchanged
    ("scikit-learn", "pip install sk-learn and scikit-learn"),
    ("a word ending in sk-", "task-ABCDEFGHIJKLMNOPQRST is a ticket id"),
    ("short sk- prefix", "sk-1234"),
    ("prefix alone", "GitHub tokens start with ghp_ or github_pat_"),
    ("short ghp_", "ghp_abc123"),
    ("AKIA in prose", "AKIA keys are long-term; ASIA keys are temporary"),
    ("AKIA too short", "AKIA1234"),
    ("AKIA lower case", "AKIAiosfodnn7example"),
    ("aws secret without a name", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("AIza too short", "AIzaShort and AIza"),
    ("slack lookalike", "xoxo-hugs-and-kisses-forever and xoxq-1234567890-abcdef"),
    ("stripe publishable key", "pk_live_" + A36[:24]),
    ("stripe placeholder", "sk_live_..."),
    ("one jwt segment", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"),
    (
        "pem public key",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZI\n-----END PUBLIC KEY-----",
    ),
    (
        "pem certificate",
        "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----",
    ),
    ("LTAI too short", "LTAI is Alibaba's prefix; LTAI123"),
    ("AKID too short", "AKID12345"),
    ("git commit sha", "fixed in 3f786850e387550fdab836ed7e6dc881de23001b"),
    ("uuid", "request 123e4567-e89b-12d3-a456-426614174000"),
    ("api key in prose", "how do I rotate an api key safely?"),
    ("chinese prose", "请帮我写一段介绍密钥管理的文字"),
]


@pytest.mark.parametrize(("kind", "text"), NEAR_MISSES, ids=[m[0] for m in NEAR_MISSES])
def test_look_alikes_stay(kind: str, text: str) -> None:
    assert mask_secrets(text) == text


def test_pii_masks_still_apply() -> None:
    text = "电话 13812345678，邮箱 a.b@example.cn"
    assert mask_pii(text) == "电话 [phone]，邮箱 [email]"
