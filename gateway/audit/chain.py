"""Keyed hash chaining: tamper evidence for the decision log (pure; no I/O, no clock).

Each record carries ``prev_hash``, the hash of the record before it in its chain, and
``hash``, an HMAC-SHA256 of its own canonical JSON under the chain key (``AuditKeys.chain``,
derived from the gateway's secret, which is not in the database). The body includes
``prev_hash`` but not ``seq``: the links, not the numbers, carry the order, so renumbering
rows cannot hide an edit. One chain per writer instance (``chain_id``), numbered by ``seq``
from 1 without gaps.

Without the key nobody can make a valid hash, so editing a record, even with every later
hash recomputed, breaks that record's own hash; deleting one leaves a gap or a broken link;
inserting one makes the record after it link past the intruder. A purge keeps an anchor
(``gateway.audit.anchors``) so the chain stays verifiable across the purge boundary. What a
chain alone cannot show is the loss of its newest records: that is what the signed
checkpoints outside the database are for (``gateway.audit.checkpoint``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from gateway.audit.anchors import Anchor
from gateway.audit.keys import HmacSha256, hmac_for
from gateway.audit.record import DecisionRecord, format_ts

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last committed link of one chain; the next record gets ``seq + 1``."""

    chain_id: str
    seq: int = 0
    hash: str = GENESIS


@dataclass(frozen=True, slots=True)
class Problem:
    """The first inconsistency found in one chain (or in its anchor or checkpoints)."""

    chain_id: str
    seq: int
    record_id: str
    # "modified" | "deleted" | "inserted" | "broken-link" | "unkeyed" | "truncated" |
    # "anchor-forged" | "anchor-backdated" | "early-purge" | "checkpoint-mismatch" |
    # "checkpoint-forged"
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"chain {self.chain_id} seq {self.seq} (id {self.record_id}): {self.kind}: {self.detail}"


def record_hash(record: DecisionRecord, key: bytes) -> str:
    return _hash(record, record.chain_id, record.prev_hash, hmac_for(key))


def _body(r: DecisionRecord, chain_id: str, prev_hash: str) -> bytes:
    """A JSON array of every field in a fixed order, except ``seq`` (see the module
    docstring) and ``hash`` itself. An array rather than an object: it skips building and
    sorting a dict, a third of the writer's CPU per record."""
    body = (
        "v2", r.id, format_ts(r.ts), r.direction, r.action, r.tenant, r.user, r.request_id,
        r.route, r.stage, r.incident, r.ending, r.sanction, r.categories, r.scores,
        r.matched_terms, r.policy_version, r.model_version, r.latency_ms, r.text_mode, r.text,
        chain_id, prev_hash,
    )  # fmt: skip
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _hash(r: DecisionRecord, chain_id: str, prev_hash: str, mac: HmacSha256) -> str:
    return mac.hexdigest(_body(r, chain_id, prev_hash))


def unkeyed_hash(r: DecisionRecord) -> str:
    """The plain SHA-256 that chains were sealed with before they were keyed; used only to
    tell such a chain apart from a tampered one in ``verify``."""
    body = (
        r.id, format_ts(r.ts), r.direction, r.action, r.tenant, r.user, r.request_id,
        r.route, r.stage, r.incident, r.sanction, r.categories, r.scores, r.matched_terms,
        r.policy_version, r.model_version, r.latency_ms, r.text_mode, r.text,
        r.chain_id, r.prev_hash,
    )  # fmt: skip
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def seal(
    records: Sequence[DecisionRecord], head: ChainHead, key: bytes
) -> tuple[list[DecisionRecord], ChainHead]:
    """Link ``records`` after ``head`` under the chain key. The caller adopts the returned
    head only once the records are durable, so a failed batch leaves no gap in the chain."""
    sealed: list[DecisionRecord] = []
    chain_id, seq, prev = head.chain_id, head.seq, head.hash
    mac = hmac_for(key)
    for r in records:
        seq += 1
        h = _hash(r, chain_id, prev, mac)
        sealed.append(r.chained(chain_id, seq, prev, h))
        prev = h
    return sealed, ChainHead(chain_id, seq, prev)


class ChainVerifier:
    """Checks records fed in ``(chain_id, seq)`` order under the chain key; keeps the first
    problem per chain. ``anchors`` are the start points of purged chains; pass only those
    whose seal verified (``gateway.audit.verify`` does).

    Memory is bounded by the number of chains, not records."""

    def __init__(self, key: bytes, anchors: Mapping[str, Anchor] | None = None) -> None:
        self._key = key
        self._anchors = dict(anchors or {})
        self._chain: str | None = None
        self._first = True  # the next record is the first one seen of its chain
        self._expect_seq = 1
        self._expect_prev = GENESIS
        self._before_prev = ""  # hash two links back, to tell an insertion from a deletion
        self._prev_id = ""
        self.failed: set[str] = set()
        self.problems: list[Problem] = []
        self.heads: dict[str, ChainHead] = {}
        self.head_ids: dict[str, str] = {}  # chain -> id of its head record
        self.checked = 0

    def feed_all(self, records: Iterable[DecisionRecord]) -> None:
        for r in records:
            self.feed(r)

    def feed(self, r: DecisionRecord) -> None:
        if r.chain_id != self._chain:
            self._start(r.chain_id)
        if r.chain_id in self.failed:
            return
        self.checked += 1
        problem = self._check(r)
        self._first = False
        if problem is not None:
            self.failed.add(r.chain_id)
            self.problems.append(problem)
            return
        self._before_prev, self._expect_prev = self._expect_prev, r.hash
        self._expect_seq = r.seq + 1
        self._prev_id = r.id
        self.heads[r.chain_id] = ChainHead(r.chain_id, r.seq, r.hash)
        self.head_ids[r.chain_id] = r.id

    def _start(self, chain_id: str) -> None:
        self._chain = chain_id
        self._first = True
        anchor = self._anchors.get(chain_id)
        self._expect_seq = anchor.seq + 1 if anchor else 1
        self._expect_prev = anchor.hash if anchor else GENESIS
        self._before_prev = ""

    def _check(self, r: DecisionRecord) -> Problem | None:
        def problem(kind: str, detail: str) -> Problem:
            return Problem(r.chain_id, r.seq, r.id, kind, detail)

        if not hmac.compare_digest(record_hash(r, self._key), r.hash):
            if self._first and unkeyed_hash(r) == r.hash:
                return problem(
                    "unkeyed",
                    "this chain was not sealed with this gateway's key: it is a plain SHA-256 "
                    "chain from before keyed chains, which verify no longer supports",
                )
            return problem("modified", "content does not match its keyed hash")
        if r.seq < self._expect_seq:
            return problem(
                "inserted", f"seq {r.seq} repeats or precedes seq {self._expect_seq - 1}"
            )
        if r.seq > self._expect_seq:
            gap = f"{self._expect_seq}" + (f"..{r.seq - 1}" if r.seq - 1 > self._expect_seq else "")
            return problem("deleted", f"record(s) seq {gap} missing before this one")
        if r.prev_hash != self._expect_prev:
            if self._before_prev and r.prev_hash == self._before_prev:
                return Problem(
                    r.chain_id, r.seq - 1, self._prev_id, "inserted",
                    f"seq {r.seq} is chained to the record before this one, which was put in later",
                )  # fmt: skip
            return problem(
                "broken-link",
                "prev_hash matches no record here: the record before it was removed, replaced or rehashed",
            )
        return None
