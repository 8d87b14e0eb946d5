#!/usr/bin/env bash
# K3s, pinned, without Traefik (Kourier is the ingress); containerd may pull from the local registry over HTTP.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

REGISTRIES_FILE="/etc/rancher/k3s/registries.yaml"
REGISTRIES="$(cat <<YAML
mirrors:
  "${REGISTRY}":
    endpoint:
      - "http://${REGISTRY}"
YAML
)"

restart_needed=false
mkdir -p "$(dirname "$REGISTRIES_FILE")"
if [[ ! -f "$REGISTRIES_FILE" ]] || [[ "$(cat "$REGISTRIES_FILE")" != "$REGISTRIES" ]]; then
  log "Configuring K3s to pull from ${REGISTRY}"
  printf '%s\n' "$REGISTRIES" > "$REGISTRIES_FILE"
  restart_needed=true
fi

if ! command -v k3s >/dev/null || ! k3s --version | grep -qF "$K3S_VERSION"; then
  log "Installing K3s ${K3S_VERSION}"
  installer="$(fetch "$K3S_INSTALL_URL" "k3s-install.sh")"
  INSTALL_K3S_VERSION="$K3S_VERSION" \
    INSTALL_K3S_EXEC="server --disable traefik --write-kubeconfig-mode 0644" \
    sh "$installer"
  restart_needed=false
fi
if [[ "$restart_needed" == true ]]; then
  systemctl restart k3s
fi

log "Waiting for the K3s node"
wait_for_nodes 300

# The vagrant user gets kubectl, kn and func without sudo.
if ! grep -qF "KUBECONFIG=${KUBECONFIG}" /etc/profile.d/udaconnect.sh 2>/dev/null; then
  printf 'export KUBECONFIG=%s\n' "$KUBECONFIG" > /etc/profile.d/udaconnect.sh
fi
