"""Run ``gateway serve`` the way the Kubernetes pod runs it, and check what deploy/ assumes.

The process gets the pod's environment (ConfigMap + env of deploy/k8s/base), with the
mount points moved under a temporary root: the policy ConfigMaps laid out as kubelet
mounts them (top-level files in one directory, ``lexicon/`` from the second ConfigMap), the
spool on its own directory. Then: the probes answer on the paths the manifests use, the
policy and lexicon load from the mounted layout, /metrics exposes only metrics that
gateway/metrics.py declares, and SIGTERM drains an open stream before the process exits
(the basis of terminationGracePeriodSeconds).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.tools.metric_names import gateway_wire_names
from loadtest.mock_upstream import MockUpstream
from tests.support.deploy import ROOT, find, graceful_shutdown_seconds, k8s_objects
from tests.support.servers import ServerThread, free_port


@dataclass
class Pod:
    process: subprocess.Popen[bytes]
    url: str
    root: Path


def _pod_env(root: Path, upstream: str) -> dict[str, str]:
    """The gateway container's GATEWAY_* environment, mount paths moved under ``root``."""
    deployment = find(k8s_objects(), "Deployment", "gateway")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = dict(find(k8s_objects(), "ConfigMap", "gateway-config")["data"])
    env |= {
        e["name"]: "secret-value-for-the-runtime-test-0123456789"
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    env["GATEWAY_AUDIT_URL"] = f"sqlite:///{root}/var/gateway/audit.db"  # no PostgreSQL URL here
    env["GATEWAY_UPSTREAM_URL"] = upstream
    env.pop("GATEWAY_REDIS_URL")  # the pod's cluster DNS name does not resolve here
    return {
        k: v.replace("/etc/gateway", f"{root}/etc/gateway").replace(
            "/var/gateway", f"{root}/var/gateway"
        )
        for k, v in env.items()
    }


def _mount_policies(root: Path) -> Path:
    """Lay out policies/ as the two ConfigMaps of deploy/k8s/policies.sh are mounted."""
    target = root / "etc" / "gateway" / "policies"
    target.mkdir(parents=True)
    for f in (ROOT / "policies").iterdir():
        if f.is_file():  # `kubectl create configmap --from-file=DIR` takes regular files only
            shutil.copy(f, target / f.name)
    shutil.copytree(ROOT / "policies" / "lexicon", target / "lexicon")
    (root / "var" / "gateway" / "spool").mkdir(parents=True)
    return target


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ServerThread(MockUpstream(token_delay_ms=0.0)).start()
    yield server.url + "/v1"
    server.stop()


@pytest.fixture
def pod(tmp_path: Path, upstream: str) -> Iterator[Pod]:
    _mount_policies(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= _pod_env(tmp_path, upstream)
    deployment = find(k8s_objects(), "Deployment", "gateway")
    command = deployment["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["gateway", "serve"]
    args = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
    # A file, not a pipe: an unread pipe fills up and blocks the server's logging.
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            err = (tmp_path / "gateway.log").read_text("utf-8", "replace")
            raise AssertionError(f"gateway did not come up (rc {process.returncode}):\n{err}")
        time.sleep(0.1)
    yield Pod(process, url, tmp_path)
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def test_probes_answer_and_the_policy_loads_from_the_configmap_layout(pod: Pod) -> None:
    assert httpx.get(pod.url + "/healthz").status_code == 200
    ready = httpx.get(pod.url + "/readyz")
    assert ready.status_code == 200
    policy = ready.json()["policy"]
    assert policy["path"] == str(pod.root / "etc/gateway/policies/default.yaml")
    assert policy["terms"] > 0, "lexicon/ from the second ConfigMap was not loaded"


def test_metrics_endpoint_exposes_only_declared_metrics(pod: Pod) -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "你好"}]}
    assert httpx.post(pod.url + "/v1/chat/completions", json=chat, timeout=10).status_code == 200
    text = httpx.get(pod.url + "/metrics").text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    ours = {s.name for s in samples if s.name.startswith(("gateway_", "classifier_"))}
    assert ours - gateway_wire_names() == set(), "series the dashboard check does not know"
    assert {"gateway_requests_total", "gateway_decisions_total", "gateway_policy_info"} <= ours
    routes = {s.labels.get("route") for s in samples if s.name == "gateway_requests_total"}
    assert "chat_completions" in routes


def test_sigterm_drains_an_open_stream_then_exits(pod: Pod) -> None:
    # A stream of 40 chunks, 50 ms apart: about 2 s, still running when SIGTERM arrives.
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}],
            "mock_chunks": [f"段落{i} " for i in range(40)], "mock_delay_ms": 50}  # fmt: skip
    received: list[str] = []
    errors: list[BaseException] = []
    first_chunk = threading.Event()

    def consume() -> None:
        try:
            with httpx.stream("POST", pod.url + "/v1/chat/completions", json=body, timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        received.append(line[6:])
                        first_chunk.set()
        except BaseException as e:  # reported by the test thread below
            errors.append(e)
            first_chunk.set()

    reader = threading.Thread(target=consume)
    reader.start()
    assert first_chunk.wait(30), "the stream did not start"
    assert not errors, errors
    sent = time.monotonic()
    pod.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.TransportError):  # no new connections while draining
        httpx.get(pod.url + "/healthz", timeout=1)
    reader.join(timeout=30)
    assert not errors, errors
    stream_done = time.monotonic() - sent
    rc = pod.process.wait(timeout=graceful_shutdown_seconds() + 10)
    exited = time.monotonic() - sent
    assert received[-1] == "[DONE]", "the open stream was cut instead of drained"
    text = "".join(
        c["delta"].get("content") or ""
        for chunk in received[:-1]
        for c in json.loads(chunk).get("choices", [])
    )
    assert "段落39" in text
    assert rc == 0  # a clean drain is a clean exit, as documented
    # The pod's grace period must cover the drain with room to spare.
    assert exited < graceful_shutdown_seconds()
    print(f"\nSIGTERM -> stream finished {stream_done:.2f} s, process exited {exited:.2f} s")
