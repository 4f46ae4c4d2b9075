"""Settings, the allow list and tenants edited in the console (over HTTP, against a real
gateway), and the small things an officer would otherwise ask a programmer about: adding a
term that exists, the admin log in words, the log newest first, the start page counts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from gateway.console.db import Role
from gateway.policy.loader import parse_policy
from tests.conftest import Mock
from tests.support.console import ConsoleGateway, chat, login, start, wait_for


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("console-settings"), mock.url)
    yield g
    g.stop()


@pytest.fixture
def clean(gw: ConsoleGateway) -> ConsoleGateway:
    gw.db.drop_draft()
    return gw


def _draft_policy(gw: ConsoleGateway) -> str:
    draft = gw.db.draft()
    assert draft is not None
    return draft.files[draft.policy]


def _changes(page: str) -> list[str]:
    return re.findall(r'<li class="change change-[a-z_]+">([^<]*)', page)


def _flash(page: str) -> list[str]:
    return re.findall(r'<p class="flash error">([^<]*)</p>', page)


def test_adding_an_existing_term_says_so_and_logs_nothing(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    form = {"csrf": csrf, "term": "赌博网站", "category": "A1.08", "level": "3", "reason": "r"}
    before = len(clean.db.admin_log(1000))
    resp = client.post("/console/lexicon/add", data=form)
    assert resp.status_code == 409
    assert _flash(resp.text) == [
        "关键词“赌博网站”（A1.08，3 级）已在词库中（lexicon/gambling.csv），没有修改。"
    ]
    assert clean.db.draft() is None
    assert len(clean.db.admin_log(1000)) == before


def test_settings_sections_go_to_the_draft_value_by_value(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    resp = client.post("/console/settings/pii", data={
        "csrf": csrf, "enabled": "on", "kinds": ["cn_id", "email"], "input_action": "redact",
        "output_action": "block", "mask": "[已脱敏]", "reason": "工单 #7"})  # fmt: skip
    assert resp.status_code == 303, _flash(resp.text)
    resp = client.post("/console/settings/stream", data={
        "csrf": csrf, "holdback": "longest_term", "check_every_chars": "24",
        "check_on_punctuation": "on", "extra_holdback_chars": "0",
        "classifier_window_chars": "256", "classifier_min_chars": "40",
        "classifier_min_chars_latin": "80",
        "classifier_gate": "hold", "reason": "先审后发"})  # fmt: skip
    assert resp.status_code == 303, _flash(resp.text)
    resp = client.post("/console/settings/sanctions", data={
        "csrf": csrf, "enabled": "on", "warn_after_count": "2", "warn_after_seconds": "3600",
        "suspend_after_count": "5", "suspend_after_seconds": "86400", "consecutive_suspend": "",
        "suspend_seconds": "86400", "message_zh": "您的账号因多次违规已被暂停使用。",
        "message_en": "Your account is suspended after repeated violations.",
        "restricted_message_zh": "您的账号因多次违规已被限制使用部分功能，本次请求无法处理。",
        "restricted_message_en": "Your account is restricted after repeated violations, so this request was refused.",
        "reason": "开启处置"})  # fmt: skip
    assert resp.status_code == 303, _flash(resp.text)
    policy = parse_policy(_draft_policy(clean), "p")
    assert policy.pii.kinds == ("cn_id", "email") and policy.pii.output_action.value == "block"
    assert policy.stream.holdback == "longest_term" and policy.stream.classifier_gate == "hold"
    assert policy.sanctions.enabled and policy.sanctions.consecutive_suspend is None
    assert policy.sanctions.warn_after is not None and policy.sanctions.warn_after.count == 2
    assert _changes(client.get("/console/draft").text) == [
        "个人信息检测 · 检测的类型：身份证号、手机号、银行卡号、电子邮箱 → 身份证号、电子邮箱",
        "个人信息检测 · 输出中发现时：脱敏 → 拦截",
        "流式输出 · 保留方式：只保留可能成词的尾部 → 按最长关键词保留",
        "流式输出 · 分类器判定方式：先发出，判定违规后撤回 → 判定通过后才发出",
        "违规用户处置 · 启用：关 → 开",
        "违规用户处置 · 警示条件 · 次数：未设 → 2",
        "违规用户处置 · 警示条件 · 时间窗（秒）：未设 → 3600",
        "违规用户处置 · 连续违规几次即暂停：3 → 未设",
    ]
    # A bad value is refused in words, and the draft keeps what it had.
    resp = client.post("/console/settings/stream", data={
        "csrf": csrf, "holdback": "prefix", "check_every_chars": "0",
        "extra_holdback_chars": "0", "classifier_window_chars": "256", "classifier_min_chars": "40",
        "classifier_min_chars_latin": "80",
        "classifier_gate": "retract", "reason": "x"})  # fmt: skip
    assert resp.status_code == 400
    assert _flash(resp.text) == ["流式输出 · 每新增多少字检查一次：必须 ≥ 1（现在是 0）。"]


def test_what_the_log_keeps_is_an_admin_decision(clean: ConsoleGateway) -> None:
    form = {"text": "redacted", "review_text": "full", "reason": "审核需要原文"}
    alice, csrf = login(clean.url, "alice")
    assert alice.post("/console/settings/audit", data={"csrf": csrf, **form}).status_code == 403
    admin, csrf = login(clean.url, "admin")
    assert admin.post("/console/settings/audit", data={"csrf": csrf, **form}).status_code == 303
    audit = parse_policy(_draft_policy(clean), "p").audit
    assert (audit.text, audit.review_text) == ("redacted", "full")
    page = admin.get("/console/settings").text
    assert 'id="audit-text"' in page and "保存脱敏文本" in page


def test_the_allow_list(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    add = {"csrf": csrf, "entry": "赌博网站历史研究", "reason": "学术讨论"}
    assert client.post("/console/allow/add", data=add).status_code == 303
    again = client.post("/console/allow/add", data=add)
    assert again.status_code == 400 and _flash(again.text) == [
        "白名单中已有“赌博网站历史研究”，没有修改。"
    ]
    draft = clean.db.draft()
    assert draft is not None and "赌博网站历史研究" in draft.files["lexicon/console-allow.txt"]
    policy = parse_policy(draft.files[draft.policy], "p")
    assert "lexicon/console-allow.txt" in policy.lexicon.allow_files
    page = client.get("/console/settings").text
    assert (
        re.findall(r'class="allow-entry" translate="no">([^<]+)<', page)[-1] == "赌博网站历史研究"
    )
    assert "白名单新增 赌博网站历史研究" in _changes(client.get("/console/draft").text)
    # Published, the entry stops the term inside it from firing.
    bob, bcsrf = login(clean.url, "bob")
    assert (
        bob.post("/console/draft/publish", data={"csrf": bcsrf, "reason": "同意"}).status_code
        == 303
    )
    assert chat(clean, "介绍一下赌博网站历史研究的文献")[0] == "stop"
    remove = {"csrf": csrf, "entry": "赌博网站历史研究", "reason": "撤回"}
    assert client.post("/console/allow/remove", data=remove).status_code == 303
    assert client.post("/console/allow/remove", data=remove).status_code == 400


def test_the_admin_log_in_words(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    client.post("/console/lexicon/add", data={"csrf": csrf, "term": "日志测试词", "category": "A3.05",
                                              "level": "2", "reason": "工单 #9"})  # fmt: skip
    bob, _ = login(clean.url, "bob")
    page = bob.get("/console/admin/log").text
    row = re.search(r'data-code="add_term">([^<]+)</td><td class="target wrap" translate="no">'
                    r"日志测试词</td><td class=\"wrap\">工单 #9</td>\s*<td class=\"wrap detail\">(.*?)</td>",
                    page)  # fmt: skip
    assert row is not None, page[-3000:]
    assert row.group(1) == "添加关键词"
    assert re.findall(r'<span class="kv">([^<]+)</span>', row.group(2)) == [
        "类别：A3.05",
        "级别：2",
    ]


def test_log_newest_first_and_the_start_page_counts(clean: ConsoleGateway) -> None:
    for text in ("第一句话", "出售枪支的渠道", "网络赌博到底违法吗", "最后一句话"):
        chat(clean, text)
    client, _ = login(clean.url, "victor")
    wait_for(lambda: "最后一句话" in client.get("/console/log?action=allow").text or
             len(re.findall('class="record-row"', client.get("/console/log").text)) >= 8,
             what="the records")  # fmt: skip
    page = client.get("/console/log").text
    actions = re.findall(r'data-action="([a-z]+)"', page)
    times = re.findall(r'<tr class="record-row"><td>([^<]+)</td>', page)
    assert times == sorted(times, reverse=True)
    assert actions[:2] == ["allow", "allow"]  # the last request's output and input
    home = client.get("/console/").text
    waiting = re.search(r'id="home-waiting">(\d+)<', home)
    blocks = re.search(r'id="home-blocks">(\d+)\+?<', home)
    assert waiting is not None and int(waiting.group(1)) >= 1
    assert blocks is not None and int(blocks.group(1)) >= 1
    assert 'id="home-classifier"' in home and 'id="home-last-publish"' in home


def test_tenants_keys_are_made_once_and_work_after_publish(mock: Mock, tmp_path: Path) -> None:
    g = start(tmp_path, mock.url)
    try:
        admin, csrf = login(g.url, "admin")
        assert admin.post("/console/tenants", data={"csrf": csrf, "name": "acme",
                                                    "reason": "新客户"}).status_code == 303  # fmt: skip
        resp = admin.post("/console/tenants/acme/key", data={"csrf": csrf, "reason": "首个密钥"})
        found = re.search(r'id="new-key-value">(gw-[A-Za-z0-9_-]+)<', resp.text)
        assert resp.status_code == 200 and found is not None
        key = found.group(1)
        assert key not in _draft_policy(g)  # only its digest is kept
        assert all(key not in str(e) for e in g.db.admin_log(100))
        assert key not in admin.get("/console/tenants").text  # shown once
        resp = admin.post("/console/tenants/acme/overrides", data={
            "csrf": csrf, "language": "en", "audit_text": "none",
            "yaml": "pii: {enabled: false}\n", "reason": "英文客户"})  # fmt: skip
        assert resp.status_code == 303
        bad = admin.post("/console/tenants/acme/overrides", data={
            "csrf": csrf, "yaml": "stream: {check_every_chars: 0}\n", "reason": "x"})  # fmt: skip
        assert bad.status_code == 400 and _flash(bad.text) == [
            "租户 acme · 覆盖设置 · 流式输出 · 每新增多少字检查一次：必须 ≥ 1（现在是 0）。"]  # fmt: skip
        assert _changes(admin.get("/console/draft").text) == [
            "新增租户 acme",
            "租户 acme：新增 1 个密钥",
            "租户 acme · 覆盖设置 · 个人信息检测 · 启用：未设 → 关",
            "租户 acme · 覆盖设置 · 默认语言：未设 → 英文",
            "租户 acme · 覆盖设置 · 决策日志 · 日志保存的文本：未设 → 不保存文本",
        ]
        editor, ecsrf = login(g.url, "alice")
        assert editor.post("/console/tenants/acme/key", data={"csrf": ecsrf}).status_code == 403
        bob, bcsrf = login(g.url, "bob")
        assert (
            bob.post("/console/draft/publish", data={"csrf": bcsrf, "reason": "r"}).status_code
            == 303
        )
        wait_for(lambda: g.state().policies.current.tenants, what="the tenant to go live")
        assert chat(g, "你好", api_key=key)[0] == "stop"
        with pytest.raises(openai.AuthenticationError):
            chat(g, "你好", api_key="gw-not-a-key")
        digest = parse_policy(g.policy.read_text("utf-8"), "p").tenants["acme"].api_keys_sha256[0]
        assert admin.post("/console/tenants/acme/revoke", data={"csrf": csrf, "digest": digest,
                                                                "reason": "泄露"}).status_code == 303  # fmt: skip
        assert "租户 acme：吊销 1 个密钥" in _changes(admin.get("/console/draft").text)
    finally:
        g.stop()


def test_viewers_see_settings_but_cannot_change_them(clean: ConsoleGateway) -> None:
    clean.db.add_user("vera", Role.VIEWER, clean.db.user("victor")[1])  # type: ignore[index]
    client, csrf = login(clean.url, "vera", "correct-horse-battery")
    assert client.get("/console/settings").status_code == 200
    assert client.get("/console/tenants").status_code == 200
    assert 'id="save-pii"' not in client.get("/console/settings").text
    assert client.post("/console/settings/pii", data={"csrf": csrf}).status_code == 403
    assert client.post("/console/allow/add", data={"csrf": csrf, "entry": "x"}).status_code == 403
    assert client.post("/console/tenants", data={"csrf": csrf, "name": "x"}).status_code == 403
