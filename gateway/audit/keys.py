"""The decision log's keys, derived from the gateway's one secret (``Settings.pseudonym_key``).

Each use gets its own key, HMAC-SHA256(secret, label), so a value made for one purpose can
never pass as another (a record hash as a checkpoint signature, a text hash as a chain
link). The secret is already required (>= 32 random characters) and lives outside the
database, which is what makes the chain a keyed one: a database administrator without it
can neither recompute a record's hash nor forge a purge anchor or a checkpoint.

Rotating ``pseudonym_key`` therefore starts new keys: chains sealed under the old one no
longer verify with the new one (``verify`` says so), so keep the old secret as long as the
log it sealed.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from functools import lru_cache

CHAIN_LABEL = b"gateway-audit-chain-v1"  # record hashes (the chain links)
ANCHOR_LABEL = b"gateway-audit-anchor-v1"  # purge anchors
CHECKPOINT_LABEL = b"gateway-audit-checkpoint-v1"  # signed chain heads outside the database
TEXT_LABEL = b"gateway-audit-text-v1"  # audit.text: hash
KEY_ID_LABEL = b"gateway-audit-key-id-v1"  # a public fingerprint of the secret


def derive(secret: str | bytes, label: bytes) -> bytes:
    """HMAC-SHA256(secret, label): one 32-byte key per purpose."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.digest(raw, label, "sha256")


@dataclass(frozen=True, slots=True, repr=False)
class AuditKeys:
    """Every key the decision log uses. ``repr`` shows only the key id, so a key never
    reaches a log line or a traceback by accident."""

    chain: bytes
    anchor: bytes
    checkpoint: bytes
    text: bytes
    key_id: str  # 16 hex chars; printed by verify and stored in checkpoints, never secret

    @classmethod
    def from_secret(cls, secret: str | bytes) -> AuditKeys:
        return cls(
            chain=derive(secret, CHAIN_LABEL),
            anchor=derive(secret, ANCHOR_LABEL),
            checkpoint=derive(secret, CHECKPOINT_LABEL),
            text=derive(secret, TEXT_LABEL),
            key_id=derive(secret, KEY_ID_LABEL).hex()[:16],
        )

    def __repr__(self) -> str:
        return f"AuditKeys(key_id={self.key_id!r})"


def mac_hex(key: bytes, data: bytes) -> str:
    return hmac.digest(key, data, "sha256").hex()


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once. Per message
    it costs two SHA-256 copies and updates: ~3 µs against ~8 µs for ``hmac.digest``,
    which sets the key up again on every call. The chain hashes every record with it."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = hashlib.sha256().block_size
        if len(key) > block:
            key = hashlib.sha256(key).digest()
        key = key.ljust(block, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, data: bytes) -> str:
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@lru_cache(maxsize=16)
def hmac_for(key: bytes) -> HmacSha256:
    """The prepared HMAC for ``key`` (a handful of keys per process)."""
    return HmacSha256(key)


def text_hash(text: str, key: bytes) -> str:
    """What ``audit.text: hash`` keeps: ``hmac-sha256:<hex>``. Without the key, short texts
    (a phone number, a one-line prompt) cannot be recovered by hashing guesses."""
    return "hmac-sha256:" + hmac_for(key).hexdigest(text.encode())
