"""Create the broker and KafkaSink topics the eventing/ objects call for (as the Knative controllers do)."""

from __future__ import annotations

import logging

from udaconnect.broker.errors import ConfigError
from udaconnect.broker.model import Eventing

log = logging.getLogger(__name__)


def wanted_topics(eventing: Eventing) -> dict[str, tuple[int, int]]:
    """topic -> (partitions, replication factor)."""
    topics = {b.topic: (b.partitions, b.replication_factor) for b in eventing.brokers.values()}
    for sink in eventing.sinks.values():
        # A KafkaSink without numPartitions expects its topic to exist; locally we create it with one partition.
        topics.setdefault(sink.topic, (sink.partitions or 1, sink.replication_factor or 1))
    return topics


def ensure_topics(bootstrap_servers: str, topics: dict[str, tuple[int, int]]) -> None:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="udaconnect-broker")
    except KafkaError as exc:
        raise ConfigError(f"Kafka at {bootstrap_servers} is not reachable: {exc!r}") from exc
    try:
        brokers = max(len(admin.describe_cluster().get("brokers") or []), 1)
        existing = set(admin.list_topics())
        for topic, (partitions, replication) in topics.items():
            if topic in existing:
                continue
            # The cluster's factor (one Strimzi broker) may exceed a local single-node Kafka's broker count.
            factor = min(replication, brokers)
            try:
                admin.create_topics([NewTopic(topic, partitions, factor)])
                log.info("created topic %s (%d partitions, replication %d)", topic, partitions, factor)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
