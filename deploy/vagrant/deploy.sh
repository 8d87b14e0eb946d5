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
# The token keys, in the git-ignored auth/: the issuer's Ed25519 signing key and the JWKS of its public keys
# (`udaconnect keys rotate`), and ingest's service credential for the revocation feed (`udaconnect token --service
# revocations`, a year). Made once, kept (a new key without a roll would sign everyone and every device out; rotate
# as docs/security.md says). The CLI runs from the image just built: the VM has no Python of ours.
udaconnect_cli() {
  local container
  container="$(buildah from --tls-verify=false "$IMAGE")"
  buildah run --user 0:0 -v "$OVERLAY/auth:/keys" \
    --env UDACONNECT_AUTH_SIGNING_KEY_FILE=/keys/signing-key.pem --env UDACONNECT_AUTH_JWKS_FILE=/keys/jwks.json \
    "$container" -- "$@"
  buildah rm "$container" >/dev/null
}
if [[ ! -s "$OVERLAY/auth/signing-key.pem" ]]; then
  log "Generating the token keys in manifests/overlays/vagrant/auth"
  umask 077
  mkdir -p "$OVERLAY/auth"
  udaconnect_cli udaconnect keys rotate --dir /keys
fi
if [[ ! -s "$OVERLAY/auth/revocations-token" ]]; then
  log "Generating ingest's revocation-feed credential in manifests/overlays/vagrant/auth"
  umask 077
  udaconnect_cli sh -c 'udaconnect token --service revocations --name ingest --ttl 365d > /keys/revocations-token'
fi

# The delivery key (ingest proves each report, persist checks: udaconnect.events.proof), made once.
if [[ ! -s "$OVERLAY/auth/delivery-key" ]]; then
  log "Generating the delivery key in manifests/overlays/vagrant/auth"
  umask 077
  openssl rand -hex 32 > "$OVERLAY/auth/delivery-key"
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

# Sign-in links, as the local stack prints them: signed with this overlay's issuer key (auth/), 12 hours.
export UDACONNECT_AUTH_SIGNING_KEY_FILE="$OVERLAY/auth/signing-key.pem"
attendee_link="$(kn udaconnect token --person 1 --link --web-url http://localhost:30000)"
organizer_link="$(kn udaconnect token --organizer --name vagrant --link --web-url http://localhost:30000)"

cat <<TEXT

UdaConnect is running.
  Web client:  http://localhost:30000   (the API is under /api on the same origin)
  API:         http://localhost:30001/api/persons   (with Authorization: Bearer \$(kn udaconnect token --organizer))
  API docs:    http://localhost:30001/api/docs
Sign in (links valid 12 hours):
  as the first attendee: ${attendee_link}
  as an organizer:       ${organizer_link}
More tokens inside the VM (vagrant ssh), signed with the overlay's issuer key (readable by root only):
  export UDACONNECT_AUTH_SIGNING_KEY_FILE=/vagrant/manifests/overlays/vagrant/auth/signing-key.pem
  sudo -E kn udaconnect token --person 7 --link --web-url http://localhost:30000   (or --organizer, a bare token)
Inside the VM (vagrant ssh): kn service list -n udaconnect; kn broker describe default -n udaconnect;
kn trigger list -n udaconnect; kubectl get pods -n udaconnect -w (watch the functions scale to zero).
TEXT
