"""Reading eventing/: the real files (checked against the CRD schemas too), durations and strict checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from udaconnect_dev.broker.durations import parse_duration
from udaconnect_dev.broker.errors import ConfigError
from udaconnect_dev.broker.loader import load_dir, load_text
from udaconnect_dev.broker.resolver import HttpTarget, KafkaTopicTarget, Resolver

ROOT = Path(__file__).resolve().parents[2]
EVENTING = ROOT / "eventing"
CRDS = ROOT.parent / "shared" / "reference" / "crds"


def test_the_real_eventing_objects():
    eventing = load_dir(EVENTING)
    broker = eventing.brokers[("udaconnect", "default")]
    assert broker.broker_class == "Kafka" and broker.topic == "knative-broker-udaconnect-default"
    assert broker.partitions == 10 and broker.replication_factor == 1
    assert broker.bootstrap_servers == "udaconnect-kafka-kafka-bootstrap.kafka:9092"
    assert broker.delivery and broker.delivery.backoff_policy == "exponential"
    [persist] = [t for t in eventing.triggers if t.name == "persist-location-reported"]
    assert persist.consumer_group == "knative-trigger-udaconnect-persist-location-reported"
    assert persist.filters == [{"any": [{"exact": {"type": "io.udaconnect.location.reported.v1"}},
                                        {"exact": {"type": "io.udaconnect.locations.reported.v1"}}]}]
    assert not persist.ordered
    assert persist.subscriber.ref and persist.subscriber.ref.name == "persist"
    delivery = persist.delivery.merged_over(broker.delivery)
    assert delivery.retry and delivery.retry >= 3 and delivery.timeout and delivery.dead_letter_sink
    resolver = Resolver({"persist": "http://127.0.0.1:9"}, eventing.sinks, env={})
    assert resolver.resolve(persist.subscriber) == HttpTarget("http://127.0.0.1:9")
    assert resolver.resolve(delivery.dead_letter_sink) == KafkaTopicTarget(
        "udaconnect-dead-letters", "udaconnect-dead-letters"
    )
    kustomization = yaml.safe_load((EVENTING / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in EVENTING.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_the_real_eventing_objects_match_the_crd_schemas():
    jsonschema = pytest.importorskip("jsonschema")
    if not CRDS.is_dir():
        pytest.skip(f"CRD schemas not found at {CRDS}")
    schemas = {}
    for path in CRDS.rglob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    checked = 0
    for path in EVENTING.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            key = (doc["apiVersion"], doc["kind"])
            if key in schemas:
                jsonschema.validate(doc, schemas[key])
                checked += 1
            else:
                assert doc["kind"] in ("ConfigMap", "Kustomization"), key
    assert checked >= 3  # Broker, KafkaSink, Trigger


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("PT1S", 1),
        ("PT0.5S", 0.5),
        ("PT2M", 120),
        ("PT1H1M1S", 3661),
        ("P1D", 86400),
        ("P1DT1S", 86401),
        ("P1W", 604800),
        ("pt0.2s", 0.2),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "1S", "PT1", "P1M2", "P1Y", "PT-1S", "soon"])
def test_bad_durations(text):
    with pytest.raises(ConfigError):
        parse_duration(text)


BROKER = """
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: default, namespace: ns, annotations: {eventing.knative.dev/broker.class: Kafka}}
"""


@pytest.mark.parametrize(
    "extra, message",
    [
        ("", None),
        ("spec: {config: {kind: ConfigMap, name: missing}}", "ConfigMap ns/missing not found"),
        ("spec: {delivery: {backoffPolicy: random}}", "backoffPolicy"),
        ("spec: {delivery: {retry: -1}}", "retry"),
        ("spec: {delivery: {backoffDelay: 1s}}", "ISO-8601"),
        ("spec: {delivery: {deadLetterSink: {}}}", None),
        ("spec: {delivery: {deadLetterSink: {ref: {kind: KafkaSink}}}}", "kind and name"),
    ],
)
def test_broker_checks(extra, message):
    if message is None:
        load_text(BROKER + extra)
    else:
        with pytest.raises(ConfigError, match=message):
            load_text(BROKER + extra)


@pytest.mark.parametrize(
    "doc, message",
    [
        (BROKER.replace("Kafka", "MTChannelBasedBroker"), "only class Kafka"),
        (
            BROKER + "---\nkind: Trigger\nmetadata: {name: t, namespace: ns}\nspec: {broker: other, subscriber: {uri: "
            "'http://x'}}",
            "no Broker ns/other",
        ),
        (BROKER + "---\nkind: Trigger\nmetadata: {name: t, namespace: ns}\nspec: {broker: default}", "subscriber"),
        (
            BROKER + "---\nkind: Trigger\nmetadata: {name: t, namespace: ns, annotations: "
            "{kafka.eventing.knative.dev/delivery.order: sorted}}\nspec: {broker: default, subscriber: {uri: 'http://x'}}",
            "delivery.order",
        ),
        (BROKER + "---\nkind: KafkaSink\nmetadata: {name: s, namespace: ns}\nspec: {bootstrapServers: [x]}", "topic"),
    ],
)
def test_other_checks(doc, message):
    with pytest.raises(ConfigError, match=message):
        load_text(doc)


def test_trigger_delivery_overrides_the_brokers_field_by_field():
    eventing = load_text(
        BROKER + "spec: {delivery: {retry: 3, backoffDelay: PT2S, timeout: PT9S}}\n---\n"
        "kind: Trigger\nmetadata: {name: t, namespace: ns}\nspec: {broker: default, "
        "subscriber: {uri: 'http://x'}, delivery: {retry: 7, backoffPolicy: linear}}"
    )
    [trigger] = eventing.triggers
    merged = trigger.delivery.merged_over(eventing.brokers[("ns", "default")].delivery)
    assert (merged.retry, merged.backoff_policy, merged.backoff_delay, merged.timeout) == (7, "linear", 2.0, 9.0)


def test_resolver_uses_env_and_relative_uris():
    eventing = load_text(
        BROKER + "---\nkind: Trigger\nmetadata: {name: t, namespace: ns}\nspec: {broker: default, "
        "subscriber: {ref: {kind: Service, name: my-fn}, uri: /hook}}"
    )
    resolver = Resolver(env={"UDACONNECT_UPSTREAM_MY_FN": "http://127.0.0.1:5000"})
    assert resolver.resolve(eventing.triggers[0].subscriber) == HttpTarget("http://127.0.0.1:5000/hook")
    with pytest.raises(ConfigError, match="UDACONNECT_UPSTREAM_MY_FN"):
        Resolver(env={}).resolve(eventing.triggers[0].subscriber)
