"""Shadow runs and review text over HTTP, against a real gateway whose policy keeps only a
hash of ordinary texts (the shipped choice): a draft judged on live traffic without
changing a single answer, the difference page, publishing from it; review items that show
their text anyway; a dry run that says why records cannot be replayed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from gateway.policy.loader import parse_policy
from tests.conftest import Mock
from tests.support.console import ConsoleGateway, chat, login, start, wait_for

NEW_TERM = "紫水晶走私渠道"


@pytest.fixture(scope="module")
def gw(mock: Mock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleGateway]:
    g = start(tmp_path_factory.mktemp("console-shadow"), mock.url, audit_text="hash")
    yield g
    g.stop()


def _num(page: str, ident: str) -> int:
    m = re.search(rf'id="{ident}"[^>]*>([+-]?\d+)', page)
    assert m is not None, ident
    return int(m.group(1))


def test_review_items_show_their_text_under_a_hash_policy(gw: ConsoleGateway) -> None:
    chat(gw, "网络赌博到底违法吗？")  # level 2: review
    chat(gw, "今天天气不错")
    client, _ = login(gw.url, "victor")
    page = wait_for(lambda: (p := client.get("/console/reviews").text) and
                    "网络赌博到底违法吗" in p and p, what="the review item")  # fmt: skip
    texts = re.findall(
        r'class="text pending-text" data-mode="[a-z]+"><span translate="no">([^<]+)</span>', page
    )
    assert texts == ["网络赌博到底违法吗？"]  # kept (redacted), as review_text says
    assert 'data-mode="redacted"' in page
    kept = re.search(r'id="text-kept">([^<]+)', page)
    assert kept is not None and "只保存哈希" in kept.group(1) and "保存脱敏文本" in kept.group(1)
    # An allowed request kept only its hash, and the record page says what that means.
    log = client.get("/console/log?action=allow").text
    rid = re.findall(r'href="/console/log/(dec_[0-9a-f]+)"', log)[0]
    record = client.get(f"/console/log/{rid}").text
    assert "日志只保存了文本的带密钥哈希" in record and "今天天气不错" not in record


def test_a_dry_run_says_why_records_cannot_be_replayed(gw: ConsoleGateway) -> None:
    alice, csrf = login(gw.url, "alice")
    alice.post("/console/lexicon/add", data={"csrf": csrf, "term": "演练用词", "category": "A3.05",
                                             "level": "3"})  # fmt: skip
    page = alice.post("/console/try/replay", data={"csrf": csrf, "hours": "1", "limit": "50"}).text
    why = re.search(r'id="dry-why">([^<]+)', page)
    assert why is not None and "只保存哈希" in why.group(1), page[-2000:]
    gw.db.drop_draft()


def test_a_shadow_run_shows_what_the_draft_would_do_and_is_published_from_there(
    gw: ConsoleGateway,
) -> None:
    gw.db.drop_draft()
    alice, csrf = login(gw.url, "alice")
    assert alice.post("/console/lexicon/add", data={"csrf": csrf, "term": NEW_TERM, "category": "A1.08",
                                                    "level": "3", "reason": "新增"}).status_code == 303  # fmt: skip
    resp = alice.post("/console/shadow/start", data={"csrf": csrf, "checks": "5", "percent": "100",
                                                     "hours": "1", "reason": "先看看"})  # fmt: skip
    assert resp.status_code == 303
    run_url = resp.headers["location"]
    page = alice.get(run_url).text
    assert 'data-state="running"' in page and 'data-refresh="5"' in page
    # Live traffic: the draft would block the first; the answer is the live one regardless.
    assert chat(gw, f"请告诉我{NEW_TERM}怎么联系") == ("stop", "好的")
    assert chat(gw, "出售枪支的渠道")[0] == "content_filter"  # blocked live and in the draft
    assert chat(gw, "你好")[0] == "stop"
    page = wait_for(lambda: (p := alice.get(run_url).text) and 'data-state="done"' in p and p,
                    what="the shadow run to finish")  # fmt: skip
    assert _num(page, "shadow-evaluated") == 5  # inputs and outputs; the blocked one has none
    assert _num(page, "shadow-changed") == 1
    assert (_num(page, "live-blocks"), _num(page, "draft-blocks")) == (1, 2)
    row = re.search(r'id="shadow-cat-A1.08">(.*?)</tr>', page, re.S)
    assert row is not None
    assert re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))[:3] == [
        "1",
        "2",
        "+1",
    ]  # guns, and the new term
    examples = re.search(r'id="examples-newly_blocked">(.*?)</table>', page, re.S)
    assert examples is not None and f"请告诉我{NEW_TERM}怎么联系" in examples.group(1)
    assert 'id="shadow-latency"' in page
    # Four eyes: alice changed the draft and cannot publish it from here; bob can.
    assert 'id="shadow-publish"' not in page
    bob, bcsrf = login(gw.url, "bob")
    page = bob.get(run_url).text
    assert 'id="shadow-publish"' in page
    assert (
        bob.post(
            "/console/draft/publish", data={"csrf": bcsrf, "reason": "影子运行无误报"}
        ).status_code
        == 303
    )
    wait_for(lambda: NEW_TERM in gw.policy.parent.joinpath("lexicon/console.csv").read_text("utf-8"),
             what="the publish")  # fmt: skip
    page = bob.get(run_url).text
    assert 'data-state="published"' in page
    run_id = int(run_url.rsplit("=", 1)[1])
    assert gw.db.shadow.texts_kept(run_id) == 0  # example texts go with the decision
    assert chat(gw, f"请告诉我{NEW_TERM}怎么联系")[0] == "content_filter"


def test_an_edit_stops_the_run_of_the_draft_it_changed(gw: ConsoleGateway) -> None:
    gw.db.drop_draft()
    alice, csrf = login(gw.url, "alice")
    alice.post("/console/lexicon/add", data={"csrf": csrf, "term": "影子测试词一", "category": "A3.05",
                                             "level": "3"})  # fmt: skip
    run_url = alice.post("/console/shadow/start", data={"csrf": csrf, "checks": "100"}).headers[
        "location"
    ]
    alice.post("/console/lexicon/add", data={"csrf": csrf, "term": "影子测试词二", "category": "A3.05",
                                             "level": "3"})  # fmt: skip
    page = alice.get(run_url).text
    assert 'data-state="stale"' in page
    assert "草稿在这次影子运行之后又修改过" in page
    # Stopping by hand, and a run of nothing: both refused cleanly.
    assert alice.post("/console/shadow/stop", data={"csrf": csrf}).status_code == 409
    viewer, vcsrf = login(gw.url, "victor")
    assert viewer.post("/console/shadow/start", data={"csrf": vcsrf}).status_code == 403
    gw.db.drop_draft()
    assert alice.post("/console/shadow/start", data={"csrf": csrf}).status_code == 409


def test_shadow_runs_never_touch_the_decision_log(gw: ConsoleGateway) -> None:
    """Shadow decisions live in the console database, not in the filing log."""
    import asyncio

    from gateway.audit.store import RecordFilter

    async def count() -> int:
        return len(await gw.store.query(RecordFilter(), limit=100_000))

    loop = gw.server.loop
    assert loop is not None
    before = asyncio.run_coroutine_threadsafe(count(), loop).result(30)
    gw.db.drop_draft()
    alice, csrf = login(gw.url, "alice")
    alice.post("/console/lexicon/add", data={"csrf": csrf, "term": "日志隔离测试", "category": "A3.05",
                                             "level": "3"})  # fmt: skip
    run_url = alice.post("/console/shadow/start", data={"csrf": csrf, "checks": "2"}).headers[
        "location"
    ]
    chat(gw, "日志隔离测试一下")
    wait_for(lambda: 'data-state="done"' in alice.get(run_url).text, what="the run")
    after = asyncio.run_coroutine_threadsafe(count(), loop).result(30)
    assert after - before == 2  # the request's own input and output records, nothing more
    policy = parse_policy(gw.policy.read_text("utf-8"), "p")
    assert policy.audit.text == "hash"
    gw.db.drop_draft()


def test_a_candidate_classifier_is_chosen_from_the_configured_ones(
    mock: Mock, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A run may judge the draft with a candidate classifier from GATEWAY_SHADOW_CLASSIFIERS.
    This one (a remote classifier nobody serves) cannot answer, so the draft shows what the
    policy does then (fail closed: block, X2), while the live answers stay as they were."""
    dead = "http://127.0.0.1:9/v1"
    g = start(tmp_path_factory.mktemp("console-candidate"), mock.url, shadow_classifiers=(dead,))
    try:
        alice, csrf = login(g.url, "alice")
        alice.post("/console/lexicon/add", data={"csrf": csrf, "term": "候选测试词",
                                                 "category": "A3.05", "level": "3"})  # fmt: skip
        assert f'<option value="{dead}">' in alice.get("/console/draft").text
        bad = alice.post("/console/shadow/start", data={"csrf": csrf, "classifier": "models/other"})
        assert bad.status_code == 400 and "未配置这个候选分类器" in bad.text
        run = alice.post("/console/shadow/start", data={"csrf": csrf, "checks": "1",
                                                        "classifier": dead})  # fmt: skip
        assert run.status_code == 303
        assert chat(g, "今天天气不错")[0] == "stop"
        page = wait_for(lambda: (p := alice.get(run.headers["location"]).text)
                        and 'data-state="done"' in p and p, what="the run")  # fmt: skip
        assert dead in page
        examples = re.search(r'id="examples-newly_blocked">(.*?)</table>', page, re.S)
        assert examples is not None and "<code>X2</code>" in examples.group(1)
    finally:
        g.stop()
