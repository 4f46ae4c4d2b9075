"""The console's own state in one SQLite file: users, sessions, the draft, published
versions, review labels and the admin log.

Console traffic is a handful of staff, so calls are plain ``sqlite3`` under one lock; each
is a small indexed query (well under a millisecond), cheaper than a thread hop. Nothing
here is on the proxy's request path.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from gateway import sqlite_wal
from gateway.console.shadow_store import SCHEMA as SHADOW_SCHEMA
from gateway.console.shadow_store import ShadowStore

SESSION_SECONDS = 8 * 3600  # one working day; a stolen cookie is useful for no longer

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL,
    created REAL NOT NULL, expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS drafts (
    id INTEGER PRIMARY KEY CHECK (id = 1), policy TEXT NOT NULL, files TEXT NOT NULL,
    authors TEXT NOT NULL, base_version TEXT NOT NULL, source TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, policy_version TEXT NOT NULL,
    authors TEXT NOT NULL, publisher TEXT NOT NULL, note TEXT NOT NULL,
    policy TEXT NOT NULL, files TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    record_id TEXT PRIMARY KEY, ts REAL NOT NULL, reviewer TEXT NOT NULL,
    verdict TEXT NOT NULL, label INTEGER NOT NULL, categories TEXT NOT NULL,
    direction TEXT NOT NULL, text TEXT, note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS admin_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, user TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS admin_log_ts ON admin_log (ts);
"""


class Role(StrEnum):
    # Ordered: each role can do everything the ones before it can.
    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    active: bool = True


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str


@dataclass(frozen=True, slots=True)
class Draft:
    policy: str  # file name of the policy YAML inside ``files``
    files: dict[str, str]  # path relative to the policy folder -> text
    authors: tuple[str, ...]  # everyone who changed it: none of them may publish it
    base_version: str  # the live version the draft started from
    source: str  # "live" or "version N" (a restore)
    updated: float


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    ts: float
    policy_version: str
    authors: tuple[str, ...]
    publisher: str
    note: str
    policy: str
    files: dict[str, str]


def _token_hash(token: str) -> str:
    # Only a hash of the cookie is stored: a leaked database does not hand out sessions.
    return hashlib.sha256(token.encode()).hexdigest()


class ConsoleDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite_wal.connect(path)
        self._conn.executescript(_SCHEMA + SHADOW_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @property
    def shadow(self) -> ShadowStore:
        """Shadow runs and what they observed (``gateway.console.shadow_store``)."""
        return ShadowStore(self)

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        with self._lock:
            row: tuple[Any, ...] | None = self._conn.execute(sql, args).fetchone()
            return row

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    def _insert(self, sql: str, args: tuple[Any, ...]) -> int:
        """Run an INSERT; the new row's id."""
        with self._lock:
            rowid = self._conn.execute(sql, args).lastrowid
            assert rowid is not None
            return rowid

    # --- users
    def add_user(self, name: str, role: Role, password_hash: str) -> None:
        self._run(
            "INSERT INTO users (name, role, password, created) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
            " password = excluded.password, active = 1",
            (name, role.value, password_hash, time.time()),
        )

    def user(self, name: str) -> tuple[User, str] | None:
        """The user and their password hash."""
        row = self._one("SELECT name, role, active, password FROM users WHERE name = ?", (name,))
        if row is None:
            return None
        return User(row[0], Role(row[1]), bool(row[2])), row[3]

    def set_password(self, name: str, password_hash: str) -> None:
        """Replace a password; every session of the user ends (a stolen cookie too)."""
        self._run("UPDATE users SET password = ? WHERE name = ?", (password_hash, name))
        self._run("DELETE FROM sessions WHERE user = ?", (name,))

    def users(self) -> list[User]:
        rows = self._all("SELECT name, role, active FROM users ORDER BY name")
        return [User(r[0], Role(r[1]), bool(r[2])) for r in rows]

    def set_role(self, name: str, role: Role, active: bool) -> bool:
        n = self._run(
            "UPDATE users SET role = ?, active = ? WHERE name = ?", (role.value, int(active), name)
        )
        if not active:
            self._run("DELETE FROM sessions WHERE user = ?", (name,))
        return n > 0

    # --- sessions
    def new_session(self, user: str) -> tuple[str, str]:
        """A fresh (cookie token, CSRF token) pair for ``user``."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = time.time()
        self._run("DELETE FROM sessions WHERE expires < ?", (now,))
        self._run(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
            (_token_hash(token), user, csrf, now, now + SESSION_SECONDS),
        )
        return token, csrf

    def session(self, token: str) -> Session | None:
        row = self._one(
            "SELECT u.name, u.role, u.active, s.csrf FROM sessions s JOIN users u"
            " ON u.name = s.user WHERE s.token_sha256 = ? AND s.expires > ? AND u.active = 1",
            (_token_hash(token), time.time()),
        )
        if row is None:
            return None
        return Session(User(row[0], Role(row[1]), bool(row[2])), row[3])

    def end_session(self, token: str) -> None:
        self._run("DELETE FROM sessions WHERE token_sha256 = ?", (_token_hash(token),))

    # --- the draft (one shared working copy)
    def draft(self) -> Draft | None:
        row = self._one("SELECT policy, files, authors, base_version, source, updated FROM drafts")
        if row is None:
            return None
        return Draft(
            row[0], orjson.loads(row[1]), tuple(orjson.loads(row[2])), row[3], row[4], row[5]
        )

    def save_draft(self, draft: Draft) -> None:
        self._run(
            "INSERT OR REPLACE INTO drafts VALUES (1, ?, ?, ?, ?, ?, ?)",
            (
                draft.policy, orjson.dumps(draft.files).decode(),
                orjson.dumps(list(draft.authors)).decode(), draft.base_version, draft.source,
                draft.updated,
            ),
        )  # fmt: skip

    def drop_draft(self, updated: float | None = None) -> bool:
        """Delete the draft; with ``updated``, only if it has not changed since then (an
        edit saved while a publish was running must not vanish with it)."""
        if updated is None:
            return self._run("DELETE FROM drafts") > 0
        return self._run("DELETE FROM drafts WHERE updated = ?", (updated,)) > 0

    # --- versions
    def add_version(
        self, policy_version: str, authors: tuple[str, ...], publisher: str, note: str,
        policy: str, files: dict[str, str],
    ) -> int:  # fmt: skip
        return self._insert(
            "INSERT INTO versions (ts, policy_version, authors, publisher, note, policy, files)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(), policy_version, orjson.dumps(list(authors)).decode(), publisher,
                note, policy, orjson.dumps(files).decode(),
            ),
        )  # fmt: skip

    def versions(self, limit: int = 100) -> list[Version]:
        rows = self._all(
            "SELECT id, ts, policy_version, authors, publisher, note, policy, '{}' FROM versions"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [_version(r) for r in rows]

    def version(self, version_id: int) -> Version | None:
        row = self._one(
            "SELECT id, ts, policy_version, authors, publisher, note, policy, files"
            " FROM versions WHERE id = ?",
            (version_id,),
        )
        return _version(row) if row is not None else None

    # --- review labels
    def add_review(
        self, record_id: str, reviewer: str, verdict: str, label: int,
        categories: tuple[str, ...], direction: str, text: str | None, note: str,
    ) -> None:  # fmt: skip
        self._run(
            "INSERT OR REPLACE INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record_id, time.time(), reviewer, verdict, label,
                orjson.dumps(list(categories)).decode(), direction, text, note,
            ),
        )  # fmt: skip

    def reviewed_ids(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        rows = self._all(f"SELECT record_id FROM reviews WHERE record_id IN ({marks})", tuple(ids))
        return {r[0] for r in rows}

    def reviews(
        self, limit: int = 100_000, *, newest_first: bool = False, record_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Review labels, oldest first (the export's order) unless ``newest_first``."""
        order = "DESC" if newest_first else "ASC"
        where = "WHERE record_id = ?" if record_id is not None else ""
        args: tuple[Any, ...] = (record_id, limit) if record_id is not None else (limit,)
        rows = self._all(
            "SELECT record_id, ts, reviewer, verdict, label, categories, direction, text, note"
            f" FROM reviews {where} ORDER BY ts {order} LIMIT ?",
            args,
        )
        keys = ("record_id", "ts", "reviewer", "verdict", "label", "categories", "direction",
                "text", "note")  # fmt: skip
        out = [dict(zip(keys, r, strict=True)) for r in rows]
        for d in out:
            d["categories"] = orjson.loads(d["categories"])
        return out

    # --- admin log: who, when, what, why
    def log(
        self, user: str, action: str, target: str = "", reason: str = "", **detail: Any
    ) -> None:
        self._run(
            "INSERT INTO admin_log (ts, user, action, target, reason, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), user, action, target, reason, orjson.dumps(detail).decode()),
        )

    def admin_log(self, limit: int = 200, *, before: int | None = None) -> list[dict[str, Any]]:
        """Newest first; ``before`` an entry id for the page after it."""
        rows = self._all(
            "SELECT id, ts, user, action, target, reason, detail FROM admin_log"
            " WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before if before is not None else 1 << 62, limit),
        )
        keys = ("id", "ts", "user", "action", "target", "reason", "detail")
        return [dict(zip(keys, r, strict=True)) for r in rows]


def _version(row: tuple[Any, ...]) -> Version:
    return Version(
        row[0], row[1], row[2], tuple(orjson.loads(row[3])), row[4], row[5], row[6],
        orjson.loads(row[7]),
    )  # fmt: skip
