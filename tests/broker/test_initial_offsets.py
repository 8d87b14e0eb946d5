"""Knative's initial-offset rule: a Trigger's start is committed at its creation, so a late join skips nothing."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from tests.broker.conftest import broker_yaml, trigger_yaml

from udaconnect.events.event import Event
from udaconnect.events.kafka_client import KafkaWriter
from udaconnect_dev.broker.kafka_adapter import ensure_topics, init_offsets
from udaconnect_dev.broker.loader import load_text
from udaconnect_dev.broker.topics import trigger_groups, wanted_topics


def _eventing(namespace: str):  # noqa: ANN202
    return load_text(broker_yaml(namespace) + trigger_yaml(namespace, "sub", "  filter: {attributes: {}}"))


def _event(n: int) -> Event:
    return Event({"specversion": "1.0", "id": f"e{n}", "source": "/test", "type": "io.test.v1",
                  "partitionkey": str(n)}, b"{}")


def _committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in consumer.partitions_for_topic(topic)}
    finally:
        consumer.close(autocommit=False)


def test_events_written_before_the_group_joins_are_delivered(plane, namespace, kafka, subscriber):
    """Today's failure: the group joined after the first reports and started at 'latest', skipping them."""
    sub = subscriber()
    eventing = _eventing(namespace)
    ensure_topics(kafka.bootstrap_servers, wanted_topics(eventing))
    writer = KafkaWriter(kafka.bootstrap_servers)
    writer.write_many(f"knative-broker-{namespace}-default", [_event(0)])  # before the Trigger exists: not seen
    init_offsets(kafka.bootstrap_servers, trigger_groups(eventing))  # the Trigger is created here
    writer.write_many(f"knative-broker-{namespace}-default", [_event(n) for n in range(1, 21)])
    writer.close()
    # the consumer group joins only now, after the 20 events: it must start at its committed offsets
    plane(broker_yaml(namespace) + trigger_yaml(namespace, "sub", "  filter: {attributes: {}}"),
          {"sub": sub.url})
    received = sub.wait_for(20)
    ids = sorted(r.headers["ce-id"] for r in received)
    assert ids == sorted(f"e{n}" for n in range(1, 21))


def test_initial_offsets_are_committed_once_and_kept_afterwards(namespace, kafka):
    eventing = _eventing(namespace)
    ensure_topics(kafka.bootstrap_servers, wanted_topics(eventing))
    (group, topic), = trigger_groups(eventing).items()
    first = init_offsets(kafka.bootstrap_servers, {group: topic})
    assert first == {group: {0: 0, 1: 0, 2: 0}}
    assert _committed(kafka.bootstrap_servers, group, topic) == {0: 0, 1: 0, 2: 0}
    writer = KafkaWriter(kafka.bootstrap_servers)
    writer.write_many(topic, [_event(n) for n in range(9)])
    writer.close()
    # a restart of the data plane: the group has offsets, which must not move to the new end
    assert init_offsets(kafka.bootstrap_servers, {group: topic}) == {}
    assert _committed(kafka.bootstrap_servers, group, topic) == {0: 0, 1: 0, 2: 0}


def test_lag_counts_what_a_trigger_has_not_delivered_yet(plane, namespace, kafka, subscriber):
    from udaconnect.events.kafka_client import trigger_lag

    eventing = _eventing(namespace)
    ensure_topics(kafka.bootstrap_servers, wanted_topics(eventing))
    groups = trigger_groups(eventing)
    init_offsets(kafka.bootstrap_servers, groups)
    writer = KafkaWriter(kafka.bootstrap_servers)
    writer.write_many(f"knative-broker-{namespace}-default", [_event(n) for n in range(7)])
    writer.close()
    assert trigger_lag(kafka.bootstrap_servers, groups) == dict.fromkeys(groups, 7)
    sub = subscriber()
    plane(broker_yaml(namespace) + trigger_yaml(namespace, "sub", "  filter: {attributes: {}}"), {"sub": sub.url})
    assert len(sub.wait_for(7)) == 7
    deadline = time.monotonic() + 10
    while trigger_lag(kafka.bootstrap_servers, groups) != dict.fromkeys(groups, 0):
        assert time.monotonic() < deadline, "the delivered events were never committed"
        time.sleep(0.2)
