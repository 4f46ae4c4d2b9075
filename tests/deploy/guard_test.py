"""The vLLM guard pool (deploy/k8s/guard-pool, used by deploy/k8s/guard): the gateway pods'
cascade spec points at the guard Service and model; the pods are locked down and never
download; probes, GPU and volumes are where vLLM needs them."""

from __future__ import annotations

from typing import Any

import yaml

from models.serving.spec import parse_spec
from tests.support.deploy import K8S, find, load_docs, load_yaml, settings_env_names

POOL = K8S / "guard-pool"


def _objects() -> list[dict[str, Any]]:
    return [d for name in load_yaml(POOL / "kustomization.yaml")["resources"]
            for d in load_docs(POOL / name)]  # fmt: skip


def _patches() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in load_yaml(POOL / "kustomization.yaml")["patches"]:
        out[p["target"]["name"]] = yaml.safe_load(p["patch"])
    return out


def _container() -> dict[str, Any]:
    pod = find(_objects(), "Deployment", "guard")["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    return dict(c)


def _arg(name: str) -> str:
    (value,) = [a.split("=", 1)[1] for a in _container()["args"] if a.startswith(f"--{name}=")]
    return value


def test_the_overlay_uses_the_base_and_the_pool() -> None:
    overlay = load_yaml(K8S / "guard" / "kustomization.yaml")
    assert overlay["resources"] == ["../base"] and overlay["components"] == ["../guard-pool"]


def test_gateway_pods_cascade_to_the_guard_service_and_model() -> None:
    config = {op["path"]: op["value"] for op in _patches()["gateway-config"]}
    spec = parse_spec(config["/data/GATEWAY_CLASSIFIER_SECOND"])
    assert spec is not None and spec.backend == "openai_guard"
    service = find(_objects(), "Service", "guard")
    assert spec.url == f"http://guard:{service['spec']['ports'][0]['port']}/v1"
    assert spec.options["model"] == _arg("served-model-name")
    assert parse_spec(config["/data/GATEWAY_CLASSIFIER"]) is None, "the first stage runs locally"
    names = {p.rsplit("/", 1)[1] for p in config}
    (env,) = [op["value"] for op in _patches()["gateway"]]
    assert (names | {env["name"]}) <= settings_env_names()


def test_the_guard_and_the_gateway_share_an_optional_api_key() -> None:
    (env,) = [op["value"] for op in _patches()["gateway"]]
    gateway_ref = env["valueFrom"]["secretKeyRef"]
    (vllm_ref,) = [e["valueFrom"]["secretKeyRef"] for e in _container()["env"]
                   if e["name"] == "VLLM_API_KEY"]  # fmt: skip
    assert gateway_ref == vllm_ref and gateway_ref["optional"] is True


def test_the_pool_serves_offline_from_a_read_only_volume() -> None:
    c = _container()
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HF_HUB_OFFLINE"] == "1"
    assert _arg("model").startswith("/models/")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/models"]["readOnly"] is True
    pod = find(_objects(), "Deployment", "guard")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = volumes[mounts["/models"]["name"]]["persistentVolumeClaim"]["claimName"]
    assert find(_objects(), "PersistentVolumeClaim", claim)
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]] and env["HOME"] == "/tmp"
    assert not any(a.startswith("--enable-log-requests") for a in c["args"]), "no user text in logs"


def test_the_pool_is_locked_down_probed_and_on_a_gpu() -> None:
    c = _container()
    pod = find(_objects(), "Deployment", "guard")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert int(_arg("port")) == c["ports"][0]["containerPort"]


def test_selectors_match_only_the_guard_pods() -> None:
    labels = find(_objects(), "Deployment", "guard")["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = find(_objects(), kind, "guard")["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items()
        assert selector["app.kubernetes.io/name"] != "gateway", "never the gateway's pods"
