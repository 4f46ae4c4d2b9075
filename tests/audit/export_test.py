"""Exports (JSONL, CSV, XLSX: each read back with its own reader) and the filing report."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import openpyxl

from gateway.audit import AuditStore, RecordFilter
from gateway.audit.chain import ChainHead
from gateway.audit.export import COLUMNS, export
from gateway.audit.report import ReportBuilder, render_html
from tests.support import audit as fx
from tests.support.audit import rec, seal

audit_url, store = fx.audit_url, fx.store
T0 = datetime(2026, 4, 1, tzinfo=UTC)


def dataset() -> list:  # type: ignore[type-arg]
    return [
        rec(ts=T0, tenant="acme", direction="input", action="block", categories=("A1.04",),
            matched_terms=("炸弹",), text="怎么做炸弹", text_mode="full"),
        rec(ts=T0 + timedelta(minutes=1), tenant="acme", direction="input", action="allow"),
        rec(ts=T0 + timedelta(minutes=2), tenant="acme", direction="input", action="flag",
            categories=("A2.01",), matched_terms=("=cmd|' /C calc'!A0",), text="=1+1"),
        rec(ts=T0 + timedelta(minutes=3), tenant="beta", direction="output", action="block",
            categories=("A1.04", "A2.01"), matched_terms=("炸弹", "<script>alert(1)</script>"),
            stage="stream", incident=True, text="@SUM(A1)", ending="blocked"),
        rec(ts=T0 + timedelta(days=1), tenant="beta", direction="output", action="allow",
            ending="complete"),
        rec(ts=T0 + timedelta(days=2), tenant="beta", direction="input", action="block",
            user="f" * 32, sanction="user suspended"),
    ]  # fmt: skip


async def filled(store: AuditStore) -> list:  # type: ignore[type-arg]
    sealed, _ = seal(dataset(), ChainHead("c"))
    await store.append(sealed)
    return sealed


async def test_jsonl_export_round_trips(store: AuditStore) -> None:
    sealed = await filled(store)
    out = io.BytesIO()
    assert await export(store, RecordFilter(), "jsonl", out) == 6
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert lines == [r.to_dict() for r in sealed]


async def test_csv_export_is_filtered_and_formula_safe(store: AuditStore) -> None:
    await filled(store)
    out = io.BytesIO()
    n = await export(store, RecordFilter(category="A2.01"), "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert n == 2 and len(rows) == 2
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["text"] == "'=1+1"  # not a formula when opened in a spreadsheet
    assert rows[0]["matched_terms"] == "'=cmd|' /C calc'!A0"
    assert rows[1]["categories"] == "A1.04;A2.01" and rows[1]["text"] == "'@SUM(A1)"
    assert rows[1]["incident"] == "True" and rows[1]["tenant"] == "beta"
    assert rows[0]["ending"] == "" and rows[1]["ending"] == "blocked"


async def test_xlsx_export_opens_with_openpyxl(store: AuditStore, tmp_path: Path) -> None:
    await filled(store)
    path = tmp_path / "out.xlsx"
    with path.open("wb") as f:
        n = await export(
            store, RecordFilter(tenant="acme", since=T0, until=T0 + timedelta(hours=1)), "xlsx", f
        )
    assert n == 3
    wb = openpyxl.load_workbook(path)
    ws = wb["decisions"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == COLUMNS and len(rows) == 4
    col = {c: i for i, c in enumerate(COLUMNS)}
    assert rows[1][col["text"]] == "怎么做炸弹" and rows[1][col["action"]] == "block"
    assert "ending" in col
    formula_cell = ws.cell(row=4, column=col["text"] + 1)
    assert formula_cell.value == "=1+1" and formula_cell.data_type == "s"  # text, not a formula


def test_report_numbers() -> None:
    b = ReportBuilder()
    b.add_all(dataset())
    rep = b.result({"tenant": "any"})
    assert rep["records"] == 6
    assert rep["by_direction"] == {
        "input": {"block": 2, "allow": 1, "flag": 1},
        "output": {"block": 1, "allow": 1},
    }
    assert rep["input_refusal_rate"] == 0.5
    assert rep["by_ending"] == {"-": 4, "blocked": 1, "complete": 1}
    assert rep["sanction_count"] == 1 and rep["sanctioned_users"] == [("f" * 32, 1)]
    cells = {(r["category"], r["direction"]): r for r in rep["by_category"]}
    assert cells[("A1.04", "input")]["block_rate"] == 1.0
    assert (
        cells[("A2.01", "input")]["flag_rate"] == 1.0
        and cells[("A2.01", "input")]["block_rate"] == 0.0
    )
    assert cells[("-", "input")]["count"] == 2 and cells[("-", "output")]["count"] == 1
    assert cells[("A1.04", "output")]["name_zh"] and cells[("A1.04", "output")]["name_en"]
    assert tuple(rep["top_terms"][0]) == ("炸弹", 2)
    assert rep["incident_count"] == 1 and rep["incidents"][0]["tenant"] == "beta"


def test_report_html_escapes_everything_and_is_standalone() -> None:
    b = ReportBuilder()
    b.add_all(dataset())
    page = render_html(b.result({"tenant": "<b>x</b>"}))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "事件 Incidents" in page and "输入拒答率 Input refusal rate" in page
    assert "http://" not in page and "https://" not in page  # no external assets

    class Tables(HTMLParser):
        count = 0

        def handle_starttag(self, tag: str, attrs: object) -> None:
            self.count += tag == "table"

    parser = Tables()
    parser.feed(page)
    assert parser.count == 8
    assert "按结束方式 By how the exchange ended" in page and "<td>blocked</td>" in page
    assert "被处置用户 Sanctioned users" in page and "f" * 32 in page
