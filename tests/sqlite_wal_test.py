"""Opening one new SQLite file from several connections at once (replicas, two stores)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from gateway import sqlite_wal


def test_connections_racing_on_a_new_file_all_open_in_wal_mode(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    for round_ in range(25):
        path = tmp_path / f"r{round_}" / "db.sqlite"
        start = threading.Barrier(6)

        def open_one(path: Path = path, start: threading.Barrier = start) -> None:
            start.wait()
            try:
                conn = sqlite_wal.connect(path)
                conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
                conn.execute("INSERT INTO t VALUES (1)")
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                conn.close()
            except BaseException as e:  # collected: an assert in a thread would be lost
                errors.append(e)

        threads = [threading.Thread(target=open_one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        with sqlite3.connect(path) as check:
            assert check.execute("SELECT count(*) FROM t").fetchone()[0] == 6
