"""Signed checkpoints of chain heads, kept outside the database.

A hash chain cannot show that its newest records were deleted, or that all of them were:
what is left is still a valid chain. So each writer periodically (``audit_checkpoint_interval``,
and when it closes) appends its chain head (seq, hash, head record id, time) to a file of
its own in ``audit_checkpoint_dir``, fsynced, signed with HMAC-SHA256 under
``AuditKeys.checkpoint``. ``verify`` then requires every chain to reach at least its last
checkpoint with the same hash there.

The directory must be somewhere the database administrator cannot write (another volume,
an object-store mount with a retention lock); whoever can rewrite it *and* holds the key
can rewrite history. Why HMAC rather than a public-key signature: the records themselves
are HMAC'd, so checking a log needs the secret anyway, and a signing key on the gateway
host would be just as available to that host's root as the HMAC key is; Ed25519 would add
a dependency and ~50 µs per signature for no change in who can forge.

One JSON object per line; a torn last line (a crash mid-append) is skipped when read.
"""

from __future__ import annotations

import hmac
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from gateway.audit.chain import ChainHead, Problem
from gateway.audit.keys import AuditKeys, mac_hex
from gateway.audit.record import format_ts, parse_ts

log = logging.getLogger("gateway.audit")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
SUFFIX = ".checkpoints.jsonl"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    chain_id: str
    seq: int  # 0: the chain was started and had no records yet
    hash: str
    record_id: str  # id of the record at ``seq`` ("" at seq 0)
    at: datetime  # when it was written
    key_id: str  # ``AuditKeys.key_id`` of the key that signed it
    mac: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id, "seq": self.seq, "hash": self.hash,
            "record_id": self.record_id, "at": format_ts(self.at), "key_id": self.key_id,
            "mac": self.mac,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Checkpoint:
        return cls(
            str(d["chain_id"]), int(d["seq"]), str(d["hash"]), str(d["record_id"]),
            parse_ts(d["at"]), str(d["key_id"]), str(d["mac"]),
        )  # fmt: skip


def checkpoint_mac(cp: Checkpoint, key: bytes) -> str:
    body = ("checkpoint-v1", cp.chain_id, cp.seq, cp.hash, cp.record_id, format_ts(cp.at),
            cp.key_id)  # fmt: skip
    return mac_hex(key, orjson.dumps(body))


def signed(head: ChainHead, record_id: str, at: datetime, keys: AuditKeys) -> Checkpoint:
    cp = Checkpoint(head.chain_id, head.seq, head.hash, record_id, at, keys.key_id)
    return replace(cp, mac=checkpoint_mac(cp, keys.checkpoint))


def path_for(directory: Path, chain_id: str) -> Path:
    return directory / f"{_UNSAFE.sub('_', chain_id)}{SUFFIX}"


class CheckpointLog:
    """One writer's checkpoint file. Blocking: call from a worker thread."""

    def __init__(self, directory: Path, chain_id: str, keys: AuditKeys) -> None:
        self.directory = directory
        self.path = path_for(directory, chain_id)
        self._keys = keys
        self._fd: int | None = None

    def append(self, head: ChainHead, record_id: str, at: datetime) -> Checkpoint:
        """Write one signed checkpoint and fsync it; returns once it is on disk."""
        cp = signed(head, record_id, at, self._keys)
        data = orjson.dumps(cp.to_dict()) + b"\n"
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            _fsync_dir(self.directory)  # the file's name must survive a crash too
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)
        return cp

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


@dataclass(slots=True)
class CheckpointScan:
    """The newest valid checkpoint of each chain, and what was wrong in the files."""

    latest: dict[str, Checkpoint] = field(default_factory=dict)
    # Per chain asked about: the newest checkpoint whose seq is below the given seq, i.e.
    # the last time the chain was seen *before* that record existed.
    before: dict[str, Checkpoint] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0


def scan(
    directory: Path, keys: AuditKeys, before: Mapping[str, int] | None = None
) -> CheckpointScan:
    """Read every checkpoint file in ``directory``; check each line's signature."""
    result = CheckpointScan()
    below = before or {}
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        result.files += 1
        bad = False  # report the first problem per file only
        for cp, problem in _read(path, keys):
            if problem is not None:
                if not bad:
                    result.problems.append(problem)
                bad = True
                continue
            assert cp is not None
            known = result.latest.get(cp.chain_id)
            if known is None or cp.seq > known.seq or (cp.seq == known.seq and cp.at > known.at):
                result.latest[cp.chain_id] = cp
            limit = below.get(cp.chain_id)
            if limit is not None and cp.seq < limit:
                prior = result.before.get(cp.chain_id)
                if prior is None or cp.at > prior.at:
                    result.before[cp.chain_id] = cp
    return result


def _read(path: Path, keys: AuditKeys) -> Iterator[tuple[Checkpoint | None, Problem | None]]:
    chain = path.name.removesuffix(SUFFIX)
    with path.open("rb") as f:
        for n, line in enumerate(f, 1):
            try:
                cp = Checkpoint.from_dict(orjson.loads(line))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                if not line.endswith(b"\n"):
                    log.warning("skipping torn last line of %s", path)
                    continue
                yield None, Problem(chain, 0, "-", "checkpoint-forged",
                                    f"{path.name} line {n} is not a checkpoint")  # fmt: skip
                continue
            if cp.key_id != keys.key_id:
                yield None, Problem(
                    cp.chain_id, cp.seq, cp.record_id or "-", "unkeyed",
                    f"checkpoint in {path.name} line {n} was signed under key id {cp.key_id}, "
                    f"not this gateway's key ({keys.key_id})",
                )  # fmt: skip
            elif not hmac.compare_digest(cp.mac, checkpoint_mac(cp, keys.checkpoint)):
                yield None, Problem(
                    cp.chain_id, cp.seq, cp.record_id or "-", "checkpoint-forged",
                    f"{path.name} line {n} does not carry this gateway's signature",
                )  # fmt: skip
            else:
                yield cp, None


@dataclass(frozen=True, slots=True)
class CheckpointReader:
    """The newest valid checkpoint of given chains, for reports. Blocking."""

    directory: Path
    keys: AuditKeys

    def latest(self, chain_ids: Iterable[str]) -> dict[str, Checkpoint]:
        found: dict[str, Checkpoint] = {}
        for chain_id in chain_ids:
            path = path_for(self.directory, chain_id)
            if path.is_file():
                cp = _last_valid(path, self.keys)
                if cp is not None and cp.chain_id == chain_id:
                    found[chain_id] = cp
        return found


def _last_valid(path: Path, keys: AuditKeys, tail_bytes: int = 64 * 1024) -> Checkpoint | None:
    """The last line of ``path`` that verifies: from the file's tail, else a full read
    (a six-month file holds some 260,000 lines)."""
    with path.open("rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - tail_bytes))
        lines = f.read().split(b"\n")
    if size > tail_bytes:
        lines = lines[1:]  # the first one is probably cut
    for line in reversed(lines):
        try:
            last = Checkpoint.from_dict(orjson.loads(line))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if last.key_id == keys.key_id and hmac.compare_digest(
            last.mac, checkpoint_mac(last, keys.checkpoint)
        ):
            return last
    best: Checkpoint | None = None
    for cp, _ in _read(path, keys):
        if cp is not None and (best is None or cp.seq >= best.seq):
            best = cp
    return best


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
