"""audit.review_text: records a person must look at (blocks, reviews) keep their text,
redacted by default, while every other record keeps only what audit.text says."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit import AuditStore, AuditWriter, TextRetention
from gateway.audit.recorder import AuditRecorder
from gateway.audit.recording import RequestInfo
from gateway.audit.review_text import text_mode_for
from gateway.decision import Action, Decision, Direction
from gateway.policy.loader import parse_policy
from tests.support import audit as fx

audit_url, store = fx.audit_url, fx.store
TEXT = "网络赌博到底违法吗，我的电话 13812345678"


def _decision(action: Action, rid: str) -> Decision:
    return Decision(id=rid, direction=Direction.INPUT, action=action, categories=("A1.08",))


@pytest.mark.parametrize(
    ("action", "mode", "review_text", "kept"),
    [
        (Action.REVIEW, TextRetention.HASH, "redacted", TextRetention.REDACTED),
        (Action.BLOCK, TextRetention.HASH, "full", TextRetention.FULL),
        (Action.ALLOW, TextRetention.HASH, "full", TextRetention.HASH),
        (Action.FLAG, TextRetention.NONE, "redacted", TextRetention.NONE),
        (Action.REVIEW, TextRetention.FULL, "redacted", TextRetention.FULL),  # never less
        (Action.BLOCK, TextRetention.HASH, "none", TextRetention.HASH),
    ],
)
def test_text_mode_for(action: Action, mode: TextRetention, review_text: str,
                       kept: TextRetention) -> None:  # fmt: skip
    assert text_mode_for(_decision(action, "d"), mode, review_text) is kept


def test_the_policy_default_is_redacted() -> None:
    assert parse_policy("name: x\n", "p").audit.review_text == "redacted"


async def test_review_items_keep_redacted_text_under_a_hash_policy(
    store: AuditStore, tmp_path: Path
) -> None:
    writer = AuditWriter(store, keys=fx.KEYS, spool_dir=tmp_path)
    await writer.start()
    recorder = AuditRecorder(writer, pseudonym_key="k", text_mode="hash",
                             review_text=lambda info: "redacted")  # fmt: skip
    info = RequestInfo(route="/v1/chat/completions", request_id="r1")
    await recorder.record(_decision(Action.REVIEW, "d-review"), info, [TEXT])
    await recorder.record(_decision(Action.ALLOW, "d-allow"), info, [TEXT])
    await writer.close()
    review, allow = await store.get("d-review"), await store.get("d-allow")
    assert review is not None and allow is not None
    assert review.text_mode == "redacted" and review.text == "网络赌博到底违法吗，我的电话 [phone]"
    assert allow.text_mode == "hash" and "网络赌博" not in (allow.text or "")
