"""Security of the console against a real gateway on a real socket: anonymous access,
CSRF, roles and four eyes, escaping of HTML in terms and refusal texts, cookie flags."""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from gateway.console.routes import console_routes
from gateway.console.web import Console
from tests.conftest import Mock
from tests.support.console import CSRF, ConsoleGateway, login, start

EVIL_TERM = '<script>alert("term")</script>'
EVIL_REFUSAL = "<img src=x onerror=alert(1)>拒绝"


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("console-sec"), mock.url)
    yield g
    g.stop()


@pytest.fixture
def clean(gw: ConsoleGateway) -> ConsoleGateway:
    gw.db.drop_draft()
    return gw


def _concrete(path: str) -> str:
    return (path.replace("{code}", "A1.04").replace("{id:int}", "1").replace("{id}", "dec_x")
            .replace("{name}", "alice"))  # fmt: skip


def test_every_route_refuses_anonymous_users(gw: ConsoleGateway, tmp_path: Path) -> None:
    routes = [r for r in console_routes(Console(tmp_path / "c.db")) if isinstance(r, Route)]
    assert len(routes) >= 30
    anon = httpx.Client(base_url=gw.url, timeout=30, follow_redirects=False)
    checked = 0
    for route in routes:
        if route.path in ("/login", "/lang"):
            continue
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            url = "/console" + _concrete(route.path)
            resp = anon.request(method, url, data={"csrf": "x"} if method == "POST" else None)
            if method == "GET":
                assert resp.status_code == 303, (url, resp.status_code)
                assert resp.headers["location"].startswith("/console/login?next="), url
            else:
                assert resp.status_code == 403, (url, resp.status_code)
            checked += 1
    assert checked >= 28
    # The admin API of the decision log (no token configured) is not open either.
    assert anon.get("/admin/audit/records").status_code in (401, 403, 404)


def test_login_cookie_flags_and_headers(gw: ConsoleGateway) -> None:
    client = httpx.Client(base_url=gw.url, timeout=30)
    page = client.get("/console/login")
    assert "Content-Security-Policy" in page.headers
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    token = CSRF.search(page.text)
    assert token is not None
    resp = client.post("/console/login", data={"csrf": token.group(1), "username": "alice",
                                               "password": "correct-horse-battery"})  # fmt: skip
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"]
    assert "gw_console=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie  # plain http here
    # Served over https (uvicorn trusts X-Forwarded-Proto from 127.0.0.1): Secure is set.
    https = httpx.Client(base_url=gw.url, timeout=30, headers={"X-Forwarded-Proto": "https"})
    page = https.get("/console/login")
    assert "Secure" in page.headers["set-cookie"]
    token = CSRF.search(page.text)
    assert token is not None
    # The client keeps Secure cookies for https only, so the test hands it back itself.
    resp = https.post(
        "/console/login",
        data={"csrf": token.group(1), "username": "alice", "password": "correct-horse-battery"},
        headers={"Cookie": f"gw_console_login={token.group(1)}"},
    )
    assert resp.status_code == 303
    assert "Secure" in resp.headers["set-cookie"]


def test_wrong_password_is_refused_and_logged(gw: ConsoleGateway) -> None:
    client = httpx.Client(base_url=gw.url, timeout=30)
    token = CSRF.search(client.get("/console/login").text)
    assert token is not None
    resp = client.post("/console/login", data={"csrf": token.group(1), "username": "alice",
                                               "password": "wrong-password!"})  # fmt: skip
    assert resp.status_code == 401
    assert "gw_console=" not in resp.headers.get("set-cookie", "")
    assert any(e["action"] == "login_failed" for e in gw.db.admin_log())


def _try_login(client: httpx.Client, name: str, password: str) -> int:
    token = CSRF.search(client.get("/console/login").text)
    assert token is not None
    data = {"csrf": token.group(1), "username": name, "password": password}
    return client.post("/console/login", data=data).status_code


def test_repeated_failures_lock_the_account_for_a_while(gw: ConsoleGateway) -> None:
    from gateway.console.db import Role
    from gateway.console.passwords import hash_password

    gw.db.add_user("target", Role.VIEWER, hash_password("the-right-password"))
    client = httpx.Client(base_url=gw.url, timeout=30)
    assert [_try_login(client, "target", f"guess-{i}") for i in range(5)] == [401] * 5
    # Locked now: even the right password is refused, and other accounts are unaffected.
    assert _try_login(client, "target", "the-right-password") == 429
    assert _try_login(client, "victor", "correct-horse-battery") == 303
    assert any(e["action"] == "login_throttled" for e in gw.db.admin_log())


def test_login_form_needs_its_csrf_token(gw: ConsoleGateway) -> None:
    client = httpx.Client(base_url=gw.url, timeout=30)
    client.get("/console/login")
    resp = client.post("/console/login", data={"csrf": "forged", "username": "alice",
                                               "password": "correct-horse-battery"})  # fmt: skip
    assert resp.status_code == 403


def test_csrf_is_enforced_on_posts(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    form = {"term": "无害测试词甲", "category": "A1.08", "level": "3"}
    assert client.post("/console/lexicon/add", data=form).status_code == 403
    assert client.post("/console/lexicon/add", data={**form, "csrf": "wrong"}).status_code == 403
    # A valid token from another origin is refused too.
    cross = client.post("/console/lexicon/add", data={**form, "csrf": csrf},
                        headers={"Origin": "https://evil.example"})  # fmt: skip
    assert cross.status_code == 403
    assert clean.db.draft() is None  # nothing was changed
    ok = client.post("/console/lexicon/add", data={**form, "csrf": csrf})
    assert ok.status_code == 303
    draft = clean.db.draft()
    assert draft is not None and "无害测试词甲" in draft.files["lexicon/console.csv"]
    # Another session's token does not work in this one.
    _, other_csrf = login(clean.url, "bob")
    assert other_csrf != csrf
    resp = client.post("/console/lexicon/add", data={**form, "term": "乙", "csrf": other_csrf})
    assert resp.status_code == 403


def test_viewer_cannot_edit_or_publish(clean: ConsoleGateway) -> None:
    editor, ecsrf = login(clean.url, "alice")
    assert editor.post("/console/lexicon/add", data={"csrf": ecsrf, "term": "无害测试词乙",
                       "category": "A1.08", "level": "3"}).status_code == 303  # fmt: skip
    viewer, vcsrf = login(clean.url, "victor")
    before = clean.state().policies.current.version
    assert viewer.get("/console/draft").status_code == 200  # reading is allowed
    r = viewer.post("/console/draft/publish", data={"csrf": vcsrf, "reason": "x"})
    assert r.status_code == 403
    r = viewer.post("/console/lexicon/add", data={"csrf": vcsrf, "term": "无害测试词丙",
                    "category": "A1.08", "level": "3"})  # fmt: skip
    assert r.status_code == 403
    assert viewer.get("/console/admin/users").status_code == 403
    assert clean.state().policies.current.version == before


def test_four_eyes(clean: ConsoleGateway) -> None:
    editor, ecsrf = login(clean.url, "alice")
    assert editor.post("/console/lexicon/add", data={"csrf": ecsrf, "term": "无害测试词丁",
                       "category": "A1.08", "level": "3"}).status_code == 303  # fmt: skip
    # An editor cannot publish at all, their own draft included.
    assert (
        editor.post("/console/draft/publish", data={"csrf": ecsrf, "reason": "mine"}).status_code
        == 403
    )
    # An approver who changed the draft cannot publish it either.
    bob, bcsrf = login(clean.url, "bob")
    assert bob.post("/console/lexicon/add", data={"csrf": bcsrf, "term": "无害测试词戊",
                    "category": "A1.08", "level": "3"}).status_code == 303  # fmt: skip
    before = clean.state().policies.current.version
    refused = bob.post("/console/draft/publish", data={"csrf": bcsrf, "reason": "mine too"})
    assert refused.status_code == 403
    assert "另一位审批人" in refused.text  # the four-eyes reason, in the default language
    assert clean.state().policies.current.version == before
    carol, ccsrf = login(clean.url, "carol")
    ok = carol.post("/console/draft/publish", data={"csrf": ccsrf, "reason": "reviewed"})
    assert ok.status_code == 303, ok.text
    assert clean.state().policies.current.version != before
    assert clean.db.draft() is None
    log = clean.db.admin_log()
    assert any(e["action"] == "publish" and e["user"] == "carol" and e["reason"] == "reviewed"
               for e in log)  # fmt: skip
    assert any(e["action"] == "publish_refused" and e["user"] == "bob" for e in log)


def test_html_in_settings_tenants_and_shadow_examples_is_inert(clean: ConsoleGateway) -> None:
    admin, csrf = login(clean.url, "admin")
    assert admin.post("/console/allow/add", data={"csrf": csrf, "entry": EVIL_TERM,
                                                  "reason": EVIL_REFUSAL}).status_code == 303  # fmt: skip
    _assert_inert(admin.get("/console/settings").text, EVIL_TERM)
    assert admin.post("/console/tenants", data={"csrf": csrf, "name": "acme",
                                                "reason": "r"}).status_code == 303  # fmt: skip
    resp = admin.post("/console/tenants/acme/overrides", data={
        "csrf": csrf, "refusal_zh": EVIL_REFUSAL, "refusal_en": EVIL_TERM, "reason": "r"})  # fmt: skip
    assert resp.status_code == 303
    _assert_inert(admin.get("/console/tenants").text, EVIL_REFUSAL)
    _assert_inert(admin.get("/console/draft").text, EVIL_REFUSAL)
    clean.db.drop_draft()
    admin.post("/console/lexicon/add", data={"csrf": csrf, "term": "影子安全测试",
                                             "category": "A1.08", "level": "3"})  # fmt: skip
    run = admin.post("/console/shadow/start", data={"csrf": csrf, "checks": "1"})
    assert run.status_code == 303
    clean.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": f"影子安全测试 {EVIL_TERM}"}]
    )
    deadline = time.monotonic() + 15
    page = ""
    while time.monotonic() < deadline and 'data-state="done"' not in page:
        page = admin.get(run.headers["location"]).text
        time.sleep(0.2)
    assert 'class="example"' in page
    _assert_inert(page, EVIL_TERM)
    admin.post("/console/shadow/stop", data={"csrf": csrf})
    clean.db.drop_draft()


def _assert_inert(page: str, raw: str) -> None:
    """The markup of ``raw`` appears only escaped (CSV quoting may change its quotes)."""
    opening = raw[: raw.index(" ") if raw.startswith("<img") else raw.index("(")]
    assert opening not in page
    assert html.escape(opening) in page


def test_html_in_terms_and_refusals_is_inert(clean: ConsoleGateway) -> None:
    alice, acsrf = login(clean.url, "alice")
    r = alice.post("/console/lexicon/add", data={"csrf": acsrf, "term": EVIL_TERM,
                   "category": "A1.08", "level": "2", "reason": EVIL_REFUSAL})  # fmt: skip
    assert r.status_code == 303
    form = {"csrf": acsrf, "input_enabled": "on", "input_action": "block", "input_threshold": "0.8",
            "output_enabled": "on", "output_action": "block", "output_threshold": "0.8",
            "refusal_zh": EVIL_REFUSAL, "refusal_en": EVIL_TERM, "reason": "xss check"}  # fmt: skip
    assert alice.post("/console/policy/category/A1.06", data=form).status_code == 303
    for url in ("/console/lexicon?q=script", "/console/draft"):
        _assert_inert(alice.get(url).text, EVIL_TERM)
    refusals = {"csrf": acsrf, "input_zh": EVIL_REFUSAL, "input_en": "x", "reason": "r",
                "output_zh": "抱歉，生成的内容不符合安全规范，已停止输出。",
                "output_en": "Sorry, the generated content violated the content policy and was stopped."}  # fmt: skip
    assert alice.post("/console/policy/refusals", data=refusals).status_code == 303
    for url in ("/console/policy", "/console/policy/category/A1.06", "/console/policy/refusals"):
        page = alice.get(url).text
        _assert_inert(page, EVIL_REFUSAL)
    tried = alice.post("/console/try", data={"csrf": acsrf, "text": f"看看 {EVIL_TERM} 这个",
                                             "direction": "input", "tenant": "default"})  # fmt: skip
    assert tried.status_code == 200
    _assert_inert(tried.text, EVIL_TERM)
    assert re.search(r'id="draft-action" data-action="review">', tried.text)
    carol, ccsrf = login(clean.url, "carol")
    _assert_inert(carol.get("/console/admin/log").text, EVIL_REFUSAL)
    assert (
        carol.post("/console/draft/publish", data={"csrf": ccsrf, "reason": "ok"}).status_code
        == 303
    )
    # The term now fires through the proxy (level 2: review); the log shows it escaped.
    out = clean.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": f"看看 {EVIL_TERM} 这个"}]
    )
    assert out.choices[0].finish_reason != "content_filter"
    deadline = time.monotonic() + 10
    page = ""
    while time.monotonic() < deadline:
        page = carol.get("/console/log?action=review").text
        if "script" in page:
            break
        time.sleep(0.2)
    _assert_inert(page, EVIL_TERM)
    _assert_inert(carol.get("/console/reviews").text, EVIL_TERM)
    rid = re.search(r'href="/console/log/(dec_[0-9a-f]+)"', page)
    assert rid is not None
    _assert_inert(carol.get(f"/console/log/{rid.group(1)}").text, EVIL_TERM)
    # The refusal text that a blocked A1.06 request gets is the raw text (the API is JSON,
    # not HTML); the console shows it escaped wherever it appears.
    _assert_inert(carol.get("/console/versions").text + carol.get("/console/policy").text,
                  EVIL_REFUSAL)  # fmt: skip


def test_cli_create_user_then_log_in(gw: ConsoleGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from gateway.console.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["console", "create-user", "dora", "--role", "viewer",
                              "--password-stdin", "--db", str(gw.db.path)])  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert args.func(args) == 2  # too short: refused
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password\n"))
    assert args.func(args) == 0
    client, _ = login(gw.url, "dora", "a-long-enough-password")
    assert client.get("/console/admin/users").status_code == 403


def test_login_attempts_are_limited_per_address_before_any_hashing(
    mock: Mock, tmp_path: Path
) -> None:
    """A flood of logins with random names (each would cost an scrypt) is refused at the
    door once the address has used its burst; the account lock alone would never stop it."""
    g = start(tmp_path, mock.url)
    try:
        client = httpx.Client(base_url=g.url, timeout=60)
        codes = [_try_login(client, f"random-{i}", "guess") for i in range(24)]
        assert codes[:20] == [401] * 20
        assert set(codes[20:]) == {429}
        assert any(e["action"] == "login_rate_limited" for e in g.db.admin_log())
    finally:
        g.stop()


def test_attempt_limiter_buckets() -> None:
    from gateway.console.throttle import AttemptLimiter

    now = [0.0]
    limiter = AttemptLimiter(burst=2, per_second=1.0, global_burst=3, global_per_second=1.0,
                             clock=lambda: now[0])  # fmt: skip
    assert [limiter.admit("a") for _ in range(3)] == [True, True, False]  # per address
    assert limiter.admit("b") is True
    assert limiter.admit("c") is False  # the global bucket is empty too
    now[0] = 1.0  # one token each back
    assert limiter.admit("a") is True and limiter.admit("a") is False
    limiter.refund("a")  # a successful login gives its token back
    now[0] = 2.0
    assert limiter.admit("a") is True
