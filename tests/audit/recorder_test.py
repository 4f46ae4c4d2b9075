"""AuditRecorder: the gateway's Recorder seam, end to end into a real store."""

from __future__ import annotations

import io
from pathlib import Path

from gateway.audit import AuditStore, AuditWriter, RecordFilter, TextRetention, pseudonymize
from gateway.audit.export import export
from gateway.audit.keys import TEXT_LABEL, derive, text_hash
from gateway.audit.recorder import AuditRecorder
from gateway.audit.recording import Ending, Recorder, RequestInfo
from gateway.decision import Action, Decision, Direction, Reason
from tests.support import audit as fx

audit_url, store = fx.audit_url, fx.store
API_KEY = "sk-live-ABCDEFGHIJKLMNOPQRSTUVWX"


async def test_recorder_writes_minimised_records(store: AuditStore, tmp_path: Path) -> None:
    writer = AuditWriter(store, keys=fx.KEYS, spool_dir=tmp_path)
    await writer.start()
    modes = {"acme": TextRetention.FULL, "beta": TextRetention.NONE}
    recorder: Recorder = AuditRecorder(
        writer, pseudonym_key="k", text_mode=lambda info: modes.get(info.tenant, "hash")
    )
    block = Decision(
        id="d-out", direction=Direction.OUTPUT, action=Action.BLOCK, categories=("A1.04",),
        reasons=(Reason("keyword", "A1.04", "炸药", Action.BLOCK),), policy_version="pv",
    )  # fmt: skip
    info = RequestInfo(route="/v1/chat/completions", request_id="r1", tenant="acme", user="alice",
                       model="qwen", timings_ms={"output": 1.5})  # fmt: skip
    await recorder.record(block, info, ["part one", f"my key is {API_KEY}"], incident=True,
                          ending=Ending.BLOCKED)  # fmt: skip
    allow = Decision(id="d-in", direction=Direction.INPUT, action=Action.ALLOW)
    await recorder.record(
        allow, RequestInfo(route="/v1/moderations", request_id="r2", tenant="beta"), ["hi"]
    )
    await recorder.record(
        Decision(id="d-h", direction=Direction.OUTPUT, action=Action.ALLOW),
        RequestInfo(route="/v1/completions", request_id="r3", tenant="other", user="bob"), ["x"],
        ending=Ending.CLIENT_GONE,
    )  # fmt: skip
    await writer.close()

    out = await store.get("d-out")
    assert out is not None and out.incident and out.stage == "stream" and out.ending == "blocked"
    assert (
        out.user == pseudonymize("alice", "k")
        and out.tenant == "acme"
        and out.model_version == "qwen"
    )
    assert out.matched_terms == ("炸药",) and out.latency_ms == {"output": 1.5}
    assert (
        out.text is not None
        and out.text.startswith("part one\nmy key is ")
        and API_KEY not in out.text
    )
    inp = await store.get("d-in")
    assert inp is not None and inp.text is None and inp.user is None and inp.stage == "request"
    assert inp.ending == ""
    hashed = await store.get("d-h")
    assert hashed is not None and hashed.text_mode == "hash" and hashed.stage == "response"
    assert hashed.text == text_hash("x", derive("k", TEXT_LABEL))  # keyed, not a bare SHA-256
    assert hashed.ending == "client_disconnected"
    assert not hashed.incident

    dump = io.BytesIO()
    await export(store, RecordFilter(), "jsonl", dump)
    for secret in (API_KEY, "alice", "bob"):
        assert secret.encode() not in dump.getvalue()
