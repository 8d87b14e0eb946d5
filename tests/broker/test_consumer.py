"""Pausing a busy partition never stops its delivery: batched load through a small buffer reaches the subscriber."""

from __future__ import annotations

import dataclasses
import time

from tests.broker.conftest import FAST, broker_yaml, trigger_yaml

from udaconnect.events.event import Event
from udaconnect.events.kafka_publisher import KafkaPublisher
from udaconnect_dev.broker.dataplane import DataPlane
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
    # A buffer of 20 records a partition pauses fetching at once, while the client still holds half-returned
    # records (kafka-python 3.0.x then never resumed such a partition: delivery stopped with records left).
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
