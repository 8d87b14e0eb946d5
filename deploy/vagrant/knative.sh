#!/usr/bin/env bash
# Knative Serving with Kourier, Knative Eventing, and the Kafka broker, controller and sink (pinned releases).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.sh
source "$SCRIPT_DIR/versions.sh"
# shellcheck source=lib.sh
source "$SCRIPT_DIR/lib.sh"

log "Knative Serving ${KNATIVE_SERVING_VERSION}"
apply_release knative/serving "$KNATIVE_SERVING_VERSION" serving-crds.yaml
kubectl wait crd/services.serving.knative.dev --for=condition=Established --timeout=120s
apply_release knative/serving "$KNATIVE_SERVING_VERSION" serving-core.yaml

log "Kourier ${KNATIVE_KOURIER_VERSION}"
apply_release knative-extensions/net-kourier "$KNATIVE_KOURIER_VERSION" kourier.yaml
patch_config knative-serving config-network ingress-class kourier.ingress.networking.knative.dev
# Knative resolves image tags to digests from inside its controller, where localhost:5000 is not the node's
# registry: skip resolution for it (the vagrant overlay pulls with imagePullPolicy Always instead).
patch_config knative-serving config-deployment registries-skipping-tag-resolving \
  "kind.local,ko.local,dev.local,${REGISTRY}"
# The functions mount an emptyDir at /tmp (their root filesystem is read-only).
patch_config knative-serving config-features kubernetes.podspec-volumes-emptydir enabled
wait_deployments knative-serving
wait_deployments kourier-system

log "Knative Eventing ${KNATIVE_EVENTING_VERSION}"
apply_release knative/eventing "$KNATIVE_EVENTING_VERSION" eventing-crds.yaml
kubectl wait crd/brokers.eventing.knative.dev --for=condition=Established --timeout=120s
apply_release knative/eventing "$KNATIVE_EVENTING_VERSION" eventing-core.yaml
# eventing/ sets delivery timeouts: a beta feature, on by default; say so rather than rely on the default.
patch_config knative-eventing config-features delivery-timeout enabled

log "Knative Kafka broker and sink ${KNATIVE_KAFKA_BROKER_VERSION}"
for file in eventing-kafka-controller.yaml eventing-kafka-broker.yaml eventing-kafka-sink.yaml; do
  apply_release knative-extensions/eventing-kafka-broker "$KNATIVE_KAFKA_BROKER_VERSION" "$file"
done
wait_deployments knative-eventing
