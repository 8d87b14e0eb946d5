#!/usr/bin/env bash
# Debian packages: download tools, buildah (builds the image without a Docker daemon), skopeo (inspects the
# registry), and docker-registry (the VM's own image registry on localhost:5000).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

PACKAGES=(ca-certificates curl jq openssl buildah skopeo docker-registry)

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

# The registry listens on :5000 (its Debian default); K3s pulls from it over plain HTTP (see k3s.sh).
if ! systemctl is-active --quiet docker-registry; then
  log "Starting the local registry"
  systemctl enable --now docker-registry
fi
