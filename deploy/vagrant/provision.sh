#!/usr/bin/env bash
# Brings a fresh Debian VM to a running UdaConnect on K3s + Knative; every step checks before it changes
# anything, so a second `vagrant provision` changes nothing. Run as root (Vagrant's shell provisioner does).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$SCRIPT_DIR/packages.sh"
"$SCRIPT_DIR/k3s.sh"
"$SCRIPT_DIR/knative.sh"
"$SCRIPT_DIR/strimzi.sh"
"$SCRIPT_DIR/clis.sh"
"$SCRIPT_DIR/build-image.sh"
"$SCRIPT_DIR/deploy.sh"
