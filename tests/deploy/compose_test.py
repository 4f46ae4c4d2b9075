"""The compose stack, the Dockerfiles and the deploy scripts (static checks).

deploy/check.sh runs the schema validators and linters; these tests hold the structure
that the rest of the project relies on.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.support.deploy import (
    DEPLOY,
    ROOT,
    graceful_shutdown_seconds,
    load_yaml,
    settings_env_names,
)


def _compose() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(DEPLOY / "compose.yaml")
    return doc


def test_compose_runs_the_whole_set() -> None:
    assert {"gateway", "redis", "postgres", "prometheus", "grafana"} <= set(_compose()["services"])


def test_compose_gateway_uses_shared_state_and_real_settings() -> None:
    gateway = _compose()["services"]["gateway"]
    env = gateway["environment"]
    assert env["GATEWAY_REDIS_URL"].startswith("redis://redis:")
    assert env["GATEWAY_AUDIT_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["GATEWAY_AUDIT_URL"]
    assert set(env) <= settings_env_names()
    assert gateway["read_only"] is True and gateway["user"] == "10001:10001"
    assert set(gateway["depends_on"]) == {"redis", "postgres"}


def test_compose_stop_grace_covers_the_gateway_drain() -> None:
    grace = _compose()["services"]["gateway"]["stop_grace_period"]
    assert re.fullmatch(r"\d+s", grace)
    assert int(grace[:-1]) >= graceful_shutdown_seconds() + 5


def test_compose_bind_mounts_exist() -> None:
    for name, service in _compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


def test_prometheus_and_grafana_get_rules_dashboard_and_datasource() -> None:
    services = _compose()["services"]
    prom = " ".join(services["prometheus"]["volumes"])
    assert "./prometheus/alerts.yaml:/etc/prometheus/alerts.yaml" in prom
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml" in prom
    graf = " ".join(services["grafana"]["volumes"])
    assert "./grafana/provisioning:/etc/grafana/provisioning" in graf
    assert "./grafana/dashboards:/var/lib/grafana/dashboards" in graf
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "gateway.yaml")
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    datasource = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"


def _instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = (DEPLOY / name).read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_images_run_the_gateway_as_non_root_with_a_healthcheck(name: str) -> None:
    steps = _instructions(name)
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    ops = dict(final)
    assert ops["USER"] == "10001:10001"
    assert "/healthz" in ops["HEALTHCHECK"]
    assert ops["EXPOSE"] == "8080"
    assert ops["CMD"] == '["gateway", "serve", "--host", "0.0.0.0", "--port", "8080"]'
    assert "GATEWAY_POLICY=/app/policies/default.yaml" in ops["ENV"]
    installs = " ".join(arg for op, arg in steps if op == "RUN")
    assert '".[models]"' in installs


def test_cpu_image_takes_torch_from_the_cpu_index() -> None:
    steps = _instructions("Dockerfile")
    assert next(arg for op, arg in steps if op == "FROM").startswith("python:3.11-slim")
    runs = " ".join(arg for op, arg in steps if op == "RUN")
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs


def test_cuda_image_uses_a_cuda_runtime_base_and_gpu_torch() -> None:
    steps = _instructions("Dockerfile.cuda")
    assert next(arg for op, arg in steps if op == "FROM").startswith("nvidia/cuda:")
    assert "-runtime-" in next(arg for op, arg in steps if op == "FROM")
    args = " ".join(arg for op, arg in steps if op == "ARG")
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cu" in args


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_image_copies_only_paths_that_exist(name: str) -> None:
    for op, arg in _instructions(name):
        if op != "COPY" or arg.startswith("--from"):
            continue
        for source in arg.split()[:-1]:
            # README.md is the project README (pyproject's readme); owned outside deploy/.
            if source != "README.md":
                assert (ROOT / source).exists(), f"{name}: COPY {source}"


@pytest.mark.parametrize("script", ["check.sh", "k8s/policies.sh"])
def test_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(DEPLOY / script)], check=True)
