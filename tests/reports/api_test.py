"""``POST /v1/reports`` and ``GET /v1/reports/{id}`` through the real OpenAI SDK against a
real gateway: bad input, merging, rate limits, tenant isolation, and the decision log
being the only way a decision id is trusted."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from gateway.policy.compiled import hash_key
from tests.conftest import Gateway, GatewayFactory
from tests.support.paths import TEST_POLICY

KEY_A = "gw-reports-tenant-a-" + "a" * 20
KEY_B = "gw-reports-tenant-b-" + "b" * 20


def _client(gw: Gateway, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=key, max_retries=0)


def _answer(client: openai.OpenAI, reply: str = "今天天气很好") -> str:
    """One chat exchange; the decision id the gateway hands back with the answer."""
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "讲个笑话"}],
        extra_body={"mock_reply": reply},
    )  # fmt: skip
    return str(raw.headers["x-gateway-decision-id"])


def _report(client: openai.OpenAI, **body: Any) -> dict[str, Any]:
    out: dict[str, Any] = client.post("/reports", body=body, cast_to=object)  # type: ignore[arg-type]
    return out


def _lookup(client: openai.OpenAI, report_id: str, token: str) -> dict[str, Any]:
    out: dict[str, Any] = client.get(
        f"/reports/{report_id}",
        cast_to=object,
        options={"params": {"token": token}},  # type: ignore[arg-type]
    )
    return out


@pytest.fixture(scope="module")
def gw(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory()


def test_report_names_a_decision_and_gets_a_ticket_with_the_time_limit(gw: Gateway) -> None:
    client = _client(gw)
    decision = _answer(client)
    filed = _report(client, decision_id=decision, reason="false_information",
                    detail="这条回答是编造的", contact="reporter@example.com", user="u-1")  # fmt: skip
    assert filed["object"] == "report" and filed["id"].startswith("rpt_")
    assert filed["status"] == "open" and filed["merged"] is False
    assert filed["categories"] == ["A1.07"]
    assert filed["response_hours"] == 72  # the test policy's general limit
    assert filed["due"] - filed["created"] == 72 * 3600
    assert filed["process_url"].endswith("/report/process")
    seen = _lookup(client, filed["id"], filed["token"])
    assert seen["status"] == "open" and seen["answer"] is None and seen["overdue"] is False
    # The reporter's view never carries the reported text or the contact.
    assert "text" not in seen and "contact" not in seen


def test_urgent_reason_has_the_shorter_published_limit(gw: Gateway) -> None:
    client = _client(gw)
    filed = _report(client, decision_id=_answer(client), reason="terrorism")
    assert filed["response_hours"] == 24 and filed["due"] - filed["created"] == 24 * 3600


@pytest.mark.parametrize(
    ("body", "param", "code", "message"),
    [
        ({"reason": "terrorism"}, "decision_id", "invalid_request", "paste it as 'text'"),
        ({"text": "x"}, "reason", "invalid_request", "Missing required parameter: 'reason'"),
        ({"text": "x", "reason": "spam"}, "reason", "invalid_request", "must be one of"),
        ({"text": "x", "reason": "other"}, "detail", "invalid_request", "'detail'"),
        ({"text": "x", "reason": "other", "detail": "d", "colour": "red"}, "colour",
         "invalid_request", "Unrecognized request argument supplied: colour"),
        ({"text": 5, "reason": "terrorism"}, "text", "invalid_request", "must be a string"),
        ({"text": "x" * 5001, "reason": "terrorism"}, "text", "invalid_request", "longer than 5000"),
        ({"decision_id": "dec_<script>", "reason": "terrorism"}, "decision_id",
         "invalid_request", "not a decision id"),
        ({"decision_id": "dec_" + "0" * 32, "reason": "terrorism"}, "decision_id",
         "decision_not_found", "No decision"),
        ({"text": "x", "reason": "terrorism", "lang": "fr"}, "lang", "invalid_request", "'lang'"),
        ({"text": "x", "reason": "terrorism", "contact": "c" * 201}, "contact",
         "invalid_request", "longer than 200"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400_naming_the_field(
    gw: Gateway, body: dict[str, Any], param: str, code: str, message: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        _report(_client(gw), **body)
    assert info.value.status_code == 400
    assert info.value.param == param and info.value.code == code
    assert message in info.value.message


def test_malformed_bodies_are_400s(gw: Gateway) -> None:
    with gw.http() as http:
        for content in (b"", b"{not json", b"[1, 2]", "\xff".encode("latin-1")):
            resp = http.post("/v1/reports", content=content,
                             headers={"content-type": "application/json"})  # fmt: skip
            assert resp.status_code == 400, content
            assert resp.json()["error"]["type"] == "invalid_request_error"
        big = http.post("/v1/reports", content=b"{" + b" " * 70_000 + b"}")
        assert big.status_code == 413


def test_repeated_reports_of_one_decision_merge_into_one_ticket(gw: Gateway) -> None:
    client = _client(gw)
    decision = _answer(client)
    first = _report(client, decision_id=decision, reason="false_information")
    # The answer's own id (as in a blocked answer's moderation object) is the same content.
    second = _report(client, decision_id=decision + "-out", reason="terrorism", user="u-2")
    assert second["id"] == first["id"] and second["merged"] is True
    assert second["token"] != first["token"]
    assert second["categories"] == ["A1.07", "A1.04"]
    assert second["due"] < first["due"]  # the urgent reason tightened the deadline
    for token in (first["token"], second["token"]):  # each reporter keeps a working token
        assert _lookup(client, first["id"], token)["id"] == first["id"]
    other = _report(client, decision_id=_answer(client), reason="false_information")
    assert other["id"] != first["id"]


def test_pasted_text_merges_by_content(gw: Gateway) -> None:
    client = _client(gw)
    a = _report(client, text="一段  可疑的\n回答", reason="illegal_other")
    b = _report(client, text="一段 可疑的 回答", reason="illegal_other")
    assert b["id"] == a["id"] and b["merged"]


def test_lookup_needs_the_matching_token(gw: Gateway) -> None:
    client = _client(gw)
    filed = _report(client, text="需要令牌", reason="illegal_other")
    with pytest.raises(openai.NotFoundError):
        _lookup(client, filed["id"], "not-the-token")
    with pytest.raises(openai.NotFoundError):
        _lookup(client, "rpt_" + "0" * 24, filed["token"])
    with pytest.raises(openai.BadRequestError) as info:
        client.get(f"/reports/{filed['id']}", cast_to=object)  # type: ignore[arg-type]
    assert info.value.param == "token"
    with gw.http() as http:  # the token may also come as a header
        resp = http.get(f"/v1/reports/{filed['id']}", headers={"X-Report-Token": filed["token"]})
        assert resp.status_code == 200 and resp.json()["id"] == filed["id"]


def test_user_header_counts_as_the_reporting_user(gateway_factory: GatewayFactory,
                                                   write_policy: Any) -> None:  # fmt: skip
    policy = TEST_POLICY.read_text("utf-8").replace(
        "per_user: {count: 10, seconds: 3600}", "per_user: {count: 2, seconds: 3600}"
    )
    gw = gateway_factory(policy=write_policy(policy))
    client = _client(gw)
    as_user = {"headers": {"X-Gateway-User": "same-user"}}
    for i in range(2):
        client.post("/reports", body={"text": f"第{i}条", "reason": "illegal_other"},
                    cast_to=object, options=as_user)  # type: ignore[arg-type]  # fmt: skip
    with pytest.raises(openai.RateLimitError):
        client.post("/reports", body={"text": "第3条", "reason": "illegal_other"},
                    cast_to=object, options=as_user)  # type: ignore[arg-type]  # fmt: skip
    # Another user from the same address is still under the per-source limit.
    _report(client, text="另一位用户", reason="illegal_other", user="someone-else")


def test_rate_limit_per_user_and_per_source(gateway_factory: GatewayFactory,
                                            write_policy: Any) -> None:  # fmt: skip
    policy = (
        TEST_POLICY.read_text("utf-8")
        .replace("per_user: {count: 10, seconds: 3600}", "per_user: {count: 2, seconds: 3600}")
        .replace("per_source: {count: 600, seconds: 3600}", "per_source: {count: 4, seconds: 3600}")
    )
    gw = gateway_factory(policy=write_policy(policy))
    client = _client(gw)
    _report(client, text="一", reason="illegal_other", user="alice")
    _report(client, text="二", reason="illegal_other", user="alice")
    with gw.http() as http:
        refused = http.post("/v1/reports", json={"text": "三", "reason": "illegal_other",
                                                 "user": "alice"})  # fmt: skip
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 3000 < int(refused.headers["retry-after"]) <= 3600
    # Refused and malformed attempts count against the source as well, so the limits
    # cannot be probed for free: 3 from alice, 1 bad one from bob, and the source is spent.
    with pytest.raises(openai.BadRequestError):
        _report(client, text="四", reason="no-such-reason", user="bob")
    with pytest.raises(openai.RateLimitError):
        _report(client, text="五", reason="illegal_other", user="carol")


def test_rate_limit_is_shared_across_replicas_through_redis(
    gateway_factory: GatewayFactory, write_policy: Any
) -> None:
    import uuid

    policy = TEST_POLICY.read_text("utf-8").replace(
        "per_user: {count: 10, seconds: 3600}", "per_user: {count: 3, seconds: 3600}"
    )
    path = write_policy(policy)
    prefix = f"reports{uuid.uuid4().hex[:8]}"
    one = gateway_factory(policy=path, redis_url="redis://127.0.0.1:6379/0", redis_prefix=prefix)
    two = gateway_factory(policy=path, redis_url="redis://127.0.0.1:6379/0", redis_prefix=prefix)
    _report(_client(one), text="甲", reason="illegal_other", user="shared")
    _report(_client(two), text="乙", reason="illegal_other", user="shared")
    _report(_client(one), text="丙", reason="illegal_other", user="shared")
    with pytest.raises(openai.RateLimitError):
        _report(_client(two), text="丁", reason="illegal_other", user="shared")


def _tenant_policy() -> str:
    return (
        TEST_POLICY.read_text("utf-8")
        + f"""
tenants:
  acme:
    api_keys_sha256: ["{hash_key(KEY_A)}"]
  beta:
    api_keys_sha256: ["{hash_key(KEY_B)}"]
    overrides:
      reports:
        response_hours: 12
"""
    )


@pytest.fixture(scope="module")
def tenants(gateway_factory: GatewayFactory, tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    import shutil

    from tests.support.paths import TEST_LEXICON

    folder = tmp_path_factory.mktemp("reports-tenants")
    shutil.copytree(TEST_LEXICON, folder / "lexicon")
    (folder / "policy.yaml").write_text(_tenant_policy(), "utf-8")
    return gateway_factory(policy=folder / "policy.yaml")


def test_reports_need_a_tenant_key(tenants: Gateway) -> None:
    with pytest.raises(openai.AuthenticationError):
        _report(_client(tenants, "wrong-key"), text="x", reason="illegal_other")
    with httpx.Client(base_url=tenants.url) as http:
        assert (
            http.post("/v1/reports", json={"text": "x", "reason": "illegal_other"}).status_code
            == 401
        )


def test_a_tenant_never_reaches_another_tenants_decisions_or_tickets(tenants: Gateway) -> None:
    a, b = _client(tenants, KEY_A), _client(tenants, KEY_B)
    decision_a = _answer(a)
    # B cannot attach to A's decision: for B it does not exist.
    with pytest.raises(openai.BadRequestError) as info:
        _report(b, decision_id=decision_a, reason="false_information")
    assert info.value.code == "decision_not_found"
    filed = _report(a, decision_id=decision_a, reason="false_information")
    # B holding A's ticket id and token still sees nothing.
    with pytest.raises(openai.NotFoundError):
        _lookup(b, filed["id"], filed["token"])
    assert _lookup(a, filed["id"], filed["token"])["id"] == filed["id"]
    # The same pasted text filed by both tenants makes two tickets, never a merged one.
    ta = _report(a, text="两家都举报的文本", reason="illegal_other")
    tb = _report(b, text="两家都举报的文本", reason="illegal_other")
    assert ta["id"] != tb["id"] and not tb["merged"]
    assert tb["response_hours"] == 12  # B's own policy override


def test_decision_log_off_accepts_pasted_text_only(gateway_factory: GatewayFactory,
                                                   tmp_path: Any) -> None:  # fmt: skip
    gw = gateway_factory(audit_url="none", reports_url=f"sqlite:///{tmp_path}/reports.db")
    client = _client(gw)
    with pytest.raises(openai.BadRequestError) as info:
        _report(client, decision_id="dec_" + "1" * 32, reason="terrorism")
    assert "keeps no decision log" in info.value.message
    filed = _report(client, decision_id="dec_" + "1" * 32, text="粘贴的回答", reason="terrorism")
    assert filed["status"] == "open"


def test_reports_off_answers_404(gateway_factory: GatewayFactory) -> None:
    gw = gateway_factory(reports_url="none")
    with pytest.raises(openai.NotFoundError) as info:
        _report(_client(gw), text="x", reason="illegal_other")
    assert "not enabled" in info.value.message
    with gw.http() as http:
        assert http.get("/report").status_code == 404
        assert http.get("/report/process").status_code == 404
