"""Tampering with a real log, on SQLite and PostgreSQL, as each attacker would, and the
exact lines ``gateway audit verify`` prints for it.

The log is written by a real ``AuditWriter`` (keyed chain, signed checkpoints in a
directory of its own); the attacks are plain SQL against the tables, as a database
administrator without the gateway's secret could run them.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from gateway.audit import DecisionRecord, RecordFilter, open_store
from gateway.audit.chain import GENESIS, ChainHead, record_hash, unkeyed_hash
from gateway.audit.checkpoint import Checkpoint, CheckpointLog, scan
from gateway.audit.cli import register
from gateway.audit.keys import AuditKeys
from gateway.audit.writer import AuditWriter
from tests.support import audit as fx
from tests.support.audit import KEYS, rec, sql_exec

audit_url = fx.audit_url
N = 6


@pytest.fixture
def checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "checkpoints"
    monkeypatch.setenv("GATEWAY_PSEUDONYM_KEY", fx.PSEUDONYM_KEY)
    monkeypatch.setenv("GATEWAY_AUDIT_CHECKPOINT_DIR", str(directory))
    return directory


def gateway(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def verify_lines(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = gateway("audit", "verify", "--audit-url", url)
    return code, capsys.readouterr().out.splitlines()


def write_log(url: str, directory: Path, spool: Path, n: int = N) -> list[DecisionRecord]:
    """``n`` records through a real writer (chain ``c``); closing it writes a checkpoint."""

    async def run() -> list[DecisionRecord]:
        store = open_store(url)
        writer = AuditWriter(store, keys=KEYS, spool_dir=spool, checkpoint_dir=directory,
                             chain_id="c")  # fmt: skip
        await writer.start()
        for i in range(n):
            await writer.write(rec(action="block" if i % 2 else "allow", text=f"t{i}"))
        await writer.close()
        rows = sorted(await store.query(RecordFilter()), key=lambda r: r.seq)
        await store.close()
        return rows

    return asyncio.run(run())


def checkpoint_at(directory: Path) -> str:
    return scan(directory, KEYS).latest["c"].at.isoformat()


def ok_lines(rs: list[DecisionRecord], directory: Path) -> list[str]:
    return [
        f"chain c: head seq {rs[-1].seq} hash {rs[-1].hash}",
        f"chain c: checkpoint seq {rs[-1].seq} hash {rs[-1].hash} at {checkpoint_at(directory)}",
        f"OK: {len(rs)} records checked in 1 chains (key id {KEYS.key_id})",
    ]


def test_an_untouched_log_verifies(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    assert verify_lines(audit_url, capsys) == (0, ok_lines(rs, checkpoints))


def test_deleting_the_newest_record_is_caught(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    sql_exec(audit_url, "DELETE FROM audit_records WHERE id = %s", (rs[-1].id,))
    at = checkpoint_at(checkpoints)
    assert verify_lines(audit_url, capsys) == (1, [
        f"TAMPERED: chain c seq 6 (id {rs[5].id}): truncated: record(s) seq 6 deleted from the "
        f"end of the chain: the checkpoint of {_z(at)} names seq 6, "
        f"the newest record left is seq 5 (id {rs[4].id})",
        f"chain c: head seq 5 hash {rs[4].hash}",
        f"chain c: checkpoint seq 6 hash {rs[5].hash} at {at}",
        f"FAILED: 5 records checked in 1 chains (key id {KEYS.key_id})",
    ])  # fmt: skip


def test_a_truncated_chain_is_caught(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    sql_exec(audit_url, "DELETE FROM audit_records WHERE seq >= 4")
    code, lines = verify_lines(audit_url, capsys)
    assert code == 1
    assert lines[0] == (
        f"TAMPERED: chain c seq 6 (id {rs[5].id}): truncated: record(s) seq 4..6 deleted from "
        f"the end of the chain: the checkpoint of {_z(checkpoint_at(checkpoints))} names seq 6, "
        f"the newest record left is seq 3 (id {rs[2].id})"
    )
    assert lines[-1] == f"FAILED: 3 records checked in 1 chains (key id {KEYS.key_id})"


def test_deleting_every_row_is_caught(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    sql_exec(audit_url, "DELETE FROM audit_records")
    at = checkpoint_at(checkpoints)
    assert verify_lines(audit_url, capsys) == (1, [
        f"TAMPERED: chain c seq 6 (id {rs[5].id}): truncated: record(s) seq 1..6 deleted from "
        f"the end of the chain: the checkpoint of {_z(at)} names seq 6, no record of it is left",
        f"chain c: checkpoint seq 6 hash {rs[5].hash} at {at}",
        f"FAILED: 0 records checked in 1 chains (key id {KEYS.key_id})",
    ])  # fmt: skip


def _sha256_rehash(rs: list[DecisionRecord], start: int, changed: DecisionRecord) -> list[DecisionRecord]:  # fmt: skip
    """What an attacker without the key can do: edit record ``start`` and recompute every
    later link with a hash they can compute (plain SHA-256 over the record's JSON)."""
    out, prev = [], rs[start - 1].prev_hash
    for r in [changed, *rs[start:]]:
        r = replace(r, prev_hash=prev)
        body = orjson.dumps({**r.to_dict(), "hash": ""}, option=orjson.OPT_SORT_KEYS)
        r = replace(r, hash=hashlib.sha256(body).hexdigest())
        out.append(r)
        prev = r.hash
    return out


def _rewrite(url: str, rows: list[DecisionRecord]) -> None:
    for r in rows:
        sql_exec(
            url,
            "UPDATE audit_records SET action = %s, prev_hash = %s, hash = %s WHERE id = %s",
            (r.action, r.prev_hash, r.hash, r.id),
        )


def test_an_edit_with_every_later_hash_recomputed_is_caught(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    assert rs[2].action == "allow"
    _rewrite(audit_url, _sha256_rehash(rs, 3, replace(rs[2], action="block")))
    code, lines = verify_lines(audit_url, capsys)
    assert code == 1
    assert lines[0] == (
        f"TAMPERED: chain c seq 3 (id {rs[2].id}): modified: content does not match its keyed hash"
    )
    assert lines[-1] == f"FAILED: 3 records checked in 1 chains (key id {KEYS.key_id})"


def test_a_rewrite_with_the_key_is_caught_by_the_checkpoint(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key holder who cannot write the checkpoint directory rewrites seq 3..6."""
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    prev, forged = rs[1].hash, []
    for r in [replace(rs[2], action="block"), *rs[3:]]:
        r = replace(r, prev_hash=prev)
        r = replace(r, hash=record_hash(r, KEYS.chain))
        forged.append(r)
        prev = r.hash
    _rewrite(audit_url, forged)
    code, lines = verify_lines(audit_url, capsys)
    assert code == 1
    assert lines[0] == (
        f"TAMPERED: chain c seq 6 (id {rs[5].id}): checkpoint-mismatch: the record at seq 6 is "
        f"not the one the checkpoint of {_z(checkpoint_at(checkpoints))} signed: the chain was "
        "rewritten with the key"
    )


def test_a_forged_anchor_row_is_caught(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Minutes-old records deleted, and an anchor row inserted to make it look like a
    lawful purge of records from a year ago."""
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    sql_exec(audit_url, "DELETE FROM audit_records WHERE seq <= 3")
    year_ago = datetime.now(UTC) - timedelta(days=365)
    ts = (lambda t: t.isoformat()) if "postgres" in audit_url else _z_dt
    sql_exec(
        audit_url,
        "INSERT INTO audit_anchors (chain_id, seq, hash, purged_at, record_id, newest_ts, mac)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        ("c", 3, rs[2].hash, ts(datetime.now(UTC)), rs[2].id, ts(year_ago), "ab" * 32),
    )
    code, lines = verify_lines(audit_url, capsys)
    assert code == 1
    assert lines[:2] == [
        f"TAMPERED: chain c seq 3 (id {rs[2].id}): anchor-forged: the purge anchor is not sealed "
        "with this gateway's key: records up to this seq were deleted without a lawful purge",
        f"TAMPERED: chain c seq 4 (id {rs[3].id}): deleted: record(s) seq 1..3 missing before "
        "this one",
    ]


def test_a_key_holder_cannot_backdate_a_purge_of_checkpointed_records(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the key, an anchor that claims the deleted records were a year old verifies;
    the checkpoints show the chain did not have them a year ago."""
    from gateway.audit.anchors import next_anchor
    from gateway.audit.sql import POSTGRES, SQLITE, anchor_row

    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    sql_exec(audit_url, "DELETE FROM audit_records WHERE seq <= 3")
    now = datetime.now(UTC)
    forged = next_anchor(None, chain_id="c", seq=3, hash=rs[2].hash, record_id=rs[2].id,
                         newest_ts=now - timedelta(days=365), now=now, key=KEYS.anchor)  # fmt: skip
    row = anchor_row(forged, POSTGRES if "postgres" in audit_url else SQLITE)
    sql_exec(audit_url, "INSERT INTO audit_anchors (chain_id, seq, hash, purged_at, record_id,"
             " newest_ts, mac) VALUES (%s, %s, %s, %s, %s, %s, %s)", row)  # fmt: skip
    genesis = next(c for c in _all_checkpoints(checkpoints) if c.seq == 0)
    code, lines = verify_lines(audit_url, capsys)
    assert code == 1
    assert lines[0] == (
        f"TAMPERED: chain c seq 3 (id {rs[2].id}): anchor-backdated: the anchor says the newest "
        f"purged record is from {_z_dt(now - timedelta(days=365))}, but the checkpoint of "
        f"{_z_dt(genesis.at)} shows the chain at seq 0, before seq 3 existed"
    )


def _all_checkpoints(directory: Path) -> list[Checkpoint]:
    path = directory / "c.checkpoints.jsonl"
    return [Checkpoint.from_dict(orjson.loads(x)) for x in path.read_bytes().splitlines()]


def test_an_early_purge_is_caught(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Even a purge made with the key cannot make minutes-old records lawfully gone."""
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    assert gateway("audit", "purge", "--audit-url", audit_url, "--older-than-days", "0",
                   "--force") == 0  # fmt: skip
    capsys.readouterr()

    async def anchor() -> tuple[datetime, datetime]:
        store = open_store(audit_url)
        a = (await store.anchors())["c"]
        await store.close()
        assert a.purged_at is not None and a.newest_ts is not None
        return a.purged_at, a.newest_ts

    purged_at, newest = asyncio.run(anchor())
    hours = (purged_at - newest).total_seconds() / 3600
    code, lines = verify_lines(audit_url, capsys)
    assert code == 1
    assert lines[0] == (
        f"TAMPERED: chain c seq 6 (id {rs[5].id}): early-purge: the purge of {_z_dt(purged_at)} "
        f"deleted a record from {_z_dt(newest)}, {hours:.1f} hours old; the retention is 180 days"
    )
    assert lines[-1] == f"FAILED: 0 records checked in 1 chains (key id {KEYS.key_id})"


def test_a_chain_from_before_keyed_chains_is_named_as_such(
    audit_url: str, checkpoints: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoints.mkdir()
    legacy, prev = [], GENESIS
    for i in range(3):  # sealed the way the gateway did before this change
        r = rec().chained("old", i + 1, prev, "")
        r = replace(r, hash=unkeyed_hash(r))
        legacy.append(r)
        prev = r.hash

    async def put() -> None:
        store = open_store(audit_url)
        await store.append(legacy)
        await store.close()

    asyncio.run(put())
    assert verify_lines(audit_url, capsys) == (1, [
        f"TAMPERED: chain old seq 1 (id {legacy[0].id}): unkeyed: this chain was not sealed with "
        "this gateway's key: it is a plain SHA-256 chain from before keyed chains, which verify "
        "no longer supports",
        f"FAILED: 1 records checked in 1 chains (key id {KEYS.key_id})",
    ])  # fmt: skip


def test_another_key_is_named(
    audit_url: str,
    checkpoints: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    other = "a-different-secret-than-the-gateway-ran-with"
    monkeypatch.setenv("GATEWAY_PSEUDONYM_KEY", other)
    theirs = AuditKeys.from_secret(other).key_id
    code, lines = verify_lines(audit_url, capsys)
    assert code == 1
    assert (
        f"TAMPERED: chain c seq 0 (id -): unkeyed: checkpoint in c.checkpoints.jsonl line 1 was "
        f"signed under key id {KEYS.key_id}, not this gateway's key ({theirs})"
    ) in lines
    assert (
        f"TAMPERED: chain c seq 1 (id {rs[0].id}): modified: content does not match its keyed hash"
    ) in lines


def test_a_checkpoint_line_without_the_key_is_caught(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_log(audit_url, checkpoints, tmp_path / "spool")
    path = checkpoints / "c.checkpoints.jsonl"
    lines = path.read_bytes().splitlines()
    fake = {**orjson.loads(lines[-1]), "seq": 99, "mac": "00" * 32}
    path.write_bytes(path.read_bytes() + orjson.dumps(fake) + b"\n")
    code, out = verify_lines(audit_url, capsys)
    assert code == 1
    assert out[0] == (
        f"TAMPERED: chain c seq 99 (id {fake['record_id']}): checkpoint-forged: "
        f"c.checkpoints.jsonl line {len(lines) + 1} does not carry this gateway's signature"
    )


def test_records_after_the_last_checkpoint_are_the_documented_window(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Records newer than the last checkpoint are covered by the chain alone: deleting
    the newest of them is not detectable, and verify says how many there are."""
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    more, _ = fx.seal([rec(), rec()], ChainHead("c", rs[-1].seq, rs[-1].hash))

    async def put() -> None:
        store = open_store(audit_url)
        await store.append(more)
        await store.close()

    asyncio.run(put())
    sql_exec(audit_url, "DELETE FROM audit_records WHERE id = %s", (more[-1].id,))
    code, lines = verify_lines(audit_url, capsys)
    assert code == 0
    assert (
        f"note: chain c: 1 record(s) after its last checkpoint (seq 6, "
        f"{_z(checkpoint_at(checkpoints))}) are covered by the chain only"
    ) in lines


def test_verify_without_a_checkpoint_directory_refuses(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_log(audit_url, tmp_path / "elsewhere", tmp_path / "spool")
    assert gateway("audit", "verify", "--audit-url", audit_url) == 2
    assert capsys.readouterr().err == (
        f"error: no checkpoint directory at {checkpoints} (--checkpoint-dir, "
        "GATEWAY_AUDIT_CHECKPOINT_DIR; --no-checkpoints to check without)\n"
    )
    assert gateway("audit", "verify", "--audit-url", audit_url, "--no-checkpoints") == 0
    assert capsys.readouterr().out.startswith("WARNING: checkpoints not checked")


def test_verify_needs_the_secret(
    audit_url: str,
    checkpoints: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_log(audit_url, checkpoints, tmp_path / "spool")
    monkeypatch.delenv("GATEWAY_PSEUDONYM_KEY")
    assert gateway("audit", "verify", "--audit-url", audit_url) == 2
    assert capsys.readouterr().err.startswith(
        "error: the decision log is keyed with the gateway's secret: "
        "pseudonym_key (GATEWAY_PSEUDONYM_KEY) is not set"
    )


def test_a_checkpoint_log_line_torn_by_a_crash_is_skipped(tmp_path: Path) -> None:
    log = CheckpointLog(tmp_path, "c", KEYS)
    log.append(ChainHead("c", 5, "h" * 64), "r5", datetime.now(UTC))
    log.close()
    path = tmp_path / "c.checkpoints.jsonl"
    path.write_bytes(path.read_bytes() + b'{"chain_id": "c", "seq": 9')  # no newline
    found = scan(tmp_path, KEYS)
    assert found.problems == [] and found.latest["c"].seq == 5


def _z(iso: str) -> str:
    """An isoformat() time in the log's fixed-width form (what messages print)."""
    return _z_dt(datetime.fromisoformat(iso))


def _z_dt(ts: datetime) -> str:
    return re.sub(r"\+00:00$", "", ts.astimezone(UTC).isoformat(timespec="microseconds")) + "Z"


def test_the_report_prints_the_latest_checkpoint(
    audit_url: str, checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rs = write_log(audit_url, checkpoints, tmp_path / "spool")
    assert gateway("audit", "report", "--audit-url", audit_url, "--format", "json") == 0
    report = orjson.loads(capsys.readouterr().out)
    [cp] = report["checkpoints"]
    assert (cp["chain_id"], cp["seq"], cp["hash"], cp["record_id"]) == ("c", 6, rs[-1].hash,
                                                                         rs[-1].id)  # fmt: skip
    html = tmp_path / "r.html"
    assert gateway("audit", "report", "--audit-url", audit_url, "-o", str(html)) == 0
    assert (
        f"<td>最新签名检查点 Latest signed checkpoint</td><td>c seq 6 hash {rs[-1].hash} "
        f"({cp['at']})</td>"
    ) in html.read_text("utf-8")


def test_hash_text_prints_the_keyed_hash_the_log_keeps(
    checkpoints: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from io import StringIO

    from gateway.audit.keys import text_hash

    assert gateway("audit", "hash-text", "13812345678") == 0
    assert capsys.readouterr().out == text_hash("13812345678", KEYS.text) + "\n"
    monkeypatch.setattr("sys.stdin", StringIO("第一段\n第二段\n"))  # as `echo` would send it
    assert gateway("audit", "hash-text") == 0
    assert capsys.readouterr().out == text_hash("第一段\n第二段", KEYS.text) + "\n"


def test_the_report_without_the_secret_lists_no_checkpoints(
    audit_url: str,
    checkpoints: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_log(audit_url, checkpoints, tmp_path / "spool")
    monkeypatch.delenv("GATEWAY_PSEUDONYM_KEY")
    assert gateway("audit", "report", "--audit-url", audit_url, "--format", "json") == 0
    out = capsys.readouterr()
    report = orjson.loads(out.out)
    assert report["records"] == N and "checkpoints" not in report
    assert out.err.startswith("warning: checkpoints not listed (they are checked with the")
