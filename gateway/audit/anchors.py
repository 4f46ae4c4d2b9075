"""Purge anchors (pure): how a chain stays verifiable after its oldest records are deleted.

A purge deletes a prefix of a chain and keeps one ``Anchor`` per chain: the seq, hash and
id of the last record it deleted, so the first remaining record still links to something.
An anchor is sealed with its own derived key (``AuditKeys.anchor``): a database
administrator without the key cannot write one, so deleting the first records of a chain
and inserting an anchor row to make the gap look like a lawful purge is caught.

An anchor also keeps the evidence that the purge was lawful: when it ran (``purged_at``)
and the newest record it deleted (``newest_ts``). ``verify`` holds that age to the
retention (never under six months, Cybersecurity Law Art. 21). When a chain is purged
again, the anchor moves to the new last record but keeps the age pair of the purge that
cut closest to its own time, so a later lawful purge never hides an earlier early one.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from gateway.audit.errors import AuditError
from gateway.audit.keys import mac_hex
from gateway.audit.record import format_ts


class AnchorForged(AuditError):
    """A chain's existing anchor is not sealed with this gateway's key: a purge must not
    re-sign it (that would launder a forged row)."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """The last record a purge removed from a chain."""

    chain_id: str
    seq: int
    hash: str
    record_id: str = ""
    purged_at: datetime | None = None  # when the purge ran (see the module docstring)
    newest_ts: datetime | None = None  # the newest record that purge deleted
    mac: str = ""  # HMAC under AuditKeys.anchor; "" on rows from before keyed anchors

    @property
    def age(self) -> timedelta | None:
        """How old the youngest purged record was when it was purged."""
        if self.purged_at is None or self.newest_ts is None:
            return None
        return self.purged_at - self.newest_ts


def anchor_mac(a: Anchor, key: bytes) -> str:
    body = (
        "anchor-v1", a.chain_id, a.seq, a.hash, a.record_id,
        format_ts(a.purged_at) if a.purged_at else None,
        format_ts(a.newest_ts) if a.newest_ts else None,
    )  # fmt: skip
    return mac_hex(key, orjson.dumps(body))


def anchor_valid(a: Anchor, key: bytes) -> bool:
    return bool(a.mac) and hmac.compare_digest(a.mac, anchor_mac(a, key))


def next_anchor(
    old: Anchor | None,
    *,
    chain_id: str,
    seq: int,
    hash: str,
    record_id: str,
    newest_ts: datetime,
    now: datetime,
    key: bytes,
) -> Anchor:
    """The sealed anchor after purging ``chain_id`` up to ``seq``. Raises ``AnchorForged``
    if the chain's current anchor does not verify."""
    if old is not None and not anchor_valid(old, key):
        raise AnchorForged(
            f"chain {chain_id}: its purge anchor (seq {old.seq}) is not sealed with this "
            "gateway's key; not re-signing it. Run `gateway audit verify`."
        )
    purged_at = now
    if old is not None and old.age is not None and old.age < now - newest_ts:
        purged_at, newest_ts = old.purged_at or now, old.newest_ts or newest_ts
    a = Anchor(chain_id, seq, hash, record_id, purged_at, newest_ts)
    return Anchor(chain_id, seq, hash, record_id, purged_at, newest_ts, anchor_mac(a, key))
