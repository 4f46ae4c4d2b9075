"""The console in a real headless Chromium (Playwright), against a real gateway: an editor
changes a threshold and adds a term, an approver publishes, the OpenAI SDK sees the term
blocked, the previous version is restored, a review is decided, exports download and open.
Screenshots of the main pages go to ``docs/screenshots/``.

Needs Debian's Chromium: ``apt-get install -y chromium fonts-wqy-microhei`` (the font
makes the Chinese screenshots legible); Playwright's own browser download is never used.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import Mock
from tests.console_support import PASSWORD, ConsoleGateway, start

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
# The committed screenshots are refreshed only on request (CONSOLE_SCREENSHOTS=1), so a
# test run leaves the work tree clean.
SHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    if os.environ.get("CONSOLE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / f"console-screenshots-{os.getpid()}"
)
NEW_TERM = "紫水晶走私渠道"
PROMPT = f"请告诉我{NEW_TERM}怎么联系"
REVIEW_PROMPT = "网络赌博到底违法吗"  # a level-2 term: sent to review, not blocked


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("console-browser"), mock.url)
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
    ctx = browser.new_context(viewport={"width": 1280, "height": 860}, locale="zh-CN",
                              accept_downloads=True)  # fmt: skip
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


def _chat(gw: ConsoleGateway, text: str) -> tuple[str | None, str | None]:
    out = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": text}], extra_body={"mock_reply": "好的"}
    )
    return out.choices[0].finish_reason, out.choices[0].message.content


def _workbook(path: Path | None) -> Any:
    assert path is not None
    return load_workbook(io.BytesIO(Path(path).read_bytes()), read_only=True)


def _wait_live(gw: ConsoleGateway, version: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while gw.state().policies.current.version != version:
        assert time.monotonic() < deadline, "published version did not go live"
        time.sleep(0.1)


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
    _shot(page, "policy")
    page.goto(f"{base}/console/policy/category/A1.08")
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
    expect(page.locator("#live-action")).to_have_text("allow")
    expect(page.locator("#draft-action")).to_have_text("block")
    expect(page.locator("#result-draft .detail", has_text=NEW_TERM)).to_have_count(1)
    _shot(page, "try")

    # --- the editor cannot publish; the approver sees the diff and publishes
    page.goto(f"{base}/console/draft")
    expect(page.locator("#publish")).to_have_count(0)
    _logout(page)
    _login(page, base, "bob")
    page.goto(f"{base}/console/draft")
    expect(page.locator(".diff", has_text=NEW_TERM)).to_have_count(1)
    # 0.7 exactly: A1.08's calibrated output threshold (0.725) must not match as a prefix
    changed = page.locator(".diff .add", has_text=re.compile(r"threshold: 0\.7(?!\d)"))
    expect(changed).to_have_count(1)
    draft_version = page.locator("#draft-version").inner_text()
    _shot(page, "draft")
    page.fill("#publish-reason", "已复核，同意发布")
    page.click("#publish")
    expect(page.locator("#versions")).to_contain_text(draft_version)
    _wait_live(gw, draft_version)

    # --- through the proxy, with the OpenAI SDK: the new term is blocked now
    reason, content = _chat(gw, PROMPT)
    assert reason == "content_filter"
    assert content != "好的"

    # --- filing export of the keyword library (xlsx) downloads and opens
    page.goto(f"{base}/console/lexicon")
    with page.expect_download() as dl:
        page.click("#export-xlsx")
    assert dl.value.suggested_filename == "keywords-filing.xlsx"
    sheet = _workbook(dl.value.path()).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("关键词", "一级分类", "二级分类")
    assert any(r[0] == NEW_TERM and str(r[2]).startswith("A1.08") for r in rows[1:])

    # --- review queue: a level-2 hit waits for a reviewer, who overturns it
    reason, _ = _chat(gw, REVIEW_PROMPT)
    assert reason != "content_filter"
    page.goto(f"{base}/console/reviews")
    row = page.locator(".pending-row", has_text=REVIEW_PROMPT)
    expect(row).to_have_count(1)
    _shot(page, "reviews")
    row.locator("input[name=reason]").fill("讨论法律问题，非违规")
    row.locator("button.overturn").click()
    expect(page.locator(".pending-row", has_text=REVIEW_PROMPT)).to_have_count(0)
    expect(page.locator("#done .done-row").first).to_contain_text("overturn")
    with page.expect_download() as dl:
        page.click("#labels-export")
    labels = [
        json.loads(line) for line in Path(dl.value.path() or "").read_text("utf-8").splitlines()
    ]
    assert labels == [{"text": REVIEW_PROMPT, "label": 0, "categories": [], "direction": "input"}]

    # --- decision log: filter, open a record, export csv and xlsx
    for text in ("你好，介绍一下长城", "帮我写一首关于秋天的诗"):
        _chat(gw, text)
    page.goto(f"{base}/console/log")
    expect(page.locator(".record-row")).to_have_count(7)  # inputs and outputs
    _shot(page, "log")
    page.select_option("#filter-action", "block")
    page.click("#filter")
    expect(page.locator(".record-row")).to_have_count(1)
    expect(page.locator(".record-row .terms")).to_contain_text(NEW_TERM)
    page.locator(".record-link").first.click()
    expect(page.locator("#record")).to_contain_text(PROMPT)
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
    sheet = _workbook(dl.value.path()).active
    xrows = list(sheet.iter_rows(values_only=True))
    assert len(xrows) == 2 and "action" in xrows[0]

    # --- restore the previous version: an editor asks, another approver publishes
    _logout(page)
    _login(page, base, "alice")
    page.goto(f"{base}/console/versions")
    page.locator("#version-1 button.restore").click()
    expect(page.locator(".diff .del", has_text=NEW_TERM)).to_have_count(1)
    _logout(page)
    _login(page, base, "carol")
    page.goto(f"{base}/console/draft")
    expect(page.locator("#draft-version")).to_have_text(original)
    page.fill("#publish-reason", "回滚到上一版本")
    page.click("#publish")
    _wait_live(gw, original)
    reason, content = _chat(gw, PROMPT)
    assert (reason, content) == ("stop", "好的")

    # --- the admin log shows who did what and why; the English toggle works
    page.goto(f"{base}/console/admin/log")
    expect(page.locator("#admin-log")).to_contain_text("工单 #1025")
    expect(page.locator("#admin-log")).to_contain_text("回滚到上一版本")
    page.click("#lang-toggle")
    expect(page.locator("header nav")).to_contain_text("Review queue")
    assert alerts == []
    for name in ("login", "policy", "lexicon", "try", "draft", "reviews", "log"):
        size = (SHOTS / f"{name}.png").stat().st_size
        assert 5_000 < size < 300_000, (name, size)
