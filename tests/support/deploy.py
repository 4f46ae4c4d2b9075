"""Shared loaders for the deploy tests (deploy_*_test.py): YAML/JSON files under deploy/."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "gateway.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERTS_TEST = DEPLOY / "prometheus" / "alerts_test.yaml"
OPERATIONS_DOC = ROOT / "docs" / "operations.md"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


def load_docs(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a (multi-document) YAML file."""
    return [d for d in yaml.safe_load_all(path.read_text("utf-8")) if d]


def load_json(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


def k8s_objects() -> list[dict[str, Any]]:
    """Every Kubernetes object the kustomizations list (base and classifier component)."""
    objects: list[dict[str, Any]] = []
    for kustomization in (
        K8S / "base" / "kustomization.yaml",
        K8S / "classifier" / "kustomization.yaml",
    ):
        for name in load_yaml(kustomization)["resources"]:
            objects += load_docs(kustomization.parent / name)
    return objects


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def graceful_shutdown_seconds() -> float:
    """uvicorn's ``timeout_graceful_shutdown`` as ``gateway serve`` sets it."""
    source = (ROOT / "gateway" / "cli.py").read_text("utf-8")
    match = re.search(r"timeout_graceful_shutdown\s*=\s*([0-9.]+)", source)
    assert match, "gateway/cli.py no longer sets timeout_graceful_shutdown; update deploy/"
    return float(match.group(1))


def settings_env_names() -> frozenset[str]:
    """GATEWAY_* variables that ``Settings`` reads."""
    from gateway.settings import Settings

    return frozenset(f"GATEWAY_{name.upper()}" for name in Settings.model_fields)
