"""The complaint queue in the console over HTTP against a real gateway: roles and CSRF,
assign / answer / close, the outcome as a review label in the training export, overdue
tickets on the start page and in /metrics, incident records, the statistics report, and
the ``gateway reports`` / ``gateway audit report`` commands."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.cli import main
from gateway.reports.store import TicketStore
from tests.conftest import Mock
from tests.support.console import ConsoleGateway, login, start


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("reports-console"), mock.url)
    yield g
    g.stop()


def _db_url(gw: ConsoleGateway) -> str:
    url: str = gw.state().settings.reports_database()
    return url


def _file(gw: ConsoleGateway, reply: str, reason: str = "false_information",
          **extra: str) -> dict[str, Any]:  # fmt: skip
    with httpx.Client(base_url=gw.url, timeout=30) as http:
        chat = http.post("/v1/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "问题"}], "mock_reply": reply})  # fmt: skip
        decision = chat.headers["x-gateway-decision-id"]
        filed = http.post("/v1/reports", json={"decision_id": decision, "reason": reason, **extra})
        assert filed.status_code == 200, filed.text
        out: dict[str, Any] = filed.json()
        return out


def _lookup(gw: ConsoleGateway, filed: dict[str, Any]) -> dict[str, Any]:
    with httpx.Client(base_url=gw.url) as http:
        out: dict[str, Any] = http.get(f"/v1/reports/{filed['id']}",
                                       params={"token": filed["token"]}).json()  # fmt: skip
        return out


def _metrics(gw: ConsoleGateway) -> dict[str, float]:
    with httpx.Client(base_url=gw.url) as http:
        text = http.get("/metrics").text
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name in ("gateway_reports_open", "gateway_reports_overdue")}  # fmt: skip


def _make_overdue(gw: ConsoleGateway, ticket_id: str) -> None:
    """Move a ticket's deadline into the past through a second connection, as if the
    published time limit had run out."""

    async def run() -> None:
        store = TicketStore(_db_url(gw))
        try:
            await store.modify(ticket_id, lambda t: dataclasses.replace(t, due=t.created - 60))
        finally:
            await store.close()

    asyncio.run(run())


def test_queue_and_ticket_show_the_reported_answer_decision_and_policy(gw: ConsoleGateway) -> None:
    filed = _file(gw, "月亮是奶酪做的", detail="明显错误", contact="reporter@example.com")
    viewer, _ = login(gw.url, "victor")
    queue = viewer.get("/console/reports")
    assert queue.status_code == 200 and filed["id"] in queue.text and "剩余 71 小时" in queue.text
    page = viewer.get(f"/console/reports/{filed['id']}")
    assert "月亮是奶酪做的" in page.text  # the decision's kept text (the answer)
    assert gw.state().policies.current.version in page.text
    assert "reporter@example.com" in page.text  # staff see the contact; exports never do
    # A viewer reads but cannot act; the forms are not even offered.
    assert 'id="close-form"' not in page.text
    _, csrf = login(gw.url, "alice")
    denied = viewer.post(f"/console/reports/{filed['id']}/close",
                         data={"csrf": csrf, "outcome": "no_violation", "answer": "x"})  # fmt: skip
    assert denied.status_code == 403
    assert _lookup(gw, filed)["status"] == "open"


def test_every_post_needs_the_session_csrf_token(gw: ConsoleGateway) -> None:
    filed = _file(gw, "CSRF 检查")
    editor, _ = login(gw.url, "alice")
    resp = editor.post(f"/console/reports/{filed['id']}/answer", data={"answer": "好"})
    assert resp.status_code == 403
    assert _lookup(gw, filed)["answer"] is None


def test_assign_answer_and_close_feed_the_reporter_and_the_review_labels(
    gw: ConsoleGateway,
) -> None:
    filed = _file(gw, "某品牌手机会爆炸，千万别买", reason="commercial")
    editor, csrf = login(gw.url, "alice")
    tid = filed["id"]
    bad = editor.post(f"/console/reports/{tid}/assign", data={"csrf": csrf, "assignee": "victor"})
    assert bad.status_code == 400  # a viewer cannot hold tickets
    assert editor.post(f"/console/reports/{tid}/assign",
                       data={"csrf": csrf, "assignee": "bob"}).status_code == 303  # fmt: skip
    no_answer = editor.post(f"/console/reports/{tid}/close",
                            data={"csrf": csrf, "outcome": "content_removed"})  # fmt: skip
    assert no_answer.status_code == 400  # closing needs an answer for the reporter
    assert editor.post(f"/console/reports/{tid}/answer",
                       data={"csrf": csrf, "answer": "已核实，正在处理"}).status_code == 303  # fmt: skip
    seen = _lookup(gw, filed)
    assert seen["status"] == "answered" and seen["answer"] == "已核实，正在处理"
    assert seen["answered_at"] is not None and seen["overdue"] is False
    closed = editor.post(f"/console/reports/{tid}/close",
                         data={"csrf": csrf, "outcome": "content_removed", "note": "下架"})  # fmt: skip
    assert closed.status_code == 303
    again = editor.post(f"/console/reports/{tid}/close",
                        data={"csrf": csrf, "outcome": "no_violation", "answer": "x"})  # fmt: skip
    assert again.status_code == 409
    seen = _lookup(gw, filed)
    assert seen["status"] == "closed" and seen["outcome"] == "content_removed"
    page = editor.get(f"/console/reports/{tid}").text
    assert "bob" in page and "已删除相关内容" in page
    labels = [
        orjson.loads(line) for line in editor.get("/console/reviews/export").content.splitlines()
    ]
    assert {"text": "某品牌手机会爆炸，千万别买", "label": 1,
            "categories": ["A3.01", "A3.02", "A3.03", "A3.04", "A3.05"],
            "direction": "output"} in labels  # fmt: skip
    log = [e["action"] for e in gw.db.admin_log()]
    assert {"report_assign", "report_answer", "report_close"} <= set(log)


def test_no_violation_is_a_negative_label(gw: ConsoleGateway) -> None:
    filed = _file(gw, "水在一百摄氏度沸腾", reason="inaccurate")
    editor, csrf = login(gw.url, "alice")
    editor.post(f"/console/reports/{filed['id']}/close", data={
        "csrf": csrf, "outcome": "no_violation", "answer": "经核查，内容无误"})  # fmt: skip
    labels = [
        orjson.loads(line) for line in editor.get("/console/reviews/export").content.splitlines()
    ]
    assert {"text": "水在一百摄氏度沸腾", "label": 0, "categories": [],
            "direction": "output"} in labels  # fmt: skip


def test_overdue_ticket_raises_the_metric_and_shows_on_the_start_page(gw: ConsoleGateway) -> None:
    before = _metrics(gw)
    filed = _file(gw, "超期测试回答", reason="terrorism")
    assert _metrics(gw)["gateway_reports_open"] == before["gateway_reports_open"] + 1
    _make_overdue(gw, filed["id"])
    after = _metrics(gw)
    assert after["gateway_reports_overdue"] == before["gateway_reports_overdue"] + 1
    viewer, _ = login(gw.url, "victor")
    home = viewer.get("/console/").text
    assert re.search(rf'href="/console/reports/{filed["id"]}"[^>]*>', home)
    assert re.search(r"已超期 0 小时 \d+ 分", home)
    overdue_view = viewer.get("/console/reports", params={"status": "overdue"}).text
    assert filed["id"] in overdue_view
    assert _lookup(gw, filed)["overdue"] is True
    editor, csrf = login(gw.url, "alice")
    editor.post(
        f"/console/reports/{filed['id']}/answer", data={"csrf": csrf, "answer": "迟到的答复"}
    )
    assert _metrics(gw)["gateway_reports_overdue"] == before["gateway_reports_overdue"]
    assert filed["id"] not in viewer.get("/console/").text


def test_incident_record_from_a_ticket_and_its_exports(gw: ConsoleGateway) -> None:
    filed = _file(gw, "违法内容样本", reason="illegal_other")
    editor, csrf = login(gw.url, "alice")
    form = editor.get(f"/console/incidents/new?ticket={filed['id']}").text
    prefilled = re.search(r'id="incident-decisions" rows="3">([^<]*)<', form)
    assert prefilled is not None
    decisions = prefilled.group(1).split()
    assert len(decisions) == 2 and decisions[1].endswith("-out")
    bad = editor.post("/console/incidents", data={"csrf": csrf, "title": "", "description": "d",
                                                  "occurred_at": "2026-06-01T10:00"})  # fmt: skip
    assert bad.status_code == 400 and "事件：必填。" in bad.text
    created = editor.post("/console/incidents", data={
        "csrf": csrf, "title": "违法内容经流式输出", "description": "用户举报后确认",
        "occurred_at": "2026-06-01T10:00", "decision_ids": "\n".join(decisions),
        "ticket_ids": filed["id"], "categories": ["A1.08"],
        "measures": ["stopped_transmission", "content_removed", "reported_to_authority"],
        "authority": "某市网信办", "reported_at": "2026-06-01T12:00",
    })  # fmt: skip
    assert created.status_code == 303
    where = created.headers["location"]
    assert re.fullmatch(r"/console/incidents/inc_[0-9a-f]{16}", where)
    page = editor.get(where + "/export?format=html")
    assert page.status_code == 200 and "违法内容样本" in page.text and "某市网信办" in page.text
    assert "停止传输" in page.text and page.headers["content-security-policy"].startswith(
        "default-src 'none'"
    )
    record = editor.get(where + "/export?format=json").json()
    assert [d["id"] for d in record["decisions"]] == decisions
    assert (
        record["tickets"][0]["id"] == filed["id"]
        and record["reported_at"] == "2026-06-01T12:00:00Z"
    )
    edited = editor.post(where, data={
        "csrf": csrf, "title": "违法内容经流式输出", "description": "补充：已重新训练",
        "occurred_at": "2026-06-01T10:00", "measures": ["model_retrained"]})  # fmt: skip
    assert edited.status_code == 303
    rows = list(csv.DictReader(io.StringIO(
        editor.get("/console/incidents/export?format=csv").content.decode("utf-8-sig"))))  # fmt: skip
    mine = next(r for r in rows if r["id"] == where.rsplit("/", 1)[1])
    assert mine["measures"] == "model_retrained" and "已重新训练" in mine["description"]
    viewer, vcsrf = login(gw.url, "victor")
    assert viewer.post("/console/incidents", data={"csrf": vcsrf}).status_code == 403


def test_ticket_exports_leave_out_contacts(gw: ConsoleGateway) -> None:
    filed = _file(gw, "导出测试", contact="private-contact@example.com", user="end-user-7")
    viewer, _ = login(gw.url, "victor")
    for fmt in ("csv", "jsonl"):
        body = viewer.get("/console/reports/export", params={"format": fmt}).content.decode()
        assert filed["id"] in body
        assert "private-contact" not in body and "end-user-7" not in body
    xlsx = viewer.get("/console/reports/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_statistics_report_counts_complaints(gw: ConsoleGateway, tmp_path: Path) -> None:
    _file(gw, "统计测试", reason="hatred")
    viewer, _ = login(gw.url, "victor")
    report = viewer.get("/console/log/report", params={"format": "json"}).json()
    c = report["complaints"]
    assert c["tickets"] >= 1 and c["by_reason"]["hatred"] >= 1
    assert set(c) >= {"by_outcome", "answer_hours_median", "answer_hours_p95", "overdue"}
    html = viewer.get("/console/log/report").text
    assert "投诉举报 Complaints and reports" in html and "答复用时 P95" in html
    # The same figures from the host's command line.
    out = tmp_path / "report.json"
    audit_url = gw.state().settings.audit_url
    assert main(["audit", "report", "--audit-url", audit_url, "-o", str(out)]) == 0
    from_cli = orjson.loads(out.read_bytes())["complaints"]
    assert from_cli["tickets"] == c["tickets"] and from_cli["by_reason"] == c["by_reason"]


def test_reports_command_exports_stats_and_purges(gw: ConsoleGateway, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    _file(gw, "命令行测试")
    url = _db_url(gw)
    out = tmp_path / "tickets.csv"
    assert main(["reports", "export", "--reports-url", url, "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert rows and "contact" not in rows[0]
    assert main(["reports", "stats", "--reports-url", url]) == 0
    assert orjson.loads(capsys.readouterr().out)["tickets"] == len(rows)
    # Nothing is old enough; the six-month floor holds even when asked for one day.
    assert main(["reports", "purge", "--reports-url", url, "--older-than-days", "1"]) == 0
    captured = capsys.readouterr()
    assert "purged 0 closed tickets" in captured.out and "six-month legal minimum" in captured.err
    assert main(["reports", "stats", "--reports-url", "sqlite:///" + str(tmp_path / "no.db")]) == 2


def test_audit_purge_applies_the_log_retention_to_closed_tickets(
    gw: ConsoleGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    old = time.time() - 400 * 86400
    filed = [_file(gw, f"保留期测试 {i}") for i in range(3)]

    def age(ticket_id: str, closed: bool) -> None:
        # Filing time is fixed once filed; only the database itself can make a ticket old.
        path = _db_url(gw).removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE report_tickets SET created = ?, due = ?, status = ?, answered_at = ?,"
                " closed_at = ? WHERE id = ?",
                (old, old + 3600, "closed" if closed else "open",
                 old + 60 if closed else None, old + 60 if closed else None, ticket_id),
            )  # fmt: skip

    age(filed[0]["id"], closed=True)
    age(filed[1]["id"], closed=False)  # old but never answered: kept
    audit_url = gw.state().settings.audit_url
    assert main(["audit", "purge", "--audit-url", audit_url]) == 0
    assert "purged 1 closed complaint tickets" in capsys.readouterr().out
    with httpx.Client(base_url=gw.url) as http:
        gone = http.get(f"/v1/reports/{filed[0]['id']}", params={"token": filed[0]["token"]})
        kept = http.get(f"/v1/reports/{filed[1]['id']}", params={"token": filed[1]["token"]})
        young = http.get(f"/v1/reports/{filed[2]['id']}", params={"token": filed[2]["token"]})
    assert (gone.status_code, kept.status_code, young.status_code) == (404, 200, 200)
