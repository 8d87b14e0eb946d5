#!/usr/bin/env bash
# Debian packages: download tools, buildah (builds the image without a Docker daemon), skopeo (inspects the
# registry), and docker-registry (the VM's own image registry on localhost:5000).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

# python3-venv: the udaconnect CLI (kn udaconnect: tokens, sign-in links) in its own environment (clis.sh)
PACKAGES=(ca-certificates curl jq openssl buildah skopeo docker-registry python3-venv)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} > 0)); then
  log "Installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# The registry listens on localhost:5000; K3s pulls from it over plain HTTP (see k3s.sh). The package's own
# config asks for htpasswd credentials it cannot check (see registry.yml): replace it, restart on a change.
REGISTRY_CONFIG="/etc/docker/registry/config.yml"
if ! cmp -s "$SCRIPT_DIR/registry.yml" "$REGISTRY_CONFIG"; then
  log "Configuring the local registry (no auth, loopback only)"
  install -m 0644 "$SCRIPT_DIR/registry.yml" "$REGISTRY_CONFIG"
  systemctl enable docker-registry
  systemctl restart docker-registry
elif ! systemctl is-active --quiet docker-registry; then
  log "Starting the local registry"
  systemctl enable --now docker-registry
fi
