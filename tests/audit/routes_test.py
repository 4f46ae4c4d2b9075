"""Admin routes: bearer token required, 404 when no token is configured, JSON errors."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from gateway.audit import AuditStore
from gateway.audit.chain import ChainHead
from gateway.audit.routes import admin_routes
from tests.support import audit as fx
from tests.support.audit import rec, seal

audit_url, store = fx.audit_url, fx.store
TOKEN = "s3cret-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 5, 1, tzinfo=UTC)


def client(
    store: AuditStore, token: SecretStr | str | None, checkpoints: Any = None
) -> httpx.AsyncClient:
    app = Starlette(routes=admin_routes(store, token, checkpoints))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def http(store: AuditStore) -> AsyncIterator[httpx.AsyncClient]:
    rows = [rec(ts=T0 + timedelta(seconds=i), tenant="acme" if i % 2 else "beta",
                action="block" if i % 5 == 0 else "allow") for i in range(25)]  # fmt: skip
    sealed, _ = seal(rows, ChainHead("c"))
    await store.append(sealed)
    async with client(store, SecretStr(TOKEN)) as c:
        yield c


async def test_no_token_configured_hides_the_routes(store: AuditStore) -> None:
    async with client(store, None) as c:
        for path in ("/admin/audit/records", "/admin/audit/export", "/admin/audit/report"):
            resp = await c.get(path, headers=AUTH)
            assert resp.status_code == 404
            assert resp.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "auth", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN]
)
async def test_wrong_or_missing_token_is_refused(http: httpx.AsyncClient, auth: str | None) -> None:
    headers = {"Authorization": auth} if auth else {}
    resp = await http.get("/admin/audit/records", headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json() == {
        "error": {
            "message": "admin bearer token required",
            "type": "authentication_error",
            "code": "unauthorized",
        }
    }


async def test_records_are_paged_with_a_cursor(http: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"tenant": "acme", "limit": "5", **({"cursor": cursor} if cursor else {})}
        body = (await http.get("/admin/audit/records", params=params, headers=AUTH)).json()
        seen += [r["id"] for r in body["records"]]
        assert all(r["tenant"] == "acme" for r in body["records"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 12 == len(set(seen))
    one = await http.get(f"/admin/audit/records/{seen[0]}", headers=AUTH)
    assert one.status_code == 200 and one.json()["id"] == seen[0]
    missing = await http.get("/admin/audit/records/nope", headers=AUTH)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"since": "yesterday"}, "since"),
        ({"action": "explode"}, "action"),
        ({"limit": "many"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000000"}, "limit"),
        ({"cursor": "!!"}, "cursor"),
        ({"ending": "finished"}, "ending"),
    ],
)
async def test_bad_filters_are_400_json(
    http: httpx.AsyncClient, params: dict[str, str], needle: str
) -> None:
    resp = await http.get("/admin/audit/records", params=params, headers=AUTH)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert err["code"] == "invalid_filter" and err["message"].startswith(needle)


async def test_export_downloads(http: httpx.AsyncClient) -> None:
    resp = await http.get(
        "/admin/audit/export", params={"format": "csv", "action": "block"}, headers=AUTH
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert len(rows) == 5 and {r["action"] for r in rows} == {"block"}

    resp = await http.get("/admin/audit/export", params={"format": "xlsx"}, headers=AUTH)
    assert resp.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(resp.content))["decisions"]
    assert ws.max_row == 26

    resp = await http.get("/admin/audit/export", params={"format": "pdf"}, headers=AUTH)
    assert resp.status_code == 400


async def test_report_json_and_html(http: httpx.AsyncClient) -> None:
    rep = (await http.get("/admin/audit/report", params={"tenant": "beta"}, headers=AUTH)).json()
    assert rep["records"] == 13 and rep["filters"] == {"tenant": "beta"}
    page = await http.get("/admin/audit/report", params={"format": "html"}, headers=AUTH)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "审计报告" in page.text


async def test_records_filter_by_ending_and_report_counts_endings(store: AuditStore) -> None:
    rows = [rec(direction="output", ending=e) for e in ("complete", "blocked", "complete")]
    await store.append(seal(rows, ChainHead("e"))[0])
    async with client(store, SecretStr(TOKEN)) as http:
        body = (await http.get("/admin/audit/records", params={"ending": "complete"},
                               headers=AUTH)).json()  # fmt: skip
        assert [r["id"] for r in body["records"]] == [rows[0].id, rows[2].id]
        assert {r["ending"] for r in body["records"]} == {"complete"}
        rep = (await http.get("/admin/audit/report", headers=AUTH)).json()
        assert rep["by_ending"] == {"blocked": 1, "complete": 2}
        assert "checkpoints" not in rep  # no checkpoint reader given


async def test_report_lists_the_signed_checkpoint_of_each_chain(
    store: AuditStore, tmp_path: Path
) -> None:
    from gateway.audit.checkpoint import CheckpointReader
    from gateway.audit.writer import AuditWriter
    from tests.support.audit import KEYS

    w = AuditWriter(store, keys=KEYS, spool_dir=tmp_path / "spool", chain_id="w",
                    checkpoint_dir=tmp_path / "cp")  # fmt: skip
    await w.start()
    await w.write(rec())
    await w.close()
    await store.append(seal([rec()], ChainHead("no-checkpoint"))[0])
    reader = CheckpointReader(tmp_path / "cp", KEYS)
    async with client(store, SecretStr(TOKEN), reader) as http:
        rep = (await http.get("/admin/audit/report", headers=AUTH)).json()
        page = (await http.get("/admin/audit/report", params={"format": "html"},
                               headers=AUTH)).text  # fmt: skip
    by_chain = {c["chain_id"]: c for c in rep["checkpoints"]}
    assert by_chain["w"]["seq"] == 1 and by_chain["w"]["hash"] == w.head.hash
    assert by_chain["w"]["key_id"] == KEYS.key_id and len(by_chain["w"]["mac"]) == 64
    assert by_chain["no-checkpoint"]["seq"] is None
    assert rep["checkpoint_dir"] == str(tmp_path / "cp")
    assert f"w seq 1 hash {w.head.hash}" in page and "签名检查点 Signed checkpoints" in page
