"""The control plane's part of the local broker: create the topics the eventing/ objects call for, and commit each
Trigger's initial offsets, as the Knative controllers do before they mark a Broker or Trigger ready."""

from __future__ import annotations

import logging

from udaconnect_dev.broker.errors import ConfigError
from udaconnect_dev.broker.model import Eventing, TriggerSpec

log = logging.getLogger(__name__)


def wanted_topics(eventing: Eventing) -> dict[str, tuple[int, int]]:
    """topic -> (partitions, replication factor)."""
    topics = {b.topic: (b.partitions, b.replication_factor) for b in eventing.brokers.values()}
    for sink in eventing.sinks.values():
        # A KafkaSink without numPartitions expects its topic to exist; locally we create it with one partition.
        topics.setdefault(sink.topic, (sink.partitions or 1, sink.replication_factor or 1))
    return topics


def topic_configs(eventing: Eventing) -> dict[str, dict[str, str]]:
    """topic -> its configuration: a Broker's from its ConfigMap's `default.topic.config.*` (as the Kafka broker's
    controller creates it); a KafkaSink's topic, which Knative creates with no configuration (so the Kafka
    cluster's `log.retention.ms` applies on the cluster), gets the Brokers' shortest retention.ms here, so that
    no copy of an event is meant to outlive the retention locally either.

    tansu (the local Kafka, memory storage) takes and describes retention.ms but does not enforce it: measured,
    a record an hour old stays readable with retention.ms=1000. Locally, what bounds a copy's life is the
    process: the in-memory Kafka forgets everything when the stack stops."""
    configs = {b.topic: dict(b.topic_config) for b in eventing.brokers.values()}
    retention = [int(b.topic_config["retention.ms"]) for b in eventing.brokers.values()
                 if "retention.ms" in b.topic_config]
    for sink in eventing.sinks.values():
        if retention:
            configs.setdefault(sink.topic, {"retention.ms": str(min(retention))})
    return configs


def ensure_topics(bootstrap_servers: str, topics: dict[str, tuple[int, int]],
                  configs: dict[str, dict[str, str]] | None = None) -> None:
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
                admin.create_topics([NewTopic(topic, partitions, factor, topic_configs=(configs or {}).get(topic))])
                log.info("created topic %s (%d partitions, replication %d)", topic, partitions, factor)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def trigger_groups(eventing: Eventing) -> dict[str, str]:
    """consumer group -> the topic it reads, for every Trigger."""
    return {t.consumer_group: _topic(eventing, t) for t in eventing.triggers}


def _topic(eventing: Eventing, trigger: TriggerSpec) -> str:
    return eventing.brokers[(trigger.namespace, trigger.broker)].topic


def init_offsets(bootstrap_servers: str, groups: dict[str, str], start: str = "end") -> dict[str, dict[int, int]]:
    """Commit, for every partition a group has no committed offset for, the end of that partition now (or its
    beginning, for topics made anew after a Kafka that kept them in memory restarted).

    Knative's rule (eventing-kafka's InitOffsets, called by the Kafka broker's Trigger reconciler before the
    Trigger is Ready): a new Trigger starts at the end of the topic *as of its creation*, and that start is
    committed at once, so no event written afterwards is skipped however late the group joins or rebalances.
    A group that has offsets keeps them (a restart resumes where it stopped). Returns what was committed.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    from udaconnect.events.kafka_client import offsets

    done: dict[str, dict[int, int]] = {}
    for group, topic in groups.items():
        try:
            # A consumer that assigns partitions itself never joins the group: its commit is the group's
            # starting point, accepted while the group has no members (as the controller's offset manager does).
            consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False)
        except KafkaError as exc:
            raise ConfigError(f"Kafka at {bootstrap_servers} is not reachable: {exc!r}") from exc
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
            if not partitions:
                raise ConfigError(f"topic {topic} of consumer group {group} does not exist")
            missing = [tp for tp in partitions if consumer.committed(tp) is None]
            if missing:
                ends = consumer.end_offsets(missing) if start == "end" else consumer.beginning_offsets(missing)
                consumer.commit(offsets(ends))
                done[group] = {tp.partition: offset for tp, offset in ends.items()}
                log.info("%s: initial offsets committed at the end of %s: %s", group, topic, done[group])
        finally:
            consumer.close(autocommit=False)
    return done
