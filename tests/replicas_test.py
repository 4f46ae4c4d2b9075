"""Two real gateway processes sharing Redis and PostgreSQL behave as one service."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import openai
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from loadtest import procs
from tests.conftest import ROOT
from tests.support.paths import TEST_POLICIES

PG = "postgresql://postgres@127.0.0.1:5432/test"


def _metric(base: str, name: str) -> float:
    text = httpx.get(base.removesuffix("/v1") + "/metrics", timeout=10).text
    return sum(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    )


def _flagged(base: str, text: str) -> bool:
    r = httpx.post(base + "/moderations", json={"input": text}, timeout=10)
    return bool(r.json()["results"][0]["flagged"])


def test_two_processes_share_policy_cache_and_log(tmp_path: Path) -> None:
    from models.tiny import build_encoder

    model = build_encoder(tmp_path / "model", labels=("safe", "A5.01"))  # scores decide nothing
    schema = f"replicas_{uuid.uuid4().hex[:8]}"
    audit_url = f"{PG}?schema={schema}"
    dirs = []
    for name in ("a", "b"):
        shutil.copytree(TEST_POLICIES, tmp_path / name)
        dirs.append(tmp_path / name / "policy.yaml")
    common = {
        "GATEWAY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "GATEWAY_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "GATEWAY_AUDIT_URL": audit_url,
        "GATEWAY_CLASSIFIER": str(model),
        "GATEWAY_CLASSIFIER_DEVICE": "cpu",
        "GATEWAY_POLICY_RELOAD_INTERVAL": "0.2",
        "GATEWAY_AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }
    env_a = {**common, "GATEWAY_AUDIT_SPOOL_DIR": str(tmp_path / "sa"),
             "GATEWAY_POLICY_CACHE_DIR": str(tmp_path / "ca")}  # fmt: skip
    env_b = {**common, "GATEWAY_AUDIT_SPOOL_DIR": str(tmp_path / "sb"),
             "GATEWAY_POLICY_CACHE_DIR": str(tmp_path / "cb")}  # fmt: skip
    text = f"请介绍一下西湖的历史 {uuid.uuid4().hex}"
    term = f"词{uuid.uuid4().hex[:6]}"
    try:
        with procs.mock_upstream() as up, procs.gateway(up, dirs[0], **env_a) as a, \
                procs.gateway(up, dirs[1], **env_b) as b:  # fmt: skip
            # Verdict cache: what replica a computed, replica b reads from Redis.
            ca = openai.OpenAI(base_url=a, api_key="k", max_retries=0)
            cb = openai.OpenAI(base_url=b, api_key="k", max_retries=0)
            ca.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
            hits = _metric(b, "classifier_cache_hits_total")
            cb.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
            assert _metric(b, "classifier_cache_hits_total") > hits

            # A policy change on replica a reaches replica b within two seconds.
            assert not _flagged(b, term)
            p = dirs[0]
            p.write_text(p.read_text("utf-8").replace(
                'lexicon:\n', f'lexicon:\n  terms: ["{term}|A1.08|3"]\n', 1), "utf-8")  # fmt: skip
            started = time.monotonic()
            while not _flagged(b, term):
                assert time.monotonic() - started < 2.5, "replica b did not converge"
                time.sleep(0.05)
            assert time.monotonic() - started < 2.0
            ca.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            cb.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        # Both replicas' records are in one log, and it verifies.
        with psycopg.connect(PG) as conn:
            chains = conn.execute(
                f"SELECT count(DISTINCT chain_id), count(*) FROM {schema}.audit_records"
            ).fetchone()
        assert chains is not None and chains[0] == 2 and chains[1] >= 10
        verify = subprocess.run(
            [sys.executable, "-m", "gateway", "audit", "verify", "--audit-url", audit_url],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, "GATEWAY_AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints")},
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
