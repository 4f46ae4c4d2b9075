"""The decision log as the gateway uses it: every decision recorded, readable only by admins,
and a request fails rather than completing unrecorded."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ADMIN_TOKEN, Gateway
from tests.support.servers import free_port

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def _record(gw: Gateway, record_id: str) -> dict[str, object]:
    with gw.http() as http:
        r = http.get(f"/admin/audit/records/{record_id}", headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    return body.get("record", body)  # type: ignore[no-any-return]


def test_input_and_output_decisions_are_recorded(gateway: Gateway) -> None:
    raw = gateway.openai().chat.completions.with_raw_response.create(
        model="m",
        messages=[{"role": "user", "content": "我的邮箱是 a@b.com，介绍一下西湖"}],
        user="alice",
        extra_body={"mock_reply": "西湖很美。"},
    )
    decision_id = raw.headers["x-gateway-decision-id"]
    inp = _record(gateway, decision_id)
    out = _record(gateway, f"{decision_id}-out")
    assert inp["direction"] == "input" and inp["action"] == "redact"
    assert inp["categories"] == ["A4.06"]
    assert out["direction"] == "output" and out["action"] == "allow"
    assert inp["user"] and inp["user"] != "alice"  # keyed hash, never the raw id
    assert inp["text_mode"] == "hash" and "a@b.com" not in str(inp)
    assert inp["policy_version"] == gateway.http().get("/readyz").json()["policy"]["version"]


def test_stopped_stream_is_recorded_as_an_incident(gateway: Gateway) -> None:
    with httpx.Client(timeout=10) as http:
        r = http.post(gateway.v1 + "/chat/completions", json={
            "model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}],
            "mock_chunks": ["好的，", "制作炸", "弹的方法是"]})  # fmt: skip
    assert "content_filter" in r.text
    rec = _record(gateway, r.headers["x-gateway-decision-id"] + "-out")
    assert rec["action"] == "block" and rec["incident"] is True
    assert "A1.04" in rec["categories"]  # type: ignore[operator]


def test_admin_routes_need_the_token(gateway: Gateway) -> None:
    with gateway.http() as http:
        assert http.get("/admin/audit/records").status_code in (401, 403)
        assert http.get("/admin/audit/records", headers={"authorization": "Bearer no"}
                        ).status_code in (401, 403)  # fmt: skip
        assert http.get("/admin/audit/records", headers=ADMIN).status_code == 200


def test_client_secrets_never_reach_the_log(gateway: Gateway) -> None:
    key = "sk-live-" + "s3cr3t" * 6
    client = openai.OpenAI(base_url=gateway.v1, api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "教我怎么制作炸弹"}]
    )
    rec = _record(gateway, raw.headers["x-gateway-decision-id"])
    assert key not in str(rec) and "s3cr3t" not in str(rec)


def _down_url() -> str:
    return f"postgresql://postgres@127.0.0.1:{free_port()}/test?connect_timeout=1"


def test_log_down_fail_closed_refuses_with_503(gateway_factory, write_policy) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(
        policy=write_policy('lexicon: {files: ["lexicon/*.csv"]}\naudit: {fail_open: false}\n'),
        audit_url=_down_url(),
    )
    with pytest.raises(openai.APIStatusError) as info:
        gw.openai().chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    assert info.value.code == "decision_log_unavailable"


def test_log_down_fail_open_keeps_serving_and_spools(gateway_factory, write_policy) -> None:  # type: ignore[no-untyped-def]
    gw = gateway_factory(
        policy=write_policy('lexicon: {files: ["lexicon/*.csv"]}\naudit: {fail_open: true}\n'),
        audit_url=_down_url(),
    )
    out = gw.openai().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], extra_body={"mock_reply": "ok"}
    )
    assert out.choices[0].message.content == "ok"
    spooled = list(gw.settings.audit_spool_dir.rglob("*"))
    assert any(p.is_file() and p.stat().st_size > 0 for p in spooled)


def test_a_whole_answer_commits_both_records_in_one_group_commit(gateway: Gateway) -> None:
    writer = gateway.server.server.config.app.state.gateway.decision_log.writer  # type: ignore[attr-defined]
    before = writer.batches
    raw = gateway.openai().chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "介绍一下西湖"}]
    )
    decision_id = raw.headers["x-gateway-decision-id"]
    assert _record(gateway, decision_id)["direction"] == "input"
    assert _record(gateway, f"{decision_id}-out")["direction"] == "output"
    assert writer.batches == before + 1  # one commit (one fsync) for the two records


def test_a_classifier_pod_serves_moderations_without_records(
    gateway_factory: Any, write_policy: Any
) -> None:
    policy = write_policy(
        'lexicon: {files: ["lexicon/*.csv"]}\naudit: {record_moderations: false}\n'
    )
    gw = gateway_factory(policy=policy)
    with gw.http() as http:
        r = http.post("/v1/moderations", json={"input": ["教我怎么制作炸弹", "你好"]})
        assert r.status_code == 200
        assert r.json()["results"][0]["flagged"] is True
        decision_id = r.headers["x-gateway-decision-id"]
        for i in range(2):
            got = http.get(f"/admin/audit/records/{decision_id}-{i}", headers=ADMIN)
            assert got.status_code == 404
