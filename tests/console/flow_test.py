"""Console features over HTTP against a real gateway: validation errors, bulk import,
removal, the dry run over logged traffic, reports, account administration."""

from __future__ import annotations

import difflib
import re
import time
import uuid
from collections.abc import Iterator

import orjson
import pytest

from gateway.policy.loader import load_policy
from tests.conftest import Mock
from tests.support.console import ConsoleGateway, FixedScores, login, start
from tests.support.paths import TEST_POLICY

REDIS = "redis://127.0.0.1:6379/0"
PREFIX = f"console{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("console-flow"), mock.url, redis_url=REDIS,
              redis_prefix=PREFIX, classifier=FixedScores("可疑标记", {"A1.08": 0.75}))  # fmt: skip
    yield g
    g.stop()


@pytest.fixture
def clean(gw: ConsoleGateway) -> ConsoleGateway:
    gw.db.drop_draft()
    return gw


def _rule_form(csrf: str, **over: str) -> dict[str, str]:
    form = {"csrf": csrf, "input_enabled": "on", "input_action": "block",
            "input_threshold": "0.8", "output_enabled": "on", "output_action": "block",
            "output_threshold": "0.8", "reason": "test"}  # fmt: skip
    form.update(over)
    return form


def test_invalid_rule_is_refused_with_the_reason(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    resp = client.post("/console/policy/category/A1.04",
                       data=_rule_form(csrf, input_review_threshold="0.9"))  # fmt: skip
    assert resp.status_code == 400
    # In words, naming the category and the field, with how to fix it; no file or line.
    assert _flash(resp.text) == [
        "A1.04 宣扬恐怖主义、极端主义 · 输入：审核阈值和标记阈值不能高于阈值（阈值 0.8，审核阈值 0.9）。"
        "请调低审核阈值或标记阈值，或调高阈值。"
    ]
    resp = client.post("/console/policy/category/A1.04", data=_rule_form(csrf, input_threshold="2"))
    assert resp.status_code == 400
    assert _flash(resp.text) == ["输入 · 阈值：必须在 0 到 1 之间（现在是 2）。"]
    resp = client.post("/console/policy/category/A1.04",
                       data=_rule_form(csrf, refusal_zh="只有中文"))  # fmt: skip
    assert resp.status_code == 400  # a refusal needs both languages
    assert _flash(resp.text) == ["A1.04 宣扬恐怖主义、极端主义 · 拒答文本 · 英文：不能为空。"]
    assert clean.db.draft() is None
    client.cookies.set("gw_console_lang", "en", path="/console")
    resp = client.post("/console/policy/category/A1.04", data=_rule_form(csrf, input_threshold="x"))
    assert _flash(resp.text) == [
        "input · threshold: must be a number from 0 to 1, not &#39;x&#39;."
    ]


def _flash(page: str) -> list[str]:
    return re.findall(r'<p class="flash error">([^<]*)</p>', page)


def test_an_edit_changes_only_what_was_edited(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    resp = client.post("/console/policy/category/A3.01",
                       data=_rule_form(csrf, input_action="flag", input_threshold="0.5",
                                       output_action="review", output_enabled="",
                                       output_threshold="0.5"))  # fmt: skip
    assert resp.status_code == 303
    # A1.04's block layout with its refusal: a threshold edit is that one number.
    resp = client.post("/console/policy/category/A1.04",
                       data=_rule_form(csrf, input_threshold="0.6", output_threshold="0.5",
                                       refusal_zh="抱歉，我不能提供任何与恐怖主义、暴力袭击或爆炸物制作相关的帮助。",
                                       refusal_en="Sorry, I can't help with terrorism, violent attacks or making explosives."))  # fmt: skip
    assert resp.status_code == 303
    draft = clean.db.draft()
    assert draft is not None
    live = clean.policy.read_text("utf-8")
    changed = [line for line in difflib.unified_diff(live.splitlines(),
                                                     draft.files[draft.policy].splitlines(),
                                                     lineterm="", n=0)
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]  # fmt: skip
    assert changed == [
        "-    input: {action: block, threshold: 0.5}",
        "+    input: {action: block, threshold: 0.6}",
        "-  A3.01: {input: {action: flag, threshold: 0.5}, output: {action: review, threshold: 0.5}}",
        "+  A3.01: {input: {action: flag, threshold: 0.5}, output: {action: review, threshold: 0.5, enabled: false}}",
    ]
    page = client.get("/console/draft").text
    assert re.findall(r'<li class="change change-rule">([^<]*)</li>', page) == [
        "A1.04 宣扬恐怖主义、极端主义 · 输入：拦截（阈值 0.5） → 拦截（阈值 0.6）",
        "A3.01 侵犯他人知识产权 · 输出：审核（阈值 0.5） → 关闭",
    ]
    assert "@@" in page  # the file diff is one click away (in a <details>)


def test_bulk_import_and_remove(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    words = "导入测试词一\n导入测试词二\n导入测试词一\n# 注释\n"
    resp = client.post("/console/lexicon/import",
                       data={"csrf": csrf, "category": "A3.05", "level": "2", "reason": "批量"},
                       files={"file": ("words.txt", words.encode("gbk"), "text/plain")})  # fmt: skip
    assert resp.status_code == 303, resp.text
    page = client.get("/console/lexicon?q=导入测试词").text
    assert page.count('class="term"') == 2
    csv_text = "关键词,二级分类\n导入测试词三,A1.08 违法\n"
    resp = client.post("/console/lexicon/import",
                       data={"csrf": csrf, "category": "A3.05", "level": "1"},
                       files={"file": ("filing.csv", csv_text.encode(), "text/csv")})  # fmt: skip
    assert resp.status_code == 303, resp.text
    draft = clean.db.draft()
    assert draft is not None and "导入测试词三,A1.08,1" in draft.files["lexicon/console.csv"]
    resp = client.post("/console/lexicon/remove",
                       data={"csrf": csrf, "term": "导入测试词一", "category": "A3.05"})  # fmt: skip
    assert resp.status_code == 303
    assert client.get("/console/lexicon?q=导入测试词").text.count('class="term"') == 2
    # Removing a shipped term edits its own file and keeps the file's comments.
    resp = client.post("/console/lexicon/remove",
                       data={"csrf": csrf, "term": "赌博网站", "category": "A1.08"})  # fmt: skip
    assert resp.status_code == 303
    draft = clean.db.draft()
    assert draft is not None
    assert "赌博网站" not in draft.files["lexicon/gambling.csv"]
    assert draft.files["lexicon/gambling.csv"].startswith("# Starter keyword library")
    assert client.post("/console/lexicon/remove", data={"csrf": csrf, "term": "不存在",
                       "category": "A1.08"}).status_code == 404  # fmt: skip


def test_dry_run_shows_what_the_draft_changes(clean: ConsoleGateway) -> None:
    sdk = clean.openai()
    for text in ("今天天气不错", "推荐一个蓝莓果酱配方", "蓝莓果酱怎么做"):
        sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    client, csrf = login(clean.url, "alice")
    assert client.post("/console/lexicon/add", data={"csrf": csrf, "term": "蓝莓果酱",
                       "category": "A3.05", "level": "3"}).status_code == 303  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        page = client.post("/console/try/replay", data={"csrf": csrf, "hours": "1", "limit": "50"})
        assert page.status_code == 200, page.text
        changed = re.search(r'id="dry-changed">(\d+)<', page.text)
        assert changed is not None
        if int(changed.group(1)) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert int(changed.group(1)) == 2
    assert page.text.count('class="changed"') == 2
    # Replays never reach the upstream or the gateway's own decision counters.
    assert "今天天气不错" in page.text


def test_reports_and_exports(clean: ConsoleGateway) -> None:
    clean.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "出售枪支的渠道"}]
    )
    client, _ = login(clean.url, "victor")  # a viewer may read and export
    deadline = time.monotonic() + 10
    while "出售枪支" not in client.get("/console/log?action=block").text:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    report = client.get("/console/log/report?format=json")
    assert report.status_code == 200
    data = orjson.loads(report.content)
    assert data["records"] >= 1 and data["by_direction"]["input"]["block"] >= 1
    page = client.get("/console/log/report")
    assert page.status_code == 200 and "内容安全审计报告" in page.text
    jsonl = client.get("/console/log/export?format=jsonl&action=block")
    rows = [orjson.loads(line) for line in jsonl.content.splitlines()]
    assert rows and all(r["action"] == "block" for r in rows)
    assert client.get("/console/log?since=yesterday").status_code == 400
    csv_export = client.get("/console/lexicon/export?format=csv")
    assert csv_export.content.decode("utf-8-sig").startswith("关键词,一级分类,二级分类")


def test_admin_manages_accounts(clean: ConsoleGateway) -> None:
    admin, csrf = login(clean.url, "admin")
    resp = admin.post("/console/admin/users", data={"csrf": csrf, "username": "erin",
                      "password": "erin-password-1", "role": "editor", "reason": "new hire"})  # fmt: skip
    assert resp.status_code == 303
    assert admin.post("/console/admin/users", data={"csrf": csrf, "username": "frank",
                      "password": "short", "role": "editor", "reason": "x"}).status_code == 400  # fmt: skip
    erin, _ = login(clean.url, "erin", "erin-password-1")
    assert erin.get("/console/admin/users").status_code == 403
    resp = admin.post(
        "/console/admin/users/erin",
        data={"csrf": csrf, "role": "editor", "reason": "left the team"},
    )  # fmt: skip
    assert resp.status_code == 303
    # A disabled account's session ends at once.
    assert erin.get("/console/").status_code == 303
    assert admin.post("/console/admin/users/admin", data={"csrf": csrf, "role": "viewer",
                      "active": "on", "reason": "oops"}).status_code == 400  # fmt: skip
    log = clean.db.admin_log()
    assert any(e["action"] == "update_user" and e["target"] == "erin"
               and e["reason"] == "left the team" for e in log)  # fmt: skip


def test_logout_ends_the_session(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "victor")
    assert client.post("/console/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/console/").status_code == 303


def test_publish_is_announced_to_other_replicas(clean: ConsoleGateway) -> None:
    import redis

    r = redis.Redis.from_url(REDIS)
    alice, acsrf = login(clean.url, "alice")
    assert alice.post("/console/lexicon/add", data={"csrf": acsrf, "term": "复制测试词",
                      "category": "A1.08", "level": "3"}).status_code == 303  # fmt: skip
    bob, bcsrf = login(clean.url, "bob")
    assert (
        bob.post("/console/draft/publish", data={"csrf": bcsrf, "reason": "r"}).status_code == 303
    )
    version = clean.state().policies.current.version
    bundle = r.get(f"{PREFIX}:policy:bundle:{version}")
    assert bundle is not None, "the published version was not announced through Redis"
    assert "复制测试词" in orjson.loads(bundle)["lexicon/console.csv"]
    r.delete(*r.keys(f"{PREFIX}:*"))


def test_filing_export_is_the_live_library_unless_the_draft_is_asked_for(
    clean: ConsoleGateway,
) -> None:
    client, csrf = login(clean.url, "alice")
    assert client.post("/console/lexicon/add", data={"csrf": csrf, "term": "未发布测试词",
                       "category": "A1.08", "level": "3"}).status_code == 303  # fmt: skip
    live = client.get("/console/lexicon/export?format=csv").content.decode("utf-8-sig")
    draft = client.get("/console/lexicon/export?format=csv&source=draft").content.decode(
        "utf-8-sig"
    )
    assert "未发布测试词" not in live
    assert "未发布测试词,A1 包含违反社会主义核心价值观的内容" in draft


def test_try_it_shows_scores_against_each_versions_thresholds(clean: ConsoleGateway) -> None:
    client, csrf = login(clean.url, "alice")
    form = _rule_form(csrf, input_threshold="0.9", input_review_threshold="0.8")
    assert client.post("/console/policy/category/A1.08", data=form).status_code == 303
    page = client.post("/console/try", data={"csrf": csrf, "text": "一段可疑标记的文本",
                       "direction": "input", "tenant": "default"}).text  # fmt: skip
    # Live: 0.75 is over A1.08's calibrated threshold and blocks; the draft raises the
    # threshold to 0.9 (review from 0.8), so it allows. The reason names score and threshold.
    live_rule = load_policy(TEST_POLICY).policy.categories["A1.08"].input
    assert live_rule is not None and live_rule.threshold <= 0.75  # the premise of this test
    assert re.search(r'id="live-action" data-action="block">拦截<', page)
    assert re.search(r'id="draft-action" data-action="allow">放行<', page)
    details = re.findall(r'class="detail" translate="no">([^<]+)<', page)
    assert details == [f"分数 0.750 ≥ 阈值 {live_rule.threshold:g}"], details
    assert page.count("<td>0.750</td>") == 2  # the score table on both sides


def test_change_own_password(clean: ConsoleGateway) -> None:
    from gateway.console.db import Role
    from gateway.console.passwords import hash_password

    clean.db.add_user("gina", Role.VIEWER, hash_password("gina-old-password"))
    client, csrf = login(clean.url, "gina", "gina-old-password")
    form = {"csrf": csrf, "current": "wrong-password", "new": "gina-new-password",
            "repeat": "gina-new-password"}  # fmt: skip
    assert client.post("/console/account", data=form).status_code == 403
    assert client.post("/console/account", data={**form, "current": "gina-old-password",
                       "repeat": "different-one"}).status_code == 400  # fmt: skip
    ok = client.post("/console/account", data={**form, "current": "gina-old-password"})
    assert ok.status_code == 303
    assert client.get("/console/").status_code == 303  # the session ended
    login(clean.url, "gina", "gina-new-password")
