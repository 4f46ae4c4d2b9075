"""The local spool: where sealed records go while the store is unavailable.

An append-only JSON-lines file per writer (named after its chain), written with one
``fsync`` per batch before the batch is acknowledged, so an acknowledged record survives
a crash of the process or the host. The live writer holds an exclusive ``flock`` on its
file; a file nobody holds belongs to a dead writer and any writer may replay it. A torn
last line (the crash came mid-write, so it was never acknowledged) is skipped.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import orjson

from gateway.audit.errors import AuditError, AuditUnavailable
from gateway.audit.record import DecisionRecord

log = logging.getLogger("gateway.audit")
MAX_SPOOL_BYTES = 1 << 30  # past this, the spool refuses: the disk is not unbounded either
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class SpoolCorrupt(AuditError):
    """A complete spool line that does not parse: not a torn write, so not skippable."""


class Spool:
    """This writer's spool file. Blocking: call from a worker thread."""

    def __init__(self, directory: Path, chain_id: str, max_bytes: int = MAX_SPOOL_BYTES) -> None:
        self.directory = directory
        self.path = directory / f"spool-{_UNSAFE.sub('_', chain_id)}.jsonl"
        self.max_bytes = max_bytes
        self._fd: int | None = None
        self._size = 0

    @property
    def pending(self) -> bool:
        return self._size > 0

    def _open(self) -> int:
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _fsync_dir(self.directory)  # the new name must survive a crash too
            self._fd, self._size = fd, os.fstat(fd).st_size
        return self._fd

    def append(self, records: Sequence[DecisionRecord]) -> None:
        """Write and fsync; returns only once the records are on disk."""
        data = b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in records)
        if self._size + len(data) > self.max_bytes:
            raise AuditUnavailable(f"spool {self.path} is full ({self._size} bytes)")
        fd = self._open()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            # Cut a half-written batch off again (disk full, I/O error): the next append
            # must not glue its first record onto a torn line.
            os.ftruncate(fd, self._size)
            raise
        self._size += len(data)

    def chunks(self, size: int) -> Iterator[list[DecisionRecord]]:
        """This spool's records in order, ``size`` at a time."""
        if self.pending:
            yield from read_chunks(self.path, size)

    def clear(self) -> None:
        """Called after every spooled record is committed to the store."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
        self._size = 0

    def quarantine(self) -> Path:
        """Move an unreadable spool aside (kept for a human) and start a fresh one."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._size = 0
        return quarantine(self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._size == 0 and self.path.exists():
            self.path.unlink()


def read_chunks(path: Path, size: int) -> Iterator[list[DecisionRecord]]:
    chunk: list[DecisionRecord] = []
    with path.open("rb") as f:
        for line in f:
            try:
                chunk.append(DecisionRecord.from_dict(orjson.loads(line)))
            except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as e:
                if line.endswith(b"\n"):
                    raise SpoolCorrupt(f"{path}: unreadable record: {e}") from e
                log.warning("skipping torn last line of %s", path)
                continue
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def orphans(directory: Path, own: Path) -> Iterator[tuple[Path, int]]:
    """Spool files of dead writers, each yielded locked (path, fd); caller closes the fd."""
    if not directory.is_dir():
        return
    for path in sorted(directory.glob("spool-*.jsonl")):
        if path == own:
            continue
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue  # replayed by someone else meanwhile
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)  # a live writer holds it
            continue
        yield path, fd


def quarantine(path: Path) -> Path:
    target = path.with_name(path.name + ".corrupt")
    path.rename(target)
    _fsync_dir(path.parent)
    log.error("decision-log spool %s is unreadable; moved to %s for manual recovery", path, target)
    return target


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
