"""``verify_log``: everything ``gateway audit verify`` checks, in one pass over the store.

1. Every purge anchor: sealed with this gateway's key (else it is a forged row and the
   chain is checked as if it had none), and the youngest record it purged was at least
   the retention old (never under 180 days) when the purge ran. With checkpoints, the
   anchor's dates are also held to them: a checkpoint written before the last purged
   record existed bounds how old that record can be, and a purge cannot lie in the future,
   so even a key holder cannot pass a purge of young, checkpointed records off as lawful.
2. Every record: its keyed hash, its seq and its link (``ChainVerifier``).
3. Every chain against its newest signed checkpoint outside the database: it must still
   reach the checkpointed seq, with the checkpointed hash there. This is what catches a
   deleted newest record, a truncated chain and a table emptied of every row.

Records newer than a chain's last checkpoint are covered by the chain only; the report
names how many there are (the window the checkpoint interval leaves).
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.audit.anchors import Anchor, anchor_valid
from gateway.audit.chain import ChainHead, ChainVerifier, Problem
from gateway.audit.checkpoint import Checkpoint, scan
from gateway.audit.keys import AuditKeys
from gateway.audit.record import DecisionRecord, format_ts
from gateway.audit.store import AuditStore, iter_chains

LEGAL_MINIMUM_DAYS = 180  # the retention floor verify applies to purge anchors
# A record is timestamped when its decision is made and sealed moments later; a day covers
# any queueing or store outage between the two.
CLOCK_SLACK = timedelta(days=1)


@dataclass(slots=True)
class ChainStatus:
    chain_id: str
    head: ChainHead | None = None  # newest record that verified
    anchor: Anchor | None = None
    checkpoint: Checkpoint | None = None


@dataclass(slots=True)
class Verification:
    key_id: str
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chains: dict[str, ChainStatus] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def heads(self) -> dict[str, ChainHead]:
        return {c: s.head for c, s in self.chains.items() if s.head is not None}


def min_purge_age(retention_days: int) -> timedelta:
    return timedelta(days=max(retention_days, LEGAL_MINIMUM_DAYS))


async def verify_log(
    store: AuditStore,
    keys: AuditKeys,
    *,
    checkpoint_dir: Path | None,
    min_age: timedelta = timedelta(days=LEGAL_MINIMUM_DAYS),
) -> Verification:
    """Check the whole log. ``checkpoint_dir=None`` skips the checkpoint checks (the
    caller must say so to the user: deleted newest records then go unseen)."""
    result = Verification(keys.key_id)
    anchors = await store.anchors()
    trusted = _check_anchors(anchors, keys, min_age, result)

    checkpoints: dict[str, Checkpoint] = {}
    if checkpoint_dir is not None:
        seqs = {c: a.seq for c, a in trusted.items()}
        found = await asyncio.to_thread(scan, checkpoint_dir, keys, seqs)
        checkpoints = found.latest
        result.problems += found.problems
        for chain_id, a in trusted.items():
            problem = _check_anchor_dates(a, found.before.get(chain_id), datetime.now(UTC))
            if problem is not None:
                result.problems.append(problem)

    verifier = ChainVerifier(keys.chain, trusted)
    at_checkpoint: dict[str, DecisionRecord] = {}
    async for r in iter_chains(store):
        verifier.feed(r)
        cp = checkpoints.get(r.chain_id)
        if cp is not None and r.seq == cp.seq:
            at_checkpoint[r.chain_id] = r
    result.checked = verifier.checked
    result.problems += verifier.problems

    for chain_id in sorted(set(verifier.heads) | set(anchors) | set(checkpoints)
                           | verifier.failed):  # fmt: skip
        status = ChainStatus(chain_id, verifier.heads.get(chain_id), anchors.get(chain_id),
                             checkpoints.get(chain_id))  # fmt: skip
        result.chains[chain_id] = status
        if chain_id in verifier.failed:
            continue  # its first problem is reported; the tail says nothing more
        problem = _check_tail(status, trusted.get(chain_id), at_checkpoint.get(chain_id),
                              verifier.head_ids.get(chain_id, ""))  # fmt: skip
        if problem is not None:
            result.problems.append(problem)
        elif checkpoint_dir is not None:
            _note_window(status, checkpoint_dir, result)
    return result


def _check_anchors(
    anchors: dict[str, Anchor], keys: AuditKeys, min_age: timedelta, result: Verification
) -> dict[str, Anchor]:
    """The anchors this gateway sealed; problems for the rest and for early purges."""
    trusted: dict[str, Anchor] = {}
    for chain_id, a in sorted(anchors.items()):
        rid = a.record_id or "-"
        if not anchor_valid(a, keys.anchor):
            result.problems.append(Problem(
                chain_id, a.seq, rid, "anchor-forged",
                "the purge anchor is not sealed with this gateway's key: records up to this "
                "seq were deleted without a lawful purge",
            ))  # fmt: skip
            continue
        trusted[chain_id] = a
        age = a.age
        if age is not None and age < min_age:
            result.problems.append(Problem(
                chain_id, a.seq, rid, "early-purge",
                f"the purge of {_ts(a.purged_at)} deleted a record from {_ts(a.newest_ts)}, "
                f"{_days(age)} old; the retention is {_days(min_age)}",
            ))  # fmt: skip
    return trusted


def _check_anchor_dates(a: Anchor, prior: Checkpoint | None, now: datetime) -> Problem | None:
    """Dates a sealed anchor cannot honestly carry: a purge after ``now``, or a newest
    purged record older than a checkpoint that shows the chain before that record."""
    rid = a.record_id or "-"
    if a.purged_at is not None and a.purged_at > now + CLOCK_SLACK:
        return Problem(a.chain_id, a.seq, rid, "anchor-backdated",
                       f"the anchor says the purge ran at {_ts(a.purged_at)}, in the future")  # fmt: skip
    if prior is not None and a.newest_ts is not None and a.newest_ts < prior.at - CLOCK_SLACK:
        return Problem(
            a.chain_id, a.seq, rid, "anchor-backdated",
            f"the anchor says the newest purged record is from {_ts(a.newest_ts)}, but the "
            f"checkpoint of {format_ts(prior.at)} shows the chain at seq {prior.seq}, before "
            f"seq {a.seq} existed",
        )  # fmt: skip
    return None


def _check_tail(
    status: ChainStatus,
    anchor: Anchor | None,
    record_at_checkpoint: DecisionRecord | None,
    head_id: str,
) -> Problem | None:
    cp = status.checkpoint
    if cp is None or cp.seq == 0:
        return None
    newest = status.head.seq if status.head else (anchor.seq if anchor else 0)
    if newest < cp.seq:
        first = newest + 1
        gap = f"{first}" if first == cp.seq else f"{first}..{cp.seq}"
        where = (
            f"the newest record left is seq {newest} (id {head_id})"
            if status.head
            else ("every record left was purged" if anchor else "no record of it is left")
        )
        return Problem(
            cp.chain_id, cp.seq, cp.record_id, "truncated",
            f"record(s) seq {gap} deleted from the end of the chain: the checkpoint of "
            f"{format_ts(cp.at)} names seq {cp.seq}, {where}",
        )  # fmt: skip
    if record_at_checkpoint is not None:
        found = record_at_checkpoint.hash
    elif anchor is not None and anchor.seq == cp.seq:
        found = anchor.hash
    else:
        return None  # purged past the checkpoint: the anchor carries the chain on
    if not hmac.compare_digest(found, cp.hash):
        return Problem(
            cp.chain_id, cp.seq, cp.record_id, "checkpoint-mismatch",
            f"the record at seq {cp.seq} is not the one the checkpoint of {format_ts(cp.at)} "
            "signed: the chain was rewritten with the key",
        )  # fmt: skip
    return None


def _note_window(status: ChainStatus, directory: Path, result: Verification) -> None:
    cp, head = status.checkpoint, status.head
    if head is None:
        return
    if cp is None:
        result.notes.append(
            f"chain {status.chain_id}: no checkpoint in {directory}: deletion of its newest "
            "records could not be checked"
        )
    elif head.seq > cp.seq:
        result.notes.append(
            f"chain {status.chain_id}: {head.seq - cp.seq} record(s) after its last "
            f"checkpoint (seq {cp.seq}, {format_ts(cp.at)}) are covered by the chain only"
        )


def _days(d: timedelta) -> str:
    days = d.total_seconds() / 86400
    return f"{days:.0f} days" if days >= 1 else f"{d.total_seconds() / 3600:.1f} hours"


def _ts(ts: datetime | None) -> str:
    return format_ts(ts) if ts is not None else "?"
