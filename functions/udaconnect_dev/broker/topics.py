"""The control plane's part of the local broker: the topics the eventing/ objects call for, their configurations, and
each Trigger's consumer group; kafka_adapter creates them and commits the initial offsets, as the Knative controllers
do before they mark a Broker or Trigger ready."""

from __future__ import annotations

from udaconnect_dev.broker.model import Eventing, TriggerSpec


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


def trigger_groups(eventing: Eventing) -> dict[str, str]:
    """consumer group -> the topic it reads, for every Trigger."""
    return {t.consumer_group: _topic(eventing, t) for t in eventing.triggers}


def _topic(eventing: Eventing, trigger: TriggerSpec) -> str:
    return eventing.brokers[(trigger.namespace, trigger.broker)].topic
