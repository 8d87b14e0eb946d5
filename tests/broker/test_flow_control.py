"""Pausing a busy partition never stops its delivery: batched load through a small buffer reaches the subscriber."""

from __future__ import annotations

import dataclasses
import time
import uuid

from tests.broker.conftest import FAST, broker_yaml, trigger_yaml

from udaconnect.events.event import Event
from udaconnect.events.kafka_publisher import KafkaPublisher
from udaconnect_dev.broker.dataplane import DataPlane
from udaconnect_dev.broker.kafka_adapter import release_parked
from udaconnect_dev.broker.loader import load_text
from udaconnect_dev.broker.resolver import Resolver

UNORDERED = "{kafka.eventing.knative.dev/delivery.order: unordered}"


def _events(count: int) -> list[Event]:
    return [
        Event(
            {
                "specversion": "1.0",
                "id": f"e{n}",
                "source": "/devices/d",
                "type": "io.test.v1",
                "partitionkey": str(n % 97),
                "datacontenttype": "application/json",
            },
            b'{"n": %d, "pad": "%s"}' % (n, b"x" * 200),
        )
        for n in range(count)
    ]


def test_a_trigger_delivers_every_batched_event_while_flow_control_pauses_partitions(kafka, namespace, subscriber):
    # A buffer of 20 records a partition pauses fetching at once, while kafka-python still holds
    # half-returned records: before release_parked, delivery stopped for good with records left in the topic.
    sub = subscriber(lambda r: (time.sleep(0.002), (204, {}, b""))[1])
    eventing = load_text(broker_yaml(namespace, sink=False) + trigger_yaml(namespace, "sink", "", UNORDERED))
    dp = DataPlane(
        eventing,
        kafka.bootstrap_servers,
        Resolver({"sink": sub.url}, eventing.sinks, env={}),
        port=0,
        tuning=dataclasses.replace(FAST, buffer_per_partition=20, workers=8, stall_after=2.0),
        write_timeout=3.0,
    )
    dp.start()
    publisher = KafkaPublisher(kafka.bootstrap_servers, f"knative-broker-{namespace}-default")
    try:
        events = _events(6000)
        for start in range(0, len(events), 100):  # as ingest publishes a batched POST
            publisher.publish(events[start : start + 100])
        received = sub.wait_for(len(events), timeout=40)
        ids = {r.headers["ce-id"] for r in received}
        [status] = dp.status()["triggers"]
        assert len(ids) == len(events), f"{len(events) - len(ids)} accepted events never delivered: {status}"
        # the subscriber records a request before it answers: the dispatcher counts it once the answer is back
        deadline = time.monotonic() + 10
        while status["counts"].get("delivered", 0) < len(events) and time.monotonic() < deadline:
            time.sleep(0.05)
            [status] = dp.status()["triggers"]
        assert status["stalls"] == 0 and status["counts"] == {"delivered": len(events)}
    finally:
        publisher.close()
        dp.stop()


def test_release_parked_lets_a_resumed_partition_fetch_again(kafka):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"t{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    admin.create_topics([NewTopic(topic, 4, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    for n in range(8000):
        producer.send(topic, key=str(n).encode(), value=b"x" * 300)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()])
        consumer.seek_to_beginning()
        # Pause every partition that returned records (usually half of what was fetched) for three polls.
        total, polls, paused_at, last = 0, 0, {}, time.monotonic()
        while total < 8000 and time.monotonic() - last < 5:
            polls += 1
            consumer.resume(*[tp for tp in consumer.paused() if polls - paused_at[tp] >= 3])
            batches = consumer.poll(timeout_ms=100)
            release_parked(consumer)
            for tp, records in batches.items():
                total += len(records)
                last = time.monotonic()
                consumer.pause(tp)
                paused_at[tp] = polls
        assert total == 8000
    finally:
        consumer.close()
