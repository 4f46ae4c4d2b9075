"""Hot reload: a valid change goes live, an invalid one is refused, replicas converge via Redis."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import httpx

from tests.conftest import Gateway
from tests.support.paths import TEST_LEXICON

BASE = 'lexicon: {files: ["lexicon/*.csv"], terms: ["%s"]}\n'


def _flagged(gw: Gateway, text: str) -> bool:
    with httpx.Client(timeout=10) as http:
        r = http.post(gw.v1 + "/moderations", json={"input": text})
    return bool(r.json()["results"][0]["flagged"])


def _wait(cond, seconds: float = 5.0) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if cond():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _policy_dir(tmp: Path, name: str, term: str) -> Path:
    d = tmp / name
    shutil.copytree(TEST_LEXICON, d / "lexicon")
    (d / "policy.yaml").write_text(BASE % term, "utf-8")
    return d / "policy.yaml"


def test_valid_change_goes_live_and_invalid_is_refused(gateway_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _policy_dir(tmp_path, "a", "旧词测试|A1.08|3")
    gw = gateway_factory(policy=path, policy_reload_interval=0.1)
    v1 = gw.http().get("/readyz").json()["policy"]["version"]
    assert _flagged(gw, "旧词测试") and not _flagged(gw, "新词测试")
    path.write_text(BASE % "新词测试|A1.08|3", "utf-8")
    _wait(lambda: _flagged(gw, "新词测试"))
    v2 = gw.http().get("/readyz").json()["policy"]["version"]
    assert v2 != v1
    path.write_text('lexicon: {files: ["lexicon/*.csv"]}\nfail_mode: maybe\n', "utf-8")
    _wait(lambda: "gateway_policy_reload_failures_total 1.0" in gw.http().get("/metrics").text)
    assert gw.http().get("/readyz").json()["policy"]["version"] == v2
    assert _flagged(gw, "新词测试")


def test_replicas_converge_through_redis_within_two_seconds(
    gateway_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    redis_url = "redis://127.0.0.1:6379/0"
    term = f"词{uuid.uuid4().hex[:6]}"
    p1 = _policy_dir(tmp_path, "r1", "起始词|A1.08|3")
    p2 = _policy_dir(tmp_path, "r2", "起始词|A1.08|3")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    g1 = gateway_factory(policy=p1, redis_url=redis_url, policy_reload_interval=0.2,
                         policy_cache_dir=tmp_path / "c1", redis_prefix=prefix)  # fmt: skip
    g2 = gateway_factory(policy=p2, redis_url=redis_url, policy_reload_interval=0.2,
                         policy_cache_dir=tmp_path / "c2", redis_prefix=prefix)  # fmt: skip
    assert not _flagged(g2, term)
    p1.write_text(BASE % f"{term}|A1.08|3", "utf-8")  # only replica 1's copy changes
    took = _wait(lambda: _flagged(g2, term), seconds=2.5)
    assert took < 2.0
    v1 = g1.http().get("/readyz").json()["policy"]["version"]
    v2 = g2.http().get("/readyz").json()["policy"]["version"]
    assert v1 == v2


def test_an_edit_to_a_tenant_only_term_file_goes_live(gateway_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A term file only a tenant's overrides name is part of the version: editing it is a
    new version, and that tenant's checks use it at once (it used to be ignored)."""
    from gateway.policy.compiled import hash_key

    d = tmp_path / "tenant"
    shutil.copytree(TEST_LEXICON, d / "lexicon")
    (d / "acme").mkdir()
    tenant_terms = d / "acme" / "terms.csv"
    tenant_terms.write_text("term,category,level\n甲方旧词,A1.08,3\n", "utf-8")
    key = "gw-acme-key-0123456789abcdef0123456789"
    policy = d / "policy.yaml"
    policy.write_text(
        'lexicon: {files: ["lexicon/*.csv"]}\n'
        "tenants:\n"
        f"  acme:\n    api_keys_sha256: [{hash_key(key)}]\n"
        '    overrides: {lexicon: {files: ["lexicon/*.csv", "acme/terms.csv"]}}\n',
        "utf-8",
    )
    gw = gateway_factory(policy=policy, policy_reload_interval=0.1)

    def flagged(text: str) -> bool:
        with httpx.Client(timeout=10) as http:
            r = http.post(gw.v1 + "/moderations", json={"input": text},
                          headers={"authorization": f"Bearer {key}"})  # fmt: skip
        return bool(r.json()["results"][0]["flagged"])

    v1 = gw.http().get("/readyz").json()["policy"]["version"]
    assert flagged("甲方旧词") and not flagged("甲方新词")
    tenant_terms.write_text("term,category,level\n甲方新词,A1.08,3\n", "utf-8")
    _wait(lambda: flagged("甲方新词"))
    assert gw.http().get("/readyz").json()["policy"]["version"] != v1
    assert not flagged("甲方旧词")
