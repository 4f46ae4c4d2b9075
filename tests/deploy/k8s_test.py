"""Kubernetes manifests: probes, security, shutdown, secrets, scaling, selectors."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from models.remote import RemoteClassifier
from tests.support.deploy import (
    K8S,
    ROOT,
    find,
    graceful_shutdown_seconds,
    k8s_objects,
    load_docs,
    load_yaml,
    settings_env_names,
)

DEPLOYMENTS = [("gateway", "gateway"), ("classifier", "classifier")]  # (deployment, container)
SECRET_KEYS = {
    "GATEWAY_UPSTREAM_API_KEY": "upstream-api-key",
    "GATEWAY_ADMIN_TOKEN": "admin-token",
    "GATEWAY_PSEUDONYM_KEY": "pseudonym-key",
    "GATEWAY_AUDIT_URL": "database-url",
}


def _pod(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = find(k8s_objects(), "Deployment", name)["spec"]["template"]["spec"]
    return spec


def _container(deployment: str, container: str) -> dict[str, Any]:
    (found,) = [c for c in _pod(deployment)["containers"] if c["name"] == container]
    return dict(found)


def _mounts(deployment: str, container: str) -> dict[str, str]:
    """mountPath -> volume kind (emptyDir, configMap ...)."""
    volumes = {v["name"]: next(k for k in v if k != "name") for v in _pod(deployment)["volumes"]}
    return {
        m["mountPath"]: volumes[m["name"]]
        for m in _container(deployment, container)["volumeMounts"]
    }


@pytest.mark.parametrize(("deployment", "container"), DEPLOYMENTS)
def test_probes_point_at_health_and_readiness(deployment: str, container: str) -> None:
    c = _container(deployment, container)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8080}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize(("deployment", "container"), DEPLOYMENTS)
def test_pods_run_non_root_with_a_read_only_root(deployment: str, container: str) -> None:
    pod = _pod(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the uid the images create
    assert pod["automountServiceAccountToken"] is False
    sc = _container(deployment, container)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = _mounts(deployment, container)
    assert mounts["/tmp"] == "emptyDir"
    assert mounts["/var/gateway"] == "emptyDir"


@pytest.mark.parametrize(("deployment", "container"), DEPLOYMENTS)
def test_writable_paths_the_gateway_uses_are_mounted(deployment: str, container: str) -> None:
    env = _env(deployment, container)
    spool = env["GATEWAY_AUDIT_SPOOL_DIR"]
    assert spool.startswith("/var/gateway/"), "the spool must live on the emptyDir"
    policy = env["GATEWAY_POLICY"]
    mounts = _mounts(deployment, container)
    assert mounts["/etc/gateway/policies"] == "configMap" and policy.startswith(
        "/etc/gateway/policies/"
    )
    assert mounts["/etc/gateway/policies/lexicon"] == "configMap"


def _env(deployment: str, container: str) -> dict[str, str]:
    """Plain env values, with the ConfigMap's values for envFrom; secret refs as 'secret:KEY'."""
    c = _container(deployment, container)
    values: dict[str, str] = {}
    for source in c.get("envFrom", []):
        values |= find(k8s_objects(), "ConfigMap", source["configMapRef"]["name"])["data"]
    for item in c.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        values[item["name"]] = f"secret:{ref['key']}" if ref else str(item.get("value", ""))
    return values


@pytest.mark.parametrize(("deployment", "container"), DEPLOYMENTS)
def test_grace_period_covers_prestop_and_the_gateway_drain(deployment: str, container: str) -> None:
    c = _container(deployment, container)
    command = c["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    budget = int(command[1]) + graceful_shutdown_seconds() + 5  # 5 s for the process to exit
    assert _pod(deployment)["terminationGracePeriodSeconds"] >= budget


@pytest.mark.parametrize(("deployment", "container"), DEPLOYMENTS)
def test_every_container_has_requests_and_limits(deployment: str, container: str) -> None:
    resources = _container(deployment, container)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[kind]), kind


def test_gpu_classifier_asks_for_a_gpu_and_runs_on_cuda() -> None:
    c = _container("classifier", "classifier")
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    env = _env("classifier", "classifier")
    assert env["GATEWAY_CLASSIFIER_DEVICE"] == "cuda"
    assert not env["GATEWAY_CLASSIFIER"].startswith("http"), "the GPU pod runs the model itself"


def test_secrets_come_from_secret_refs_that_the_example_defines() -> None:
    env = _env("gateway", "gateway")
    for variable, key in SECRET_KEYS.items():
        assert env[variable] == f"secret:{key}", variable
    (example,) = load_docs(K8S / "secret.example.yaml")
    assert set(example["stringData"]) == set(SECRET_KEYS.values())
    assert all("REPLACE-ME" in v for v in example["stringData"].values()), "no real secrets"
    names = {o["kind"] for o in k8s_objects()}
    assert "Secret" not in names, "kustomize must not ship a Secret"


@pytest.mark.parametrize(("deployment", "container"), DEPLOYMENTS)
def test_gateway_variables_are_real_settings(deployment: str, container: str) -> None:
    unknown = {
        v for v in _env(deployment, container) if v.startswith("GATEWAY_")
    } - settings_env_names()
    assert unknown == set()


def test_gpu_component_points_gateway_pods_at_the_classifier_service() -> None:
    component = load_yaml(K8S / "classifier" / "kustomization.yaml")
    (patch,) = yaml.safe_load(component["patches"][0]["patch"])
    url = patch["value"]
    assert patch["path"] == "/data/GATEWAY_CLASSIFIER"
    service = find(k8s_objects(), "Service", "classifier")
    assert url.startswith(f"http://classifier:{service['spec']['ports'][0]['port']}/")
    # The remote classifier must end up calling exactly /v1/moderations.
    assert RemoteClassifier(url).url == "http://classifier:8080/v1/moderations"


def test_hpa_scales_the_gateway_deployment_on_cpu() -> None:
    hpa = find(k8s_objects(), "HorizontalPodAutoscaler", "gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "gateway",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert hpa["spec"]["minReplicas"] >= 2, "a PDB with one replica blocks every drain"
    assert "replicas" not in find(k8s_objects(), "Deployment", "gateway")["spec"], "HPA owns it"


@pytest.mark.parametrize(
    ("kind", "name", "deployment"),
    [("Service", "gateway", "gateway"), ("PodDisruptionBudget", "gateway", "gateway"),
     ("Service", "classifier", "classifier"), ("PodDisruptionBudget", "classifier", "classifier")],
)  # fmt: skip
def test_selectors_match_exactly_their_own_pods(kind: str, name: str, deployment: str) -> None:
    obj = find(k8s_objects(), kind, name)
    selector = obj["spec"]["selector"]
    selector = selector.get("matchLabels", selector)
    for other, _ in DEPLOYMENTS:
        labels = find(k8s_objects(), "Deployment", other)["spec"]["template"]["metadata"]["labels"]
        matches = all(labels.get(k) == v for k, v in selector.items())
        assert matches == (other == deployment), f"{kind}/{name} vs {other}"


def test_kustomizations_list_existing_files() -> None:
    for kustomization in K8S.rglob("kustomization.yaml"):
        doc = load_yaml(kustomization)
        for entry in doc.get("resources", []) + doc.get("components", []):
            assert (kustomization.parent / entry).exists(), f"{kustomization}: {entry}"


def test_policies_script_makes_the_configmaps_the_pods_mount() -> None:
    script = (K8S / "policies.sh").read_text("utf-8")
    made = set(re.findall(r"(gateway-policies[a-z-]*)", script))
    for deployment, _ in DEPLOYMENTS:
        mounted = {v["configMap"]["name"] for v in _pod(deployment)["volumes"] if "configMap" in v}
        assert mounted <= made
    # The script refuses policy trees it cannot publish; the shipped one must fit.
    subdirs = {p.name for p in (ROOT / "policies").iterdir() if p.is_dir()}
    assert subdirs <= {"lexicon"}
