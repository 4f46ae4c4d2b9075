"""``gateway audit verify|export|report|purge`` on both backends, tampering done in SQL."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from gateway.audit import DecisionRecord, open_store
from gateway.audit.chain import ChainHead, record_hash
from gateway.audit.cli import register
from gateway.audit.sql import COLUMN_LIST, POSTGRES, SQLITE, to_row
from tests.support import audit as fx
from tests.support.audit import KEYS, rec, seal, sql_exec

audit_url = fx.audit_url


@pytest.fixture(autouse=True)
def cli_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The secret the CLI derives its keys from, and an (empty) checkpoint directory."""
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    monkeypatch.setenv("GATEWAY_PSEUDONYM_KEY", fx.PSEUDONYM_KEY)
    monkeypatch.setenv("GATEWAY_AUDIT_CHECKPOINT_DIR", str(checkpoints))
    return checkpoints


def gateway(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def put(
    url: str, records: list[DecisionRecord], head: ChainHead | None = None
) -> list[DecisionRecord]:
    sealed, _ = seal(records, head or ChainHead("c"))

    async def run() -> None:
        store = open_store(url)
        await store.append(sealed)
        await store.close()

    asyncio.run(run())
    return sealed


def insert_raw(url: str, r: DecisionRecord) -> None:
    dialect = SQLITE if url.startswith("sqlite") else POSTGRES
    row = to_row(r, dialect)
    sql_exec(
        url,
        f"INSERT INTO audit_records ({COLUMN_LIST}) VALUES ({', '.join(['%s'] * len(row))})",
        row,
    )


def test_verify_passes_on_an_untouched_log(
    audit_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    put(audit_url, [rec() for _ in range(5)])
    put(audit_url, [rec() for _ in range(3)], ChainHead("d"))
    assert gateway("audit", "verify", "--audit-url", audit_url) == 0
    out = capsys.readouterr().out
    assert "OK: 8 records checked in 2 chains" in out and "chain c: head seq 5" in out


def test_verify_reports_a_modified_record(
    audit_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = put(audit_url, [rec(action="block") for _ in range(6)])
    sql_exec(audit_url, "UPDATE audit_records SET action = 'allow' WHERE id = %s", (rs[3].id,))
    assert gateway("audit", "verify", "--audit-url", audit_url) == 1
    out = capsys.readouterr().out
    assert f"TAMPERED: chain c seq 4 (id {rs[3].id}): modified" in out and "FAILED" in out


def test_verify_reports_a_deleted_record(
    audit_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = put(audit_url, [rec() for _ in range(6)])
    sql_exec(audit_url, "DELETE FROM audit_records WHERE id = %s", (rs[2].id,))
    assert gateway("audit", "verify", "--audit-url", audit_url) == 1
    out = capsys.readouterr().out
    assert f"TAMPERED: chain c seq 4 (id {rs[3].id}): deleted: record(s) seq 3 missing" in out


def test_verify_reports_an_inserted_record(
    audit_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = put(audit_url, [rec() for _ in range(6)])
    # Make room after seq 3 (in two steps: unique (chain_id, seq) is checked per row).
    sql_exec(audit_url, "UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 4")
    sql_exec(audit_url, "UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1000")
    intruder = rec(text="forged").chained("c", 4, rs[2].hash, "")
    intruder = replace(intruder, hash=record_hash(intruder, KEYS.chain))  # even with the key
    insert_raw(audit_url, intruder)
    assert gateway("audit", "verify", "--audit-url", audit_url) == 1
    assert f"TAMPERED: chain c seq 4 (id {intruder.id}): inserted" in capsys.readouterr().out


def test_purge_keeps_six_months_unless_forced(
    audit_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    ages = [400, 250, 182, 100, 1]  # days
    put(audit_url, [rec(ts=now - timedelta(days=d)) for d in ages])

    assert gateway("audit", "purge", "--audit-url", audit_url, "--older-than-days", "30") == 0
    out = capsys.readouterr()
    assert "six-month legal minimum" in out.err and "purged 2 records" in out.out
    assert "chain c: purged up to seq 2" in out.out
    assert gateway("audit", "verify", "--audit-url", audit_url) == 0  # across the boundary
    capsys.readouterr()

    assert (
        gateway("audit", "purge", "--audit-url", audit_url, "--older-than-days", "30", "--force")
        == 0
    )
    out = capsys.readouterr()
    assert "purged 2 records" in out.out  # the 182- and 100-day-old ones
    assert out.err == (
        "warning: deleting records younger than the retention (180 days): "
        "`gateway audit verify` will report this purge as early-purge\n"
    )
    # A forced purge under six months is on record for good: verify reports it.
    assert gateway("audit", "verify", "--audit-url", audit_url) == 1
    out = capsys.readouterr().out
    assert "TAMPERED: chain c seq 4 (id " in out and "): early-purge: the purge of " in out
    assert "days old; the retention is 180 days" in out
    assert "FAILED: 1 records checked in 1 chains" in out


def test_export_and_report_files(audit_url: str, tmp_path: Path) -> None:
    put(audit_url, [rec(tenant="a", categories=("A1.01",), action="block"), rec(tenant="b")])
    xlsx, csv_path, html = tmp_path / "e.xlsx", tmp_path / "e.csv", tmp_path / "r.html"
    assert (
        gateway("audit", "export", "--audit-url", audit_url, "--tenant", "a", "-o", str(xlsx)) == 0
    )
    assert openpyxl.load_workbook(xlsx)["decisions"].max_row == 2
    assert gateway("audit", "export", "--audit-url", audit_url, "-o", str(csv_path)) == 0
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert gateway("audit", "report", "--audit-url", audit_url, "-o", str(html)) == 0
    assert html.read_text("utf-8").startswith("<!DOCTYPE html>")
    json_path = tmp_path / "r.json"
    assert (
        gateway(
            "audit", "report", "--audit-url", audit_url, "--category", "A1.01", "-o", str(json_path)
        )
        == 0
    )
    assert json.loads(json_path.read_text())["input_refusal_rate"] == 1.0
    assert gateway("audit", "export", "--audit-url", audit_url, "--since", "not-a-date") == 2


def test_audit_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    put(url, [rec()])
    monkeypatch.setenv("GATEWAY_AUDIT_URL", url)
    assert gateway("audit", "verify") == 0
    assert "OK: 1 records checked" in capsys.readouterr().out


def test_a_missing_sqlite_file_is_an_error_not_an_empty_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.db"
    assert gateway("audit", "verify", "--audit-url", f"sqlite:///{missing}") == 2
    assert "no decision log" in capsys.readouterr().err
    assert not missing.exists()
