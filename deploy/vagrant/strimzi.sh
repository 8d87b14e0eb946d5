#!/usr/bin/env bash
# The Strimzi 1.2.0 cluster operator in namespace "kafka" (the Kafka cluster itself is in the manifests).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

log "Strimzi ${STRIMZI_VERSION}"
if ! kubectl get namespace kafka >/dev/null 2>&1; then
  kubectl create namespace kafka
fi
file="strimzi-cluster-operator-${STRIMZI_VERSION}.yaml"
source_path="$(fetch "$(release_url strimzi/strimzi-kafka-operator "$STRIMZI_VERSION" "$file")" "$file")"
# The release's RoleBindings name the placeholder namespace "myproject": point them at "kafka".
sed 's/namespace: myproject$/namespace: kafka/' "$source_path" > "${CACHE_DIR}/kafka-${file}"
kubectl apply --server-side --force-conflicts -n kafka -f "${CACHE_DIR}/kafka-${file}"
wait_deployments kafka
