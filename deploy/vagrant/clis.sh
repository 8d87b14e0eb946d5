#!/usr/bin/env bash
# The kn and func command-line tools, pinned, in /usr/local/bin.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

arch="$(machine_arch)"

# install_cli <name> <repo> <tag> <asset>: installs once per tag (a marker file records the version).
install_cli() {
  local name="$1" repo="$2" tag="$3" asset="$4"
  local marker="${CACHE_DIR}/${name}.version"
  if [[ -x "/usr/local/bin/${name}" ]] && [[ "$(cat "$marker" 2>/dev/null)" == "$tag" ]]; then
    return
  fi
  log "Installing ${name} ${tag}"
  install -m 0755 "$(fetch "$(release_url "$repo" "$tag" "$asset")" "${tag}-${asset}")" "/usr/local/bin/${name}"
  printf '%s' "$tag" > "$marker"
}

install_cli kn knative/client "$KN_VERSION" "kn-linux-${arch}"
install_cli func knative/func "$FUNC_VERSION" "func_linux_${arch}"
