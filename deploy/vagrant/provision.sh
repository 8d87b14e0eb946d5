#!/usr/bin/env bash
# Brings a fresh Debian VM to a running UdaConnect on K3s + Knative; every step checks before it changes
# anything, so a second `vagrant provision` changes nothing. Run as root (Vagrant's shell provisioner does).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Through bash rather than by their executable bit, which a synced folder from a Windows host does not keep.
bash "$SCRIPT_DIR/packages.sh"
bash "$SCRIPT_DIR/k3s.sh"
bash "$SCRIPT_DIR/knative.sh"
bash "$SCRIPT_DIR/strimzi.sh"
bash "$SCRIPT_DIR/clis.sh"
bash "$SCRIPT_DIR/build-image.sh"
bash "$SCRIPT_DIR/deploy.sh"
