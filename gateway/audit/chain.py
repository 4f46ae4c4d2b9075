"""Hash chaining: tamper evidence for the decision log (pure; no I/O, no clock).

Each record carries ``prev_hash``, the hash of the record before it in its chain, and
``hash``, the SHA-256 of its own canonical JSON (which includes ``prev_hash`` but not ``seq``:
the links, not the numbers, carry the order, so renumbering rows cannot hide an edit). One
chain per writer instance (``chain_id``), numbered by ``seq`` from 1 without gaps. Editing a
record breaks its own hash; deleting one leaves a gap or a broken link; inserting one makes
the record after it link past the intruder. A purge keeps an ``Anchor`` (the last purged seq and hash), so
the chain stays verifiable across the purge boundary.

Limits, by design of an unkeyed chain: someone who can rewrite the database can recompute
every hash after the point they changed, and removing the newest records of a chain leaves
no trace. ``verify`` prints each chain's head so it can be anchored elsewhere (a ticket,
a WORM bucket) when that matters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import orjson

from gateway.audit.record import DecisionRecord, format_ts

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last committed link of one chain; the next record gets ``seq + 1``."""

    chain_id: str
    seq: int = 0
    hash: str = GENESIS


@dataclass(frozen=True, slots=True)
class Anchor:
    """The last record a purge removed from a chain."""

    chain_id: str
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Problem:
    """The first inconsistency found in one chain."""

    chain_id: str
    seq: int
    record_id: str
    kind: str  # "modified" | "deleted" | "inserted" | "broken-link"
    detail: str

    def __str__(self) -> str:
        return f"chain {self.chain_id} seq {self.seq} (id {self.record_id}): {self.kind}: {self.detail}"


def record_hash(record: DecisionRecord) -> str:
    return _hash(record, record.chain_id, record.prev_hash)


def _hash(r: DecisionRecord, chain_id: str, prev_hash: str) -> str:
    """SHA-256 of a JSON array of every field in a fixed order, except ``seq`` (see the
    module docstring) and ``hash`` itself. An array rather than an object: it skips
    building and sorting a dict, a third of the writer's CPU per record."""
    body = (
        r.id, format_ts(r.ts), r.direction, r.action, r.tenant, r.user, r.request_id,
        r.route, r.stage, r.incident, r.sanction, r.categories, r.scores, r.matched_terms,
        r.policy_version, r.model_version, r.latency_ms, r.text_mode, r.text,
        chain_id, prev_hash,
    )  # fmt: skip
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def seal(
    records: Sequence[DecisionRecord], head: ChainHead
) -> tuple[list[DecisionRecord], ChainHead]:
    """Link ``records`` after ``head``. The caller adopts the returned head only once the
    records are durable, so a failed batch leaves no gap in the chain."""
    sealed: list[DecisionRecord] = []
    chain_id, seq, prev = head.chain_id, head.seq, head.hash
    for r in records:
        seq += 1
        h = _hash(r, chain_id, prev)
        sealed.append(r.chained(chain_id, seq, prev, h))
        prev = h
    return sealed, ChainHead(chain_id, seq, prev)


class ChainVerifier:
    """Checks records fed in ``(chain_id, seq)`` order; keeps the first problem per chain.

    Memory is bounded by the number of chains, not records."""

    def __init__(self, anchors: Mapping[str, Anchor] | None = None) -> None:
        self._anchors = dict(anchors or {})
        self._chain: str | None = None
        self._expect_seq = 1
        self._expect_prev = GENESIS
        self._before_prev = ""  # hash two links back, to tell an insertion from a deletion
        self._prev_id = ""
        self._failed: set[str] = set()
        self.problems: list[Problem] = []
        self.heads: dict[str, ChainHead] = {}
        self.checked = 0

    def feed_all(self, records: Iterable[DecisionRecord]) -> None:
        for r in records:
            self.feed(r)

    def feed(self, r: DecisionRecord) -> None:
        if r.chain_id != self._chain:
            self._start(r.chain_id)
        if r.chain_id in self._failed:
            return
        self.checked += 1
        problem = self._check(r)
        if problem is not None:
            self._failed.add(r.chain_id)
            self.problems.append(problem)
            return
        self._before_prev, self._expect_prev = self._expect_prev, r.hash
        self._expect_seq = r.seq + 1
        self._prev_id = r.id
        self.heads[r.chain_id] = ChainHead(r.chain_id, r.seq, r.hash)

    def _start(self, chain_id: str) -> None:
        self._chain = chain_id
        anchor = self._anchors.get(chain_id)
        self._expect_seq = anchor.seq + 1 if anchor else 1
        self._expect_prev = anchor.hash if anchor else GENESIS
        self._before_prev = ""

    def _check(self, r: DecisionRecord) -> Problem | None:
        def problem(kind: str, detail: str) -> Problem:
            return Problem(r.chain_id, r.seq, r.id, kind, detail)

        if record_hash(r) != r.hash:
            return problem("modified", "content does not match its hash")
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
