"""persist is sized for what the Kafka broker's dispatcher really sends it, and the manifests say what limits it."""

from __future__ import annotations

import re

from tests.deploy.conftest import Doc, find, knative_services

from udaconnect.settings import PROJECT_ROOT

#: Deliveries the dispatcher keeps in flight per Trigger with unordered delivery: max.poll.records in
#: knative-eventing's ConfigMap config-kafka-broker-data-plane (config-kafka-broker-consumer.properties), 50 in
#: eventing-kafka-broker knative-v1.23.0; UnorderedConsumerVerticle stops polling at that many. A Trigger
#: cannot change it: its ConsumerGroup gets group.id and bootstrap.servers only, and one consumer (replicas 1)
#: unless KEDA autoscaling is installed and enabled. Ordered delivery keeps one in flight per partition.
MAX_POLL_RECORDS = 50


def in_flight(docs: list[Doc], service: str) -> int:
    """The most deliveries the dispatcher can have in flight towards `service`, over all its Triggers."""
    config = find(docs, "ConfigMap", "kafka-broker-config")[0]["data"]
    total = 0
    for trigger in find(docs, "Trigger"):
        if trigger["spec"]["subscriber"].get("ref", {}).get("name") != service:
            continue
        order = trigger["metadata"].get("annotations", {}).get("kafka.eventing.knative.dev/delivery.order",
                                                               "unordered")
        total += int(config["default.topic.partitions"]) if order == "ordered" else MAX_POLL_RECORDS
    return total


def test_persist_is_sized_for_what_the_dispatcher_sends(overlay) -> None:
    name, docs = overlay
    offered = in_flight(docs, "persist")
    assert offered == MAX_POLL_RECORDS, f"{name}: persist's Trigger is expected unordered, one of them"
    template = find(knative_services(docs), "Service", "persist")[0]["spec"]["template"]
    notes = template["metadata"]["annotations"]
    limit = template["spec"]["containerConcurrency"]
    # Room for all the dispatcher sends (a queue-proxy holding deliveries back only adds latency), but not a
    # limit sized for a load that never arrives.
    assert offered <= limit <= 2 * offered, f"{name}: containerConcurrency {limit} for {offered} in flight"
    target = float(notes["autoscaling.knative.dev/target"])
    utilization = float(notes.get("autoscaling.knative.dev/target-utilization-percentage", "70"))
    effective = target * utilization / 100
    # The autoscaler adds a pod per `effective` deliveries in flight: a target above what can ever be in
    # flight describes pods that never fill; one at or below it is the load the dispatcher really makes.
    assert effective <= offered, f"{name}: persist scales per {effective:g} deliveries, at most {offered} come"
    assert -(-offered // effective) <= int(notes["autoscaling.knative.dev/max-scale"]), name


def test_the_manifests_say_what_limits_persists_concurrency() -> None:
    persist = (PROJECT_ROOT / "manifests" / "base" / "persist.yaml").read_text()
    assert "max.poll.records" in persist and "config-kafka-broker-data-plane" in persist
    production = (PROJECT_ROOT / "manifests" / "overlays" / "production" / "kafka-topics.yaml").read_text()
    # Partitions bound ordered delivery only: the comment must not promise persist parallelism from them.
    assert not re.search(r"partitions[^.]*persist deliveries", production, re.S), production.splitlines()[:3]
