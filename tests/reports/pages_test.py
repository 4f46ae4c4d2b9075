"""The public pages over real HTTP: the embeddable form (zh/en), its signed form token,
the reporter's status lookup (id + token, never anyone's text), the published process,
and the per-source limits."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from gateway.policy.compiled import hash_key
from gateway.reports.pages import form_token
from tests.conftest import Gateway, GatewayFactory
from tests.support.paths import TEST_POLICY

TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
KEY_A = "gw-pages-tenant-a-" + "a" * 20


@pytest.fixture(scope="module")
def gw(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory()


def _form(http: httpx.Client, query: str = "") -> str:
    page = http.get("/report" + query)
    assert page.status_code == 200, page.text
    found = TOKEN.search(page.text)
    assert found is not None
    return found.group(1)


def _submit(http: httpx.Client, query: str = "", **fields: str) -> httpx.Response:
    data = {"form_token": _form(http, query), "lang": "zh", **fields}
    return http.post("/report" + query, data=data)


def _filed(resp: httpx.Response) -> tuple[str, str]:
    assert resp.status_code == 200, resp.text
    ticket = re.search(r'id="ticket-id">([^<]+)<', resp.text)
    token = re.search(r'id="ticket-token">([^<]+)<', resp.text)
    assert ticket is not None and token is not None
    return ticket.group(1), token.group(1)


def _decision(gw: Gateway, key: str = "sk-test") -> str:
    with httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {key}"}) as http:
        resp = http.post("/v1/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "你好"}],
            "mock_reply": "一个回答"})  # fmt: skip
        assert resp.status_code == 200
        return resp.headers["x-gateway-decision-id"]


def test_form_prefills_the_decision_and_escapes_it(gw: Gateway) -> None:
    with gw.http() as http:
        page = http.get("/report", params={"d": '"><script>alert(1)</script>'})
    assert page.status_code == 200
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["referrer-policy"] == "same-origin"
    assert 'name="reason" value="terrorism"' in page.text and "72 小时" in page.text


def test_language_from_the_query_or_the_browser_and_the_toggle_keeps_the_decision(
    gw: Gateway,
) -> None:
    with gw.http() as http:
        zh = http.get("/report", params={"d": "dec_x"})
        en = http.get("/report", params={"d": "dec_x", "lang": "en"})
        browser = http.get("/report", headers={"accept-language": "en-US,en;q=0.9"})
    assert "举报不良或违法内容" in zh.text and 'lang="zh-CN"' in zh.text
    assert "Report harmful or illegal content" in en.text and 'lang="en"' in en.text
    assert "Report harmful or illegal content" in browser.text
    toggle = re.search(r'href="\?([^"]+)" id="lang-toggle"', zh.text)
    assert toggle is not None and "d=dec_x" in toggle.group(1) and "lang=en" in toggle.group(1)


def test_report_from_the_page_then_look_it_up_by_id_and_token(gw: Gateway) -> None:
    decision = _decision(gw)
    with gw.http() as http:
        resp = _submit(http, decision_id=decision, reason="false_information",
                       detail="不实信息", contact="secret-contact@example.com",
                       text="举报人粘贴的原文 MARKER-TEXT")  # fmt: skip
        ticket_id, token = _filed(resp)
        assert ticket_id.startswith("rpt_") and len(token) >= 24
        status = http.post("/report/status", data={"id": ticket_id, "token": token})
        assert status.status_code == 200
        assert re.search(r'id="status">处理中<', status.text)
        # The reporter's page shows state and answer only, never text or contact.
        assert "MARKER-TEXT" not in status.text and "secret-contact" not in status.text
        wrong_token = token[:-1] + ("y" if token.endswith("x") else "x")
        wrong = http.post("/report/status", data={"id": ticket_id, "token": wrong_token})
        assert wrong.status_code == 404 and "没有找到该工单" in wrong.text
        unknown = http.post("/report/status", data={"id": "rpt_" + "0" * 24, "token": token})
        # An unknown ticket and a wrong token read the same: nothing tells which was wrong.
        assert unknown.status_code == 404
        assert unknown.text == wrong.text.replace(ticket_id, "rpt_" + "0" * 24)
        # The API sees the same ticket (no tenants: the default tenant).
        api = http.get(f"/v1/reports/{ticket_id}", params={"token": token})
        assert api.status_code == 200 and api.json()["reason"] == "false_information"


def test_page_report_joins_the_decisions_tenant(gateway_factory: GatewayFactory,
                                                write_policy: Any) -> None:  # fmt: skip
    policy = TEST_POLICY.read_text("utf-8") + (
        f'\ntenants:\n  acme:\n    api_keys_sha256: ["{hash_key(KEY_A)}"]\n'
    )
    gw = gateway_factory(policy=write_policy(policy))
    decision = _decision(gw, KEY_A)
    with gw.http() as http:
        ticket_id, token = _filed(_submit(http, decision_id=decision, reason="terrorism"))
        mine = http.get(f"/v1/reports/{ticket_id}", params={"token": token},
                        headers={"authorization": f"Bearer {KEY_A}"})  # fmt: skip
        assert mine.status_code == 200  # filed anonymously, owned by the decision's tenant


def test_form_needs_a_fresh_signed_token_and_the_same_origin(gw: Gateway) -> None:
    body = {"text": "x", "reason": "illegal_other", "lang": "zh"}
    with gw.http() as http:
        assert http.post("/report", data=body).status_code == 403
        forged = {**body, "form_token": f"{int(time.time())}.{'0' * 32}"}
        assert http.post("/report", data=forged).status_code == 403
        stale = {**body, "form_token": form_token(_state(gw), now=time.time() - 5 * 3600)}
        assert http.post("/report", data=stale).status_code == 403
        fresh = {**body, "form_token": _form(http)}
        other_site = http.post("/report", data=fresh, headers={"origin": "https://evil.example"})
        assert other_site.status_code == 403 and "表单已过期" in other_site.text
        assert http.post("/report", data=fresh).status_code == 200


def _state(gw: Gateway) -> Any:
    return gw.server.server.config.app.state.gateway  # type: ignore[attr-defined]


def test_bad_input_keeps_the_form_and_names_the_problem(gw: Gateway) -> None:
    with gw.http() as http:
        resp = _submit(http, reason="other", text="粘贴的内容", contact="me@example.com")
    assert resp.status_code == 400
    assert "&#39;detail&#39;" in resp.text or "'detail'" in resp.text
    assert 'class="invalid"' in resp.text and "粘贴的内容" in resp.text  # nothing retyped


def test_process_page_publishes_the_process_and_time_limits(gw: Gateway) -> None:
    with gw.http() as http:
        html = http.get("/report/process")
        en = http.get("/report/process", params={"lang": "en", "format": "json"})
    assert html.status_code == 200 and "投诉举报处理流程与反馈时限" in html.text
    assert '恐怖主义、极端主义</td><td class="n">24</td>' in html.text
    view = en.json()
    assert view["response_hours"] == 72 and view["process"].startswith("1. Submit")
    assert {"code": "terrorism", "label": "Terrorism or extremism", "categories": ["A1.04"],
            "response_hours": 24} in view["reasons"]  # fmt: skip
    assert view["outcomes"]["no_violation"] == "No violation found"


def test_pages_are_rate_limited_per_source(gateway_factory: GatewayFactory,
                                           write_policy: Any) -> None:  # fmt: skip
    policy = TEST_POLICY.read_text("utf-8").replace(
        "per_source: {count: 600, seconds: 3600}", "per_source: {count: 1, seconds: 3600}"
    )
    gw = gateway_factory(policy=write_policy(policy))
    with gw.http() as http:
        first = _submit(http, text="第一条", reason="illegal_other")
        assert first.status_code == 200
        second = _submit(http, text="第二条", reason="illegal_other")
        assert second.status_code == 429 and "请求过于频繁" in second.text
        assert int(second.headers["retry-after"]) > 0
        # Views get ten times the reports' allowance; 2 forms + 2 posts are spent already.
        codes = [http.get("/report/process").status_code for _ in range(8)]
        assert codes == [200] * 6 + [429] * 2


def test_posted_forms_are_bounded(gw: Gateway) -> None:
    with gw.http() as http:
        token = _form(http)
        big = http.post("/report", data={"form_token": token, "text": "x" * 70_000})
        assert big.status_code == 413 and 'id="error"' in big.text
        many = http.post("/report", data={f"f{i}": "1" for i in range(30)})
        assert many.status_code == 400
        as_json = http.post("/report", json={"form_token": token, "text": "x"})
        assert as_json.status_code == 415
        status = http.post("/report/status", content=b"x" * 70_000,
                           headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert status.status_code == 413


def test_a_tenant_that_switched_complaints_off_gets_none_from_the_page_either(
    gateway_factory: GatewayFactory, write_policy: Any
) -> None:
    policy = TEST_POLICY.read_text("utf-8") + (
        f'\ntenants:\n  acme:\n    api_keys_sha256: ["{hash_key(KEY_A)}"]\n'
        "    overrides:\n      reports: {enabled: false}\n"
    )
    gw = gateway_factory(policy=write_policy(policy))
    decision = _decision(gw, KEY_A)
    with gw.http() as http:
        api = http.post("/v1/reports", json={"text": "x", "reason": "illegal_other"},
                        headers={"authorization": f"Bearer {KEY_A}"})  # fmt: skip
        assert api.status_code == 404
        page = _submit(http, decision_id=decision, reason="terrorism")
        assert page.status_code == 404 and "not enabled" in page.text
        assert http.get("/report", params={"t": "acme"}).status_code == 404
        assert http.get("/report").status_code == 200  # the provider's own service still takes them
