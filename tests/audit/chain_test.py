"""Hash chain (pure core): sealing, and detection of modified, deleted and inserted records."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from gateway.audit.anchors import Anchor
from gateway.audit.chain import GENESIS, ChainHead, ChainVerifier
from gateway.audit.chain import record_hash as keyed_hash
from gateway.audit.record import DecisionRecord
from tests.support.audit import KEYS, rec, seal


def record_hash(r: DecisionRecord) -> str:
    return keyed_hash(r, KEYS.chain)


def chain(n: int, chain_id: str = "c1") -> list[DecisionRecord]:
    sealed, head = seal([rec(text=f"t{i}") for i in range(n)], ChainHead(chain_id))
    assert head.seq == n and head.hash == sealed[-1].hash
    return sealed


def check(records: list[DecisionRecord], anchors: dict[str, Anchor] | None = None) -> ChainVerifier:
    v = ChainVerifier(KEYS.chain, anchors)
    v.feed_all(sorted(records, key=lambda r: (r.chain_id, r.seq)))
    return v


def test_seal_links_records() -> None:
    rs = chain(3)
    assert [r.seq for r in rs] == [1, 2, 3]
    assert rs[0].prev_hash == GENESIS
    assert rs[1].prev_hash == rs[0].hash and rs[2].prev_hash == rs[1].hash
    assert all(record_hash(r) == r.hash for r in rs)


def test_sealing_continues_from_a_head() -> None:
    first, head = seal([rec()], ChainHead("c"))
    second, _ = seal([rec()], head)
    assert second[0].seq == 2 and second[0].prev_hash == first[0].hash
    assert not check(first + second).problems


def test_untouched_chains_pass() -> None:
    v = check(chain(10, "a") + chain(5, "b"))
    assert v.problems == [] and v.checked == 15
    assert v.heads["a"].seq == 10 and v.heads["b"].seq == 5


def test_modified_record_is_reported() -> None:
    rs = chain(6)
    rs[3] = replace(rs[3], action="block")
    [p] = check(rs).problems
    assert (p.kind, p.seq, p.record_id) == ("modified", 4, rs[3].id)


def test_modified_and_rehashed_record_breaks_the_next_link() -> None:
    rs = chain(6)
    forged = replace(rs[2], text="edited")
    rs[2] = replace(forged, hash=record_hash(forged))
    [p] = check(rs).problems
    assert (p.kind, p.seq) == ("broken-link", 4)


def test_deleted_record_is_reported() -> None:
    rs = chain(6)
    del rs[2]
    [p] = check(rs).problems
    assert (p.kind, p.seq) == ("deleted", 4)
    assert "seq 3" in p.detail


def test_deleted_first_record_is_reported() -> None:
    rs = chain(3)[1:]
    [p] = check(rs).problems
    assert (p.kind, p.seq) == ("deleted", 2)


def test_deleted_and_renumbered_is_reported() -> None:
    rs = chain(6)
    del rs[2]
    rs = [replace(r, seq=i + 1) for i, r in enumerate(rs)]  # close the gap
    [p] = check(rs).problems
    assert (p.kind, p.seq) == ("broken-link", 3)


def test_inserted_record_is_reported() -> None:
    rs = chain(6)
    # A well-formed intruder after seq 3, with the later records renumbered to make room.
    intruder = rec(text="forged").chained("c1", 4, rs[2].hash, "")
    intruder = replace(intruder, hash=record_hash(intruder))
    tampered = rs[:3] + [intruder] + [replace(r, seq=r.seq + 1) for r in rs[3:]]
    [p] = check(tampered).problems
    assert (p.kind, p.seq, p.record_id) == ("inserted", 4, intruder.id)


def test_naively_inserted_record_is_reported() -> None:
    rs = chain(4)
    intruder = rec(text="forged").chained("c1", 5, "f" * 64, "0" * 64)
    [p] = check([*rs, intruder]).problems
    assert (p.kind, p.record_id) == ("modified", intruder.id)


def test_anchor_lets_a_purged_chain_verify() -> None:
    rs = chain(8)
    anchor = Anchor("c1", rs[4].seq, rs[4].hash)
    assert not check(rs[5:], {"c1": anchor}).problems
    [p] = check(rs[5:]).problems  # without the anchor the prefix looks deleted
    assert p.kind == "deleted"
    [p] = check(rs[6:], {"c1": anchor}).problems  # one more than the anchor covers
    assert (p.kind, p.seq) == ("deleted", 7)


def test_problems_are_reported_per_chain() -> None:
    a, b = chain(4, "a"), chain(4, "b")
    del a[1]
    b[2] = replace(b[2], tenant="other")
    v = check(a + b)
    assert [(p.chain_id, p.kind, p.seq) for p in v.problems] == [
        ("a", "deleted", 3),
        ("b", "modified", 3),
    ]


FULL = rec(
    user="u" * 32, request_id="r", stage="stream", incident=True, sanction="s", categories=("A1.01",),
    scores={"A1.01": 0.5}, matched_terms=("词",), policy_version="p", model_version="m",
    latency_ms={"x": 1.0}, text_mode="full", text="t",
)  # fmt: skip


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, str):
        return value + "z"
    if isinstance(value, tuple):
        return (*value, "z")
    if isinstance(value, dict):
        return {**value, "z": 2.0}
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, datetime)
    return value + timedelta(microseconds=1)


@pytest.mark.parametrize(
    "name", [f.name for f in fields(DecisionRecord) if f.name not in ("seq", "hash")]
)
def test_every_field_is_covered_by_the_hash(name: str) -> None:
    [r], _ = seal([FULL], ChainHead("c"))
    assert record_hash(replace(r, **{name: _changed(getattr(r, name))})) != r.hash


def test_chained_copies_every_field() -> None:
    assert FULL.chained("c", 7, "p" * 64, "h" * 64) == replace(
        FULL, chain_id="c", seq=7, prev_hash="p" * 64, hash="h" * 64
    )
