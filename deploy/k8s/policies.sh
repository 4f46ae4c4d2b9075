#!/usr/bin/env bash
# Publish a policy directory as the ConfigMaps the gateway pods mount:
#   gateway-policies          <- DIR/*           -> /etc/gateway/policies/
#   gateway-policies-lexicon  <- DIR/lexicon/*   -> /etc/gateway/policies/lexicon/
#
#   deploy/k8s/policies.sh [DIR] [NAMESPACE]            # apply (idempotent)
#   DRY_RUN=1 deploy/k8s/policies.sh [DIR] [NAMESPACE]  # print the manifests only
#
# kustomize cannot read files outside deploy/k8s, and a ConfigMap key cannot hold a "/",
# hence two ConfigMaps and this script. Running pods see the change within about a
# minute (kubelet sync) and the gateway reloads it; a file that fails validation is refused
# and the old policy stays (alert GatewayPolicyReloadFailures). Check first:
#   gateway policy check DIR/default.yaml
set -euo pipefail

dir=${1:-policies}
namespace=${2:-moderation-gateway}
kubectl=${KUBECTL:-kubectl}
# A ConfigMap holds at most 1 MiB; stay clear of it (keys and metadata count too).
limit=$((1000 * 1000))

if [[ ! -f "$dir/default.yaml" ]]; then
  echo "policies.sh: $dir/default.yaml not found" >&2
  exit 2
fi
for sub in "$dir"/*/; do
  [[ -d "$sub" ]] || continue
  name=$(basename "$sub")
  if [[ "$name" != lexicon ]]; then
    echo "policies.sh: $dir/$name/ is not mounted by the Deployment (only lexicon/ is)" >&2
    exit 2
  fi
  if find "$sub" -mindepth 1 -type d | grep -q .; then
    echo "policies.sh: $sub has subdirectories; a ConfigMap cannot hold them" >&2
    exit 2
  fi
done

render() {  # NAME SOURCE_DIR
  local size
  size=$(find "$2" -maxdepth 1 -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  if ((size > limit)); then
    echo "policies.sh: $2 holds $size bytes, over the ConfigMap limit ($limit)" >&2
    exit 2
  fi
  "$kubectl" create configmap "$1" --namespace "$namespace" --from-file="$2" \
    --dry-run=client -o yaml
}

manifests=$(
  render gateway-policies "$dir"
  echo "---"
  if [[ -d "$dir/lexicon" ]]; then
    render gateway-policies-lexicon "$dir/lexicon"
  else  # the Deployment mounts it regardless
    "$kubectl" create configmap gateway-policies-lexicon --namespace "$namespace" \
      --dry-run=client -o yaml
  fi
)

if [[ -n "${DRY_RUN:-}" ]]; then
  printf '%s\n' "$manifests"
else
  printf '%s\n' "$manifests" | "$kubectl" apply -f -
fi
