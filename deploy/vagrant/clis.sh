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

# The udaconnect CLI from this checkout, as the kn plugin `kn udaconnect` (tokens and sign-in links, dead
# letters, status): its own virtual environment in /opt/udaconnect, the runtime package alone (no developer
# tooling). Installed from a copy, so the build writes nothing into the synced folder; again only when the code
# changed.
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
VENV=/opt/udaconnect
sources=(pyproject.toml README.md functions/main.py functions/udaconnect)
stamp="$(tar -C "$REPO_DIR" --sort=name --mtime=@0 --owner=0 --group=0 -cf - "${sources[@]}" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/kn-udaconnect" ]] || [[ "$(cat "$VENV/.source" 2>/dev/null)" != "$stamp" ]]; then
  log "Installing the udaconnect CLI (kn udaconnect) into $VENV"
  copy="$(mktemp -d)"
  tar -C "$REPO_DIR" -cf - "${sources[@]}" | tar -C "$copy" -xf -
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$copy"
  rm -rf "$copy"
  printf '%s' "$stamp" > "$VENV/.source"
fi
ln -sf "$VENV/bin/kn-udaconnect" /usr/local/bin/kn-udaconnect
ln -sf "$VENV/bin/udaconnect" /usr/local/bin/udaconnect
