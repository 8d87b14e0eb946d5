#!/usr/bin/env bash
# Pinned versions of everything the VM installs (sourced by the other scripts). They fit together:
# Knative 1.23 needs Kubernetes >= 1.34 (knative.dev/pkg DefaultKubernetesMinVersion "v1.34.0" at the commit
# serving knative-v1.23.0 pins); Strimzi 1.2.0 serves kafka.strimzi.io/v1 and runs Kafka in KRaft mode.
# Each tag below was checked against the project's own tags and release scripts on 2026-12-01 (see "Versions"
# in README.md); newer 1.23 patches seen only in third-party notes were not taken.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this file

K3S_VERSION="v1.34.12+k3s1"
KNATIVE_SERVING_VERSION="knative-v1.23.0"
KNATIVE_KOURIER_VERSION="knative-v1.23.0"
KNATIVE_EVENTING_VERSION="knative-v1.23.0"
KNATIVE_KAFKA_BROKER_VERSION="knative-v1.23.0"
STRIMZI_VERSION="1.2.0"
KN_VERSION="knative-v1.23.0"
FUNC_VERSION="knative-v1.23.1"

GITHUB_RELEASES="https://github.com"
K3S_INSTALL_URL="https://get.k3s.io"

# The VM's own registry (Debian's docker-registry) and the image the vagrant overlay names.
REGISTRY="localhost:5000"
IMAGE="${REGISTRY}/udaconnect:dev"

# Downloads are kept here so that a second `vagrant provision` fetches nothing.
CACHE_DIR="/var/cache/udaconnect"
export KUBECONFIG="/etc/rancher/k3s/k3s.yaml"
