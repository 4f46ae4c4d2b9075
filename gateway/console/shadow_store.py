"""Shadow runs in the console database: each run (who started it, on which draft, with
what share, rate and limit, how it ended) and what it observed (the live and the draft
decision of every judged request, check times, and the text of changed ones).

Kept apart from the decision log on purpose: these are would-be decisions of a draft,
not decisions the gateway took, and they never belong in the filing record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

if TYPE_CHECKING:
    from gateway.console.db import ConsoleDB

# Created with the console database's own tables (``ConsoleDB.__init__``).
SCHEMA = """
CREATE TABLE IF NOT EXISTS shadow_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, started_by TEXT NOT NULL,
    draft_key TEXT NOT NULL, draft_version TEXT NOT NULL, live_version TEXT NOT NULL,
    share REAL NOT NULL, target INTEGER NOT NULL, seconds REAL NOT NULL,
    classifier TEXT NOT NULL, state TEXT NOT NULL, ended REAL,
    sampled INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0,
    evaluated INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    rate REAL NOT NULL DEFAULT 20
);
CREATE TABLE IF NOT EXISTS shadow_obs (
    run_id INTEGER NOT NULL, ts REAL NOT NULL, direction TEXT NOT NULL, tenant TEXT NOT NULL,
    live_action TEXT NOT NULL, live_categories TEXT NOT NULL,
    draft_action TEXT NOT NULL, draft_categories TEXT NOT NULL,
    live_ms REAL, draft_ms REAL NOT NULL, changed INTEGER NOT NULL, text TEXT
);
CREATE INDEX IF NOT EXISTS shadow_obs_run ON shadow_obs (run_id);
"""


@dataclass(frozen=True, slots=True)
class ShadowRun:
    id: int
    started: float
    started_by: str
    draft_key: str  # the bundle hash of the draft it judges
    draft_version: str
    live_version: str
    share: float
    target: int
    seconds: float
    classifier: str  # "" = the live classifier's scores; else a candidate's spec
    state: str  # running, done, stopped, stale, interrupted, published, discarded
    ended: float | None
    sampled: int
    dropped: int
    evaluated: int
    errors: int
    rate: float  # checks per second at most


@dataclass(frozen=True, slots=True)
class ShadowRow:
    """One request judged both ways (see ``gateway.shadow.Observation``)."""

    ts: float
    direction: str
    tenant: str
    live_action: str
    live_categories: tuple[str, ...]
    draft_action: str
    draft_categories: tuple[str, ...]
    live_ms: float | None  # the live policy timed again (a sample of the checks only)
    draft_ms: float
    changed: bool
    text: str | None  # kept for changed requests only, as audit.review_text says


_RUN_COLUMNS = (
    "id, started, started_by, draft_key, draft_version, live_version, share, target,"
    " seconds, classifier, state, ended, sampled, dropped, evaluated, errors, rate"
)


class ShadowStore:
    """The shadow tables of a ``ConsoleDB`` (its connection and lock)."""

    def __init__(self, db: ConsoleDB) -> None:
        self._db = db

    def add_run(
        self, started_by: str, draft_key: str, draft_version: str, live_version: str,
        share: float, target: int, seconds: float, classifier: str, rate: float,
    ) -> int:  # fmt: skip
        return self._db._insert(
            "INSERT INTO shadow_runs (started, started_by, draft_key, draft_version,"
            " live_version, share, target, seconds, classifier, state, rate)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)",
            (time.time(), started_by, draft_key, draft_version, live_version, share, target,
             seconds, classifier, rate),
        )  # fmt: skip

    def end_run(self, run_id: int, state: str, sampled: int, dropped: int,
                       evaluated: int, errors: int) -> None:  # fmt: skip
        self._db._run(
            "UPDATE shadow_runs SET state = ?, ended = ?, sampled = ?, dropped = ?,"
            " evaluated = ?, errors = ? WHERE id = ? AND state = 'running'",
            (state, time.time(), sampled, dropped, evaluated, errors, run_id),
        )

    def set_state(self, run_id: int, state: str) -> None:
        """A later fate of an ended run (published, discarded)."""
        self._db._run("UPDATE shadow_runs SET state = ? WHERE id = ?", (state, run_id))

    def runs(self, limit: int = 20) -> list[ShadowRun]:
        rows = self._db._all(f"SELECT {_RUN_COLUMNS} FROM shadow_runs ORDER BY id DESC LIMIT ?",
                         (limit,))  # fmt: skip
        return [ShadowRun(*r) for r in rows]

    def run(self, run_id: int) -> ShadowRun | None:
        row = self._db._one(f"SELECT {_RUN_COLUMNS} FROM shadow_runs WHERE id = ?", (run_id,))
        return ShadowRun(*row) if row is not None else None

    def add_rows(self, run_id: int, rows: list[ShadowRow]) -> None:
        with self._db._lock:
            self._db._conn.execute("BEGIN")
            self._db._conn.executemany(
                "INSERT INTO shadow_obs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, r.ts, r.direction, r.tenant, r.live_action,
                  orjson.dumps(list(r.live_categories)).decode(), r.draft_action,
                  orjson.dumps(list(r.draft_categories)).decode(), r.live_ms, r.draft_ms,
                  int(r.changed), r.text) for r in rows],
            )  # fmt: skip
            self._db._conn.execute("COMMIT")

    def rows(self, run_id: int) -> list[ShadowRow]:
        rows = self._db._all(
            "SELECT ts, direction, tenant, live_action, live_categories, draft_action,"
            " draft_categories, live_ms, draft_ms, changed, text FROM shadow_obs"
            " WHERE run_id = ? ORDER BY ts",
            (run_id,),
        )
        return [ShadowRow(r[0], r[1], r[2], r[3], tuple(orjson.loads(r[4])), r[5],
                          tuple(orjson.loads(r[6])), r[7], r[8], bool(r[9]), r[10])
                for r in rows]  # fmt: skip

    def texts_kept(self, run_id: int) -> int:
        row = self._db._one("SELECT COUNT(*) FROM shadow_obs WHERE run_id = ? AND text IS NOT NULL",
                        (run_id,))  # fmt: skip
        return int(row[0]) if row else 0

    def forget_texts(self, run_id: int | None = None, before: float | None = None) -> int:
        """Drop the example texts of a run (published or discarded), or of runs that ended
        before ``before``; the counts stay."""
        if run_id is not None:
            return self._db._run("UPDATE shadow_obs SET text = NULL WHERE run_id = ?", (run_id,))
        return self._db._run(
            "UPDATE shadow_obs SET text = NULL WHERE text IS NOT NULL AND run_id IN"
            " (SELECT id FROM shadow_runs WHERE ended IS NOT NULL AND ended < ?)",
            (before if before is not None else time.time(),),
        )
