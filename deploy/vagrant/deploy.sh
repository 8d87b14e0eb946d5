#!/usr/bin/env bash
# Deploys the vagrant overlay (functions, PostGIS, Kafka, broker, triggers, edge), waits for the migration
# and demo-data Job, and prints where to go. Safe to run again: kubectl apply of unchanged objects is a no-op.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../.." && pwd)"
OVERLAY="$REPO_DIR/manifests/overlays/vagrant"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

# The database credentials: generated once into the git-ignored db.env, then reused on every provision
# (the Secret, and so the running database, must not change under PostGIS's initialised data).
if [[ ! -s "$OVERLAY/db.env" ]]; then
  log "Generating database credentials in manifests/overlays/vagrant/db.env"
  umask 077
  printf 'POSTGRES_USER=udaconnect\nPOSTGRES_PASSWORD=%s\nPOSTGRES_DB=udaconnect\n' \
    "$(openssl rand -hex 24)" > "$OVERLAY/db.env"
fi
# One password per function's database role (the migration Job creates the roles): same rule, kept once made.
if [[ ! -s "$OVERLAY/roles.env" ]]; then
  log "Generating the functions' database role passwords in manifests/overlays/vagrant/roles.env"
  umask 077
  for role in persons connections persist encounters relay retention; do
    printf '%s=%s\n' "$role" "$(openssl rand -hex 24)"
  done > "$OVERLAY/roles.env"
fi
# The key that signs bearer tokens: made once, kept (a new key would sign everyone and every device out).
if [[ ! -s "$OVERLAY/auth.env" ]]; then
  log "Generating the token signing key in manifests/overlays/vagrant/auth.env"
  umask 077
  printf 'UDACONNECT_AUTH_SECRET=%s\n' "$(openssl rand -hex 32)" > "$OVERLAY/auth.env"
fi

log "Applying manifests/overlays/vagrant"
if ! kubectl apply -k "$OVERLAY"; then
  # A Job's pod template is immutable: when the migration Job changed (new command, new image), replace it.
  # Other failures are webhooks still starting: retried.
  kubectl delete job -n udaconnect -l app.kubernetes.io/component=migration --ignore-not-found
  retry 5 kubectl apply -k "$OVERLAY"
fi

log "Waiting for Kafka, PostGIS, the migration and the functions"
kubectl wait kafka/udaconnect-kafka -n kafka --for=condition=Ready --timeout=900s
kubectl rollout status statefulset/postgis -n udaconnect --timeout=600s
kubectl wait job/udaconnect-migrate -n udaconnect --for=condition=Complete --timeout=900s
kubectl wait broker/default -n udaconnect --for=condition=Ready --timeout=600s
kubectl wait ksvc --all -n udaconnect --for=condition=Ready --timeout=600s
kubectl rollout status deployment/edge -n udaconnect --timeout=300s

cat <<TEXT

UdaConnect is running.
  Web client:  http://localhost:30000   (the API is under /api on the same origin)
  API:         http://localhost:30001/api/persons
  API docs:    http://localhost:30001/api/docs
Inside the VM (vagrant ssh): kn service list -n udaconnect; kn broker describe default -n udaconnect;
kn trigger list -n udaconnect; kubectl get pods -n udaconnect -w (watch the functions scale to zero).
TEXT
