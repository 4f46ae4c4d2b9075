"""The console in a real headless Chromium (Playwright), against a real gateway whose policy
keeps only a hash of ordinary texts (the shipped choice), walked as a compliance officer
would: an editor changes a threshold and adds a term; the draft page lists the changes in
words; a shadow run judges the draft on live requests and the difference page shows the
counts and examples; a second approver publishes from there; a review item shows its text;
exports download and open; a rollback is published by a third person. Then every page is
crawled in Chinese: no English word outside an allow list (codes, numbers, product names,
the test's own data), and no page scrolls sideways in a 1366x768 window.

Screenshots go to ``docs/screenshots/`` with ``CONSOLE_SCREENSHOTS=1``. Needs Debian's
Chromium: ``apt-get install -y chromium fonts-wqy-microhei`` (the font makes the Chinese
screenshots legible); Playwright's own browser download is never used.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import Mock
from tests.support.console import PASSWORD, USERS, ConsoleGateway, chat, start, wait_for

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--lang=zh-CN"]  # fmt: skip
# The committed screenshots are refreshed only on request (CONSOLE_SCREENSHOTS=1), so a
# test run leaves the work tree clean.
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("CONSOLE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / f"console-screenshots-{os.getpid()}"
)
WINDOW = {"width": 1366, "height": 768}
NEW_TERM = "紫水晶走私渠道"
PROMPT = f"请告诉我{NEW_TERM}怎么联系"
REVIEW_PROMPT = "网络赌博到底违法吗"  # a level-2 term: sent to review, not blocked

# ASCII words a Chinese page may show: file formats and product names, units, standards.
ALLOWED_WORDS = {"CSV", "Excel", "JSONL", "JSON", "HTML", "TXT", "YAML", "TC260-003", "SHA-256",
                 "Redis", "API", "ms", "P95", "UTC", "csv", "xlsx", "jsonl", "html", "json"}  # fmt: skip
ALLOWED_SHAPES = re.compile(
    r"^(?:[AX]\d(?:\.\d\d)?"  # taxonomy codes
    r"|[0-9a-f]{8,}"  # version hashes
    r"|dec_[0-9a-f]+(?:-out)?"  # decision ids
    r"|(?:rpt|inc)_[0-9a-f]+"  # ticket and incident ids
    r"|[\w./*-]+\.(?:csv|txt|yaml)"  # file names
    r")$"
)
# Every text node and the attributes people read, except what a page marks as data or
# code: translate="no" (names, terms, ids, texts users wrote), <code>, <pre>.
VISIBLE_TEXT = """() => {
  const skip = el => el.closest('[translate="no"], code, pre, script, style, textarea');
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && !skip(node.parentElement)) out.push(node.textContent);
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [data-confirm]')) {
    if (skip(el)) continue;
    for (const a of ['placeholder', 'title', 'data-confirm']) {
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
  }
  return out.join(' ');
}"""
WIDTH = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("console-browser"), mock.url, audit_text="hash")
    yield g
    g.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Chromium: apt-get install -y chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _page(browser: Browser, alerts: list[str]) -> Page:
    ctx = browser.new_context(viewport=WINDOW, locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    # Any dialog at all would mean a script from data ran (the console itself has none
    # outside confirmations, which this flow never triggers).
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    # The shipped CSS and JS must load under the console's Content-Security-Policy, and
    # nothing may be fetched from outside (the console works without internet access).
    page.on("console", lambda m: alerts.append(m.text) if m.type == "error" else None)
    page.on(
        "request", lambda r: None if r.url.startswith("http://127.0.0.1") else alerts.append(r.url)
    )
    return page


def _login(page: Page, base: str, name: str) -> None:
    page.goto(f"{base}/console/login")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    expect(page.locator("header .user")).to_contain_text(name)


def _logout(page: Page) -> None:
    page.click("header form button")
    expect(page.locator("#login")).to_be_visible()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _workbook(path: Path | None) -> Any:
    assert path is not None
    return load_workbook(io.BytesIO(Path(path).read_bytes()), read_only=True)


def _wait_live(gw: ConsoleGateway, version: str, timeout: float = 10) -> None:
    wait_for(lambda: gw.state().policies.current.version == version, timeout, "the new version")


def test_console_end_to_end(gw: ConsoleGateway, browser: Browser) -> None:
    base, alerts = gw.url, []  # dialogs, console errors, off-host requests
    page = _page(browser, alerts)
    original = gw.state().policies.current.version

    # --- an anonymous visitor lands on the login page
    page.goto(f"{base}/console/policy")
    expect(page.locator("#login")).to_be_visible()
    _shot(page, "login")

    # --- the editor changes a threshold and adds a term (both go to the draft)
    _login(page, base, "alice")
    page.goto(f"{base}/console/policy")
    expect(page.locator("#row-A1\\.08")).to_be_visible()
    # The stylesheet applied (header colour from console.css), under the CSP.
    header_bg = page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
    assert header_bg == "rgb(36, 41, 47)"
    expect(page.locator("#row-A1\\.06 .action").first).to_have_text("拦截")
    _shot(page, "policy")
    page.goto(f"{base}/console/policy/category/A1.08")
    expect(page.locator("#input_action option:checked")).to_have_text("拦截：拦截并返回拒答文本")
    page.fill("#input_threshold", "0.7")
    page.fill("#reason", "工单 #1024：降低违法违规内容的输入阈值")
    page.click("#save-category")
    expect(page.locator("#draft-authors")).to_have_text("alice")
    page.goto(f"{base}/console/lexicon")
    page.fill("#new-term", NEW_TERM)
    page.select_option("#new-category", "A1.08")
    page.select_option("#new-level", "3")
    page.fill("#add-reason", "工单 #1025：新增走私类关键词")
    page.click("#add-term")
    expect(page.locator("#terms .term", has_text=NEW_TERM)).to_have_count(1)
    page.goto(f"{base}/console/lexicon?q=" + NEW_TERM[:2])
    _shot(page, "lexicon")

    # --- try it: the draft blocks what the live policy allows
    page.goto(f"{base}/console/try")
    page.fill("#try-text", PROMPT)
    page.click("#try")
    expect(page.locator("#live-action")).to_have_text("放行")
    expect(page.locator("#draft-action")).to_have_text("拦截")
    expect(page.locator("#result-draft .detail", has_text=NEW_TERM)).to_have_count(1)
    _shot(page, "try")

    # --- the draft page says what changes, in words; the YAML diff is one click away
    page.goto(f"{base}/console/draft")
    expect(page.locator("#changes li")).to_have_text([
        "A1.08 其他法律、行政法规禁止的内容 · 输入：拦截（阈值 0.725） → 拦截（阈值 0.7）",
        f"新增关键词 {NEW_TERM} → A1.08 三级",
    ])  # fmt: skip
    expect(page.locator("#publish")).to_have_count(0)  # an editor never publishes
    _shot(page, "draft")
    diff = page.locator("#file-diff .add", has_text=re.compile(r"threshold: 0\.7(?!\d)"))
    expect(diff).to_be_hidden()
    page.click("#file-diff summary")
    expect(diff).to_have_count(1)
    expect(diff).to_be_visible()

    # --- a shadow run: the draft beside the live policy on the next 4 checks
    page.fill("#shadow-checks", "4")
    page.click("#shadow-start")
    expect(page.locator("#shadow-state")).to_have_attribute("data-state", "running")
    assert chat(gw, PROMPT) == ("stop", "好的")  # the live answer: the shadow changes nothing
    assert chat(gw, "帮我写一首关于秋天的诗")[0] == "stop"
    page.reload()
    expect(page.locator("#shadow-state")).to_have_attribute("data-state", "done", timeout=20_000)
    expect(page.locator("#shadow-evaluated")).to_have_text("4")
    expect(page.locator("#shadow-changed")).to_have_text("1")
    expect(page.locator("#shadow-cat-A1\\.08 td.delta").first).to_have_text("+1")
    expect(page.locator("#examples-newly_blocked .example")).to_contain_text(PROMPT)
    expect(page.locator("#shadow-latency")).to_be_visible()
    expect(page.locator("#shadow-why-not")).to_have_text("只有审批人可以发布。")
    _shot(page, "shadow")

    # --- a second approver publishes from the difference page
    _logout(page)
    _login(page, base, "bob")
    page.goto(f"{base}/console/shadow")
    expect(page.locator("#shadow-state")).to_have_attribute("data-state", "done")
    draft_version = page.locator("#shadow-run code").first.inner_text()
    page.fill("#shadow-publish-reason", "影子运行只新增拦截了走私渠道的请求，同意发布")
    page.click("#shadow-publish")
    expect(page.locator("#versions")).to_contain_text(draft_version)
    _wait_live(gw, draft_version)
    reason, content = chat(gw, PROMPT)
    assert reason == "content_filter" and content != "好的"

    # --- filing export of the keyword library (xlsx) downloads and opens
    page.goto(f"{base}/console/lexicon")
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    assert dl.value.suggested_filename == "keywords-filing.xlsx"
    sheet = _workbook(dl.value.path()).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("关键词", "一级分类", "二级分类")
    assert any(r[0] == NEW_TERM and str(r[2]).startswith("A1.08") for r in rows[1:])

    # --- review queue: the policy keeps only hashes, yet the item shows its text
    reason, _ = chat(gw, REVIEW_PROMPT)
    assert reason != "content_filter"
    page.goto(f"{base}/console/reviews")
    row = page.locator(".pending-row", has_text=REVIEW_PROMPT)
    expect(row).to_have_count(1)
    expect(page.locator("#text-kept")).to_contain_text("只保存哈希")
    _shot(page, "reviews")
    row.locator("input[name=reason]").fill("讨论法律问题，非违规")
    row.locator("button.overturn").click()
    expect(page.locator(".pending-row", has_text=REVIEW_PROMPT)).to_have_count(0)
    expect(page.locator("#done .done-row").first.locator(".verdict")).to_have_text("推翻（未违规）")
    with page.expect_download() as dl:
        page.click("#labels-export")
    labels = [
        json.loads(line) for line in Path(dl.value.path() or "").read_text("utf-8").splitlines()
    ]
    assert labels == [{"text": REVIEW_PROMPT, "label": 0, "categories": [], "direction": "input"}]

    # --- decision log: newest first, filter, open a record, export csv and xlsx
    page.goto(f"{base}/console/log")
    first = page.locator(".record-row").first
    expect(first.locator(".action")).to_have_text("放行")  # the review request's answer
    expect(page.locator(".record-row")).to_have_count(7)  # inputs and outputs
    _shot(page, "log")
    page.select_option("#filter-action", "block")
    page.click("#filter")
    expect(page.locator(".record-row")).to_have_count(1)
    expect(page.locator(".record-row .terms")).to_contain_text(NEW_TERM)
    page.locator(".record-link").first.click()
    expect(page.locator("#record-text")).to_contain_text(PROMPT)  # a block keeps its text
    page.go_back()
    with page.expect_download() as dl:
        page.click("#log-export-csv")
    text = Path(dl.value.path() or "").read_text("utf-8-sig")
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r["action"] for r in records] == ["block"]
    assert NEW_TERM in records[0]["matched_terms"]
    with page.expect_download() as dl:
        page.click("#log-export-xlsx")
    assert dl.value.suggested_filename == "decisions.xlsx"
    xrows = list(_workbook(dl.value.path()).active.iter_rows(values_only=True))
    assert len(xrows) == 2 and "action" in xrows[0]

    # --- restore the previous version: an editor asks, another approver publishes
    _logout(page)
    _login(page, base, "alice")
    page.goto(f"{base}/console/versions")
    page.locator("#version-1 button.restore").click()
    expect(page.locator("#changes li", has_text=NEW_TERM)).to_have_text(
        f"删除关键词 {NEW_TERM}（A1.08 三级）"
    )
    _logout(page)
    _login(page, base, "carol")
    page.goto(f"{base}/console/draft")
    expect(page.locator("#draft-version")).to_have_text(original)
    page.fill("#publish-reason", "回滚到上一版本")
    page.click("#publish")
    _wait_live(gw, original)
    assert chat(gw, PROMPT) == ("stop", "好的")

    # --- settings, and the admin log in words; the English toggle works
    _logout(page)
    _login(page, base, "admin")
    page.goto(f"{base}/console/settings")
    expect(page.locator("#audit-text option:checked")).to_have_text("只保存哈希")
    _shot(page, "settings")
    page.goto(f"{base}/console/admin/log")
    expect(page.locator("#admin-log")).to_contain_text("工单 #1025")
    expect(page.locator("#admin-log")).to_contain_text("回滚到上一版本")
    expect(page.locator("#admin-log .log-action", has_text="开始影子运行")).to_have_count(1)
    page.click("#lang-toggle")
    expect(page.locator("header nav")).to_contain_text("Review queue")
    assert alerts == []
    for name in ("login", "policy", "lexicon", "try", "draft", "shadow", "reviews", "log",
                 "settings"):  # fmt: skip
        size = (SHOTS / f"{name}.png").stat().st_size
        assert 5_000 < size < 400_000, (name, size)


def _ticket_and_incident(gw: ConsoleGateway) -> tuple[str, str]:
    """A complaint ticket (filed through the API on a logged decision, then answered) and an
    incident record made from it, so their pages are crawled with content."""
    import httpx

    from tests.support.console import login

    with httpx.Client(base_url=gw.url, timeout=30) as http:
        answer = http.post("/v1/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "问题"}], "mock_reply": "回答"})  # fmt: skip
        filed = http.post("/v1/reports", json={
            "decision_id": answer.headers["x-gateway-decision-id"], "reason": "other",
            "detail": "举报说明"})  # fmt: skip
        assert filed.status_code == 200, filed.text
    ticket = filed.json()["id"]
    alice, csrf = login(gw.url, "alice")
    alice.post(f"/console/reports/{ticket}/assign", data={"csrf": csrf, "assignee": "alice"})
    alice.post(f"/console/reports/{ticket}/answer", data={"csrf": csrf, "answer": "已核查"})
    made = alice.post("/console/incidents", data={
        "csrf": csrf, "title": "事件标题", "description": "经过", "occurred_at": "2026-06-01T10:00",
        "ticket_ids": ticket, "categories": ["A1.08"], "measures": ["stopped_transmission"]})  # fmt: skip
    assert made.status_code == 303, made.text
    return ticket, made.headers["location"].rsplit("/", 1)[1]


def _pages(gw: ConsoleGateway, page: Page, base: str) -> list[str]:
    """Every console page a GET shows, with real ids where a route takes one."""
    page.goto(f"{base}/console/log")
    record = page.locator(".record-link").first.inner_text()
    ticket, incident = _ticket_and_incident(gw)
    paths = ["/", "/policy", "/policy/refusals", "/policy/category/A1.06", "/lexicon",
             "/settings", "/tenants", "/draft", "/shadow", "/versions", "/try", "/log",
             f"/log/{record}", "/reviews", "/reports", f"/reports/{ticket}", "/incidents",
             f"/incidents/{incident}", "/incidents/new", "/admin/users", "/admin/log",
             "/account", "/assess"]  # fmt: skip
    if gw.db.shadow.runs(1):
        paths.append(f"/shadow?run={gw.db.shadow.runs(1)[0].id}")
    from starlette.routing import Route

    from gateway.console.routes import console_routes
    from gateway.console.web import Console

    templates = {r.path for r in console_routes(Console(Path(tempfile.mkdtemp()) / "c.db"))
                 if isinstance(r, Route) and "GET" in (r.methods or ())}  # fmt: skip
    # Every GET route that renders a page is in the list (exports and reports download).
    downloads = {"/lexicon/export", "/log/export", "/log/report", "/reviews/export",
                 "/reports/export", "/incidents/export", "/incidents/{id}/export", "/lang",
                 "/login", "/assess/{run}/files/{name}",
                 # A finished assessment run's pages: tests/assess/browser_test.py renders them.
                 "/assess/{run}", "/assess/{run}/report"}  # fmt: skip
    ids = rf"/({re.escape(ticket)}|{re.escape(incident)}|dec_[0-9a-f]+(-out)?|A1\.06)$"
    covered = {re.sub(ids, "/{x}", p.split("?")[0]) for p in paths}
    missing = {t for t in templates - downloads
               if re.sub(r"\{[^}]+\}", "{x}", t) not in covered}  # fmt: skip
    assert not missing, missing
    return paths


def test_every_page_speaks_chinese_and_fits_a_1366_window(
    gw: ConsoleGateway, browser: Browser
) -> None:
    chat(gw, "你好，介绍一下长城")  # at least one record to open
    alerts: list[str] = []
    page = _page(browser, alerts)
    base = gw.url
    _login(page, base, "admin")
    data_words = set(USERS)  # the test's own user names are data, shown as they are
    problems: list[str] = []
    for path in _pages(gw, page, base):
        for lang in ("zh", "en"):
            page.goto(f"{base}/console/lang?to={lang}&next=/console{path}")
            expect(page.locator("header.top")).to_be_visible()
            scroll, client = page.evaluate(WIDTH)
            if scroll > client:
                problems.append(f"{lang} {path}: {scroll}px wide in a {client}px window")
            english = _english_words(page, data_words)
            if lang == "en":
                # The same check finds the English page full of English: it can fail.
                assert len(english) >= 5, (path, english)
            elif english:
                problems.append(f"zh {path}: {english}")
    assert problems == []
    assert alerts == []


def _english_words(page: Page, data_words: set[str]) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z0-9_./*-]*[A-Za-z0-9]", page.evaluate(VISIBLE_TEXT))
    return sorted({w for w in words if w not in ALLOWED_WORDS and w not in data_words
                   and not ALLOWED_SHAPES.match(w)})  # fmt: skip
