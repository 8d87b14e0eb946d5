#!/usr/bin/env bash
# Builds the one UdaConnect image from the repository's Containerfile with buildah and pushes it to the VM's
# registry, only when its sources changed (the image carries a hash of them as a label).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

# A hash of everything the Containerfile copies, in a stable order, ignoring local build leftovers.
source_hash() {
  (
    cd "$REPO_DIR"
    find Containerfile .dockerignore pyproject.toml requirements.lock package.json package-lock.json \
      functions schema -type f \
      ! -path '*/__pycache__/*' ! -path '*.egg-info/*' ! -name '*.env' -print0 |
      LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
  )
}

wanted="$(source_hash)"
current="$(skopeo inspect --tls-verify=false "docker://${IMAGE}" 2>/dev/null |
  jq -r '.Labels["io.udaconnect.source-hash"] // ""' || true)"

if [[ "$current" == "$wanted" ]]; then
  log "Image ${IMAGE} is up to date"
  exit 0
fi

log "Building ${IMAGE}"
buildah bud --layers --label "io.udaconnect.source-hash=${wanted}" -f "$REPO_DIR/Containerfile" -t "$IMAGE" "$REPO_DIR"
buildah push --tls-verify=false "$IMAGE" "docker://${IMAGE}"

# Running pods keep the old image; pods pull "dev" again when they start (imagePullPolicy Always), so
# replace the ones that run now. Scaled-to-zero functions pick the new image up on their next start.
# The finished migration Job goes too: deploy.sh re-creates it, so new migrations in schema/ are applied.
if kubectl get namespace udaconnect >/dev/null 2>&1; then
  kubectl delete pod -n udaconnect -l serving.knative.dev/service --ignore-not-found --wait=false
  kubectl delete job -n udaconnect -l app.kubernetes.io/component=migration --ignore-not-found
fi
