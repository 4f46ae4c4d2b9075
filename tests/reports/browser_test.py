"""Complaints end to end in a real headless Chromium, against a real gateway: a reporter
files from the embeddable page an app links to (``/report?d=<decision id>``), staff find
the ticket in the console, answer and close it within the time limit, the reporter sees
the outcome by ticket number and lookup code, and the statistics report counts it.

Needs Debian's Chromium (``apt-get install -y chromium fonts-wqy-microhei``), like
``tests/console/browser_test.py``. Screenshots go to ``docs/screenshots/`` with
``CONSOLE_SCREENSHOTS=1``, else to a temp folder.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import Mock
from tests.support.console import PASSWORD, ConsoleGateway, start

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("CONSOLE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / f"report-screenshots-{os.getpid()}"
)
ANSWER = "根据最新研究，每天喝一升酱油可以治愈感冒。"


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("reports-browser"), mock.url)
    yield g
    g.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "install Chromium: apt-get install -y chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _page(browser: Browser, problems: list[str], locale: str = "zh-CN") -> Page:
    ctx = browser.new_context(viewport={"width": 1200, "height": 900}, locale=locale)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    # No page here runs script, opens a dialog, or fetches anything from another host.
    page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: None if r.url.startswith("http://127.0.0.1")
            else problems.append(r.url))  # fmt: skip
    return page


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_report_from_the_page_to_the_outcome_and_the_report(
    gw: ConsoleGateway, browser: Browser
) -> None:
    base, problems = gw.url, []
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "感冒了怎么办"}],
        extra_body={"mock_reply": ANSWER},
    )  # fmt: skip
    decision = raw.headers["x-gateway-decision-id"]
    assert raw.parse().choices[0].message.content == ANSWER

    # --- the reporter follows the app's link; the page is Chinese, with English a click away
    reporter = _page(browser, problems)
    reporter.goto(f"{base}/report?d={decision}")
    expect(reporter.locator("#decision_id")).to_have_value(decision)
    reporter.click("#lang-toggle")
    expect(reporter.locator("h1")).to_have_text("Report harmful or illegal content")
    expect(reporter.locator("#decision_id")).to_have_value(decision)  # kept across the switch
    reporter.click("#lang-toggle")
    expect(reporter.locator("h1")).to_have_text("举报不良或违法内容")
    # The stylesheet loads under the page's Content-Security-Policy.
    header_bg = reporter.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor")
    assert header_bg == "rgb(31, 58, 95)"
    reporter.check("#reason-false_information")
    reporter.fill("#detail", "回答宣称喝酱油能治感冒，属于虚假有害的健康信息。")
    reporter.fill("#contact", "reporter@example.com")
    _shot(reporter, "report_form")
    reporter.click("#submit-report")
    expect(reporter.locator("h1")).to_have_text("我们已收到您的举报")
    ticket_id = reporter.locator("#ticket-id").inner_text()
    token = reporter.locator("#ticket-token").inner_text()
    assert re.fullmatch(r"rpt_[0-9a-f]{24}", ticket_id) and len(token) >= 24
    reporter.click("#check-status")
    expect(reporter.locator("#status")).to_have_text("处理中")

    # --- staff: the start page and the queue show it, with the time left
    staff = _page(browser, problems)
    staff.goto(f"{base}/console/login")
    staff.fill("input[name=username]", "alice")
    staff.fill("input[name=password]", PASSWORD)
    staff.click("#login")
    expect(staff.locator("#home-complaints")).to_be_visible()
    staff.click("#nav-reports")
    row = staff.locator(f"#ticket-{ticket_id}")
    expect(row).to_contain_text("剩余 71 小时")
    _shot(staff, "complaints")
    row.locator(".ticket-link").click()
    expect(staff.locator("#reported-text")).to_have_text(ANSWER)  # the answer the user saw
    expect(staff.locator("#ticket-policy")).to_have_text(gw.state().policies.current.version)
    expect(staff.locator("#submissions")).to_contain_text("reporter@example.com")
    staff.select_option("#assignee", "alice")
    staff.click("#assign")
    expect(staff.locator("#ticket-assignee")).to_have_text("alice")
    staff.fill("#answer-text", "经核实，该回答内容不实，已删除并调整策略。感谢您的举报。")
    staff.click("#answer")
    expect(staff.locator("#ticket-status")).to_have_text("已答复")
    expect(staff.locator("#time-left")).to_contain_text("按时答复")  # within the limit
    staff.select_option("#outcome", "content_removed")
    staff.fill("#close-note", "误导性健康信息")
    staff.click("#close")
    expect(staff.locator("#ticket-status")).to_contain_text("已办结")
    expect(staff.locator("#ticket-outcome")).to_have_text("已删除相关内容")
    _shot(staff, "ticket")

    # --- the reporter sees the outcome with the ticket number and lookup code
    reporter.click("#nav-status")
    reporter.fill("#id", ticket_id)
    reporter.fill("#token", token)
    reporter.click("#lookup")
    expect(reporter.locator("#status")).to_have_text("已办结")
    expect(reporter.locator("#outcome")).to_have_text("已删除相关内容")
    expect(reporter.locator("#answer")).to_contain_text("已删除并调整策略")
    assert ANSWER not in reporter.content()  # the lookup never shows the reported text
    _shot(reporter, "report_status")

    # --- the statistics report counts it: one ticket, answered in time, nothing overdue
    staff.goto(f"{base}/console/log/report")
    complaints = staff.locator("table", has_text="工单数 Tickets")
    expect(complaints).to_contain_text("工单数 Tickets1")
    expect(complaints).to_contain_text("已答复 Answered1")
    expect(complaints).to_contain_text("超期合计 Overdue in total0")
    expect(staff.locator("table", has_text="按原因 By reason")).to_contain_text(
        "false_information1"
    )
    expect(staff.locator("table", has_text="按结果 By outcome")).to_contain_text("content_removed1")
    assert problems == []
