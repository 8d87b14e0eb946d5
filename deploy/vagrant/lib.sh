#!/usr/bin/env bash
# Helpers shared by the provisioning scripts (sourced, never run).

log() {
  printf '\n==> %s\n' "$*"
}

# The release asset URL of <org>/<repo> at <tag>.
release_url() {
  local repo="$1" tag="$2" file="$3"
  printf '%s/%s/releases/download/%s/%s' "$GITHUB_RELEASES" "$repo" "$tag" "$file"
}

# Download <url> to the cache once; print the cached path. Re-provisioning reuses the file.
fetch() {
  local url="$1" name="$2"
  local path="${CACHE_DIR}/${name}"
  mkdir -p "$CACHE_DIR"
  if [[ ! -s "$path" ]]; then
    curl -fsSL --retry 5 --retry-delay 3 -o "${path}.part" "$url"
    mv "${path}.part" "$path"
  fi
  printf '%s' "$path"
}

# Apply a release manifest (server-side: idempotent, and the large CRDs exceed client-side apply's limit).
apply_release() {
  local repo="$1" tag="$2" file="$3"
  local path
  path="$(fetch "$(release_url "$repo" "$tag" "$file")" "${tag}-${file}")"
  kubectl apply --server-side --force-conflicts -f "$path"
}

# Wait until a node has registered, then until every node is Ready. `kubectl get nodes` answers (exit 0, "No
# resources found") as soon as the API server is up, before the kubelet registers the node, and
# `kubectl wait node --all` fails at once on no nodes ("no matching resources found").
wait_for_nodes() {
  local timeout="${1:-300}" waited=0
  until [[ -n "$(kubectl get nodes -o name 2>/dev/null)" ]]; do
    if ((waited >= timeout)); then
      printf 'no node registered with the API server after %ss\n' "$timeout" >&2
      return 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  kubectl wait node --all --for=condition=Ready --timeout="${timeout}s"
}

# Wait until every Deployment in <namespace> is available.
wait_deployments() {
  local namespace="$1"
  kubectl wait deployment --all -n "$namespace" --for=condition=Available --timeout=900s
}

# Merge <json> into a ConfigMap's data, only when a key differs (so re-provisioning changes nothing).
patch_config() {
  local namespace="$1" name="$2" key="$3" value="$4"
  local current
  current="$(kubectl get configmap "$name" -n "$namespace" -o "jsonpath={.data['${key//./\\.}']}")"
  if [[ "$current" != "$value" ]]; then
    kubectl patch configmap "$name" -n "$namespace" --type merge -p "{\"data\":{\"${key}\":\"${value}\"}}"
  fi
}

# linux-amd64 or linux-arm64, as the release assets name them.
machine_arch() {
  dpkg --print-architecture
}

# retry <attempts> <command...>: for calls that race with webhooks and controllers still starting.
retry() {
  local attempts="$1" n=1
  shift
  until "$@"; do
    if ((n >= attempts)); then
      return 1
    fi
    echo "retrying in $((n * 10)) s: $*" >&2
    sleep $((n * 10))
    n=$((n + 1))
  done
}
