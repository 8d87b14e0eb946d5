"""Kafka as the Knative Kafka broker and sink consume their settings: one address per KafkaSink element, and in
production SASL/TLS credentials for the broker and the sink, with the functions publishing through the ingress."""

from __future__ import annotations

import re
import shutil

import pytest
from tests.deploy.conftest import find, render

HOST_PORT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?:\d{1,5}$")
#: The Kafka broker's ingress, where a Kafka-class Broker <namespace>/<name> takes events over HTTP.
INGRESS = "http://kafka-broker-ingress.knative-eventing.svc.cluster.local/{namespace}/{name}"


def test_every_kafka_sink_bootstrap_element_is_one_host_and_port(overlay) -> None:
    # eventing-kafka-broker's KafkaSink reconciler gives spec.bootstrapServers to its Kafka admin client element
    # by element (kafka_sink.go): "a:9092,b:9092" in one element is one unresolvable address.
    name, docs = overlay
    sinks = find(docs, "KafkaSink")
    assert sinks, name
    for sink in sinks:
        servers = sink["spec"]["bootstrapServers"]
        bad = [s for s in servers if not HOST_PORT.match(s)]
        assert servers and bad == [], f"{name}/{sink['metadata']['name']}: {bad}"


def test_the_sink_reaches_the_kafka_the_broker_uses(overlay) -> None:
    name, docs = overlay
    broker = set(find(docs, "ConfigMap", "kafka-broker-config")[0]["data"]["bootstrap.servers"].split(","))
    for sink in find(docs, "KafkaSink"):
        assert set(sink["spec"]["bootstrapServers"]) <= broker, f"{name}/{sink['metadata']['name']}"


def test_production_kafka_broker_and_sink_authenticate_with_one_secret(rendered) -> None:
    docs = rendered["production"]
    secret = find(docs, "ConfigMap", "kafka-broker-config")[0]["data"].get("auth.secret.ref.name")
    assert secret, "the production Broker's ConfigMap names no auth secret: plaintext, unauthenticated Kafka"
    for sink in find(docs, "KafkaSink"):
        assert sink["spec"].get("auth", {}).get("secret", {}).get("ref", {}).get("name") == secret
    # The Secret carries credentials: it is created by the operator, never rendered from the repository.
    assert find(docs, "Secret", secret) == []


def test_production_functions_publish_through_the_ingress_that_holds_the_credentials(rendered) -> None:
    # kafka-python in ingest, persons and the outbox relay is configured with bootstrap servers only; with a
    # SASL/TLS Kafka they publish over HTTP to the broker ingress, which authenticates with the Broker's secret.
    docs = rendered["production"]
    config = find(docs, "ConfigMap", "udaconnect-config")[0]["data"]
    assert config["UDACONNECT_PUBLISHER"] == "http"
    namespace, broker_name = config["UDACONNECT_NAMESPACE"], config["UDACONNECT_BROKER"]
    assert config["K_SINK"] == INGRESS.format(namespace=namespace, name=broker_name)
    broker = find(docs, "Broker", config["UDACONNECT_BROKER"])[0]
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    assert broker["metadata"]["namespace"] == config["UDACONNECT_NAMESPACE"]


@pytest.mark.parametrize("servers", ["pkc-abc123.eu-west-1.aws.confluent.cloud:9092",
                                     "b-1.kafka.internal:9096,b-2.kafka.internal:9096,b-3.kafka.internal:9096,"
                                     "b-4.kafka.internal:9096"])
def test_production_renders_with_any_number_of_bootstrap_addresses(kubectl, workspace, tmp_path, servers) -> None:
    # A managed Kafka usually gives one bootstrap name: the render once failed on it ("options.index 1 is out
    # of bounds", when the sink took three addresses by index).
    copy = tmp_path / "manifests"
    shutil.copytree(workspace / "manifests", copy)
    shutil.copytree(workspace / "eventing", tmp_path / "eventing")
    properties = copy / "overlays" / "production" / "external.properties"
    properties.write_text(re.sub(r"(?m)^KAFKA_BOOTSTRAP_SERVERS=.*$", f"KAFKA_BOOTSTRAP_SERVERS={servers}",
                                 properties.read_text()))
    docs = render(kubectl, copy / "overlays" / "production")
    assert find(docs, "ConfigMap", "kafka-broker-config")[0]["data"]["bootstrap.servers"] == servers
    assert find(docs, "KafkaSink")[0]["spec"]["bootstrapServers"] == servers.split(",")[:1]


def test_strimzi_listener_policies_admit_no_more_than_the_kafka_network_policy(rendered) -> None:
    # Strimzi's per-listener NetworkPolicy admits every pod when networkPolicyPeers is empty, and policies add
    # up: the listener's peers must be the ones kafka-from-functions-and-broker admits.
    docs = rendered["vagrant"]
    policy = find(docs, "NetworkPolicy", "kafka-from-functions-and-broker")[0]
    allowed = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
    for listener in find(docs, "Kafka")[0]["spec"]["kafka"]["listeners"]:
        assert listener.get("networkPolicyPeers") == allowed, listener["name"]


def test_production_dead_letters_are_created_with_two_in_sync_replicas(rendered) -> None:
    # A KafkaSink has no topic configuration, so the production docs create the dead-letter topic first, with
    # the broker topic's min.insync.replicas and the Kafka's replication.
    from udaconnect.settings import PROJECT_ROOT

    docs = rendered["production"]
    broker = find(docs, "ConfigMap", "kafka-broker-config")[0]["data"]
    sink = find(docs, "KafkaSink")[0]["spec"]
    guide = (PROJECT_ROOT / "docs" / "cluster.md").read_text().replace("\n", " ")
    command = re.search(r"kafka-topics\.sh [^`]*--topic (\S+)[^`]*`", guide)
    assert command and command.group(1) == sink["topic"]
    assert f"--config min.insync.replicas={broker['default.topic.config.min.insync.replicas']}" in command.group(0)
    assert f"--replication-factor {sink['replicationFactor']}" in command.group(0)
