"""Ordered and unordered delivery, and offsets committed only past finished deliveries."""

from __future__ import annotations

import random
import threading
import time

import requests
from tests.broker.conftest import broker_yaml, post_event, trigger_yaml

from udaconnect_dev.broker.offsets import PartitionTracker

ORDERED = "{kafka.eventing.knative.dev/delivery.order: ordered}"
UNORDERED = "{kafka.eventing.knative.dev/delivery.order: unordered}"


def _jittery(concurrency: dict[str, int], low: float = 0.0, high: float = 0.03):
    lock = threading.Lock()

    def respond(_request):
        with lock:
            concurrency["now"] += 1
            concurrency["max"] = max(concurrency["max"], concurrency["now"])
        time.sleep(random.uniform(low, high))
        with lock:
            concurrency["now"] -= 1
        return 204, {}, b""

    return respond


def test_ordered_keeps_each_keys_order_and_unordered_runs_concurrently(plane, namespace, subscriber):
    ordered_load, unordered_load = {"now": 0, "max": 0}, {"now": 0, "max": 0}
    ordered, unordered = subscriber(_jittery(ordered_load)), subscriber(_jittery(unordered_load, 0.05, 0.1))
    dp = plane(
        broker_yaml(namespace)
        + trigger_yaml(namespace, "ordered", "", ORDERED)
        + trigger_yaml(namespace, "unordered", "", UNORDERED),
        {"ordered": ordered.url, "unordered": unordered.url},
    )
    url = f"{dp.url}/{namespace}/default"
    sent: dict[str, list[str]] = {}
    with requests.Session() as session:
        for n in range(60):
            key = str(n % 4)
            sent.setdefault(key, []).append(f"e{n}")
            headers = {
                "ce-specversion": "1.0",
                "ce-id": f"e{n}",
                "ce-source": "/t",
                "ce-type": "io.test.v1",
                "ce-partitionkey": key,
            }
            assert session.post(url, data=b"", headers=headers).status_code == 202
    for sub in (ordered, unordered):
        assert len(sub.wait_for(60)) == 60
    received: dict[str, list[str]] = {}
    for request in ordered.received:
        received.setdefault(request.headers["ce-partitionkey"], []).append(request.headers["ce-id"])
    assert received == sent
    # 4 keys over 3 partitions: at most one delivery per partition at a time when ordered
    assert ordered_load["max"] <= 3
    assert unordered_load["max"] > 3


def _wait(condition, what: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_an_unfinished_event_is_redelivered_after_a_restart(plane, namespace, subscriber):
    """The offset of an event still being retried is never committed, even when later ones finished."""
    stuck = subscriber(lambda r: (503, {}, b"") if r.headers["ce-id"] == "first" else (204, {}, b""))
    delivery = "  delivery: {retry: 100, backoffPolicy: linear, backoffDelay: PT0.1S}"
    spec = broker_yaml(namespace) + trigger_yaml(namespace, "persist", delivery, UNORDERED)
    dp = plane(spec, {"persist": stuck.url})
    url = f"{dp.url}/{namespace}/default"
    for event_id in ("first", "second", "third"):
        assert post_event(url, event_id, key="same") == 202
    stuck.wait_for(4)
    assert {"second", "third"} <= {r.headers["ce-id"] for r in stuck.received}
    (route,) = dp.routes
    _wait(lambda: route.dispatcher.counts["delivered"] >= 2, "second and third delivered")
    # a commit round that began after both finished: the moment to (wrongly) pass "first", if it ever would
    last = route.consumer.committer._last
    _wait(lambda: route.consumer.committer._last > last, "a commit round after they finished")
    dp.stop()

    healthy = subscriber()
    plane(spec, {"persist": healthy.url})
    redelivered = [r.headers["ce-id"] for r in healthy.wait_for(3)]
    assert sorted(redelivered) == ["first", "second", "third"]  # unordered: any order


def test_partition_tracker_commits_up_to_the_lowest_unfinished_offset():
    tracker = PartitionTracker(max_in_flight=2)
    assert tracker.committable() is None
    for offset in (10, 11, 12):
        tracker.add(offset, f"e{offset}")
    tracker.skip(13)  # filtered out
    assert [o for o, _ in tracker.startable()] == [10, 11]  # bounded concurrency
    assert tracker.committable() == 10
    tracker.finish(11)
    assert tracker.committable() == 10  # 10 still running
    assert [o for o, _ in tracker.startable()] == [12]
    tracker.finish(10)
    assert tracker.committable() == 12
    tracker.finish(12)
    assert tracker.committable() == 14 and tracker.size == 0


def test_ordered_tracker_starts_one_at_a_time():
    tracker = PartitionTracker(max_in_flight=1)
    tracker.add(0, "a")
    tracker.add(1, "b")
    assert [o for o, _ in tracker.startable()] == [0]
    assert tracker.startable() == []
    tracker.finish(0)
    assert [o for o, _ in tracker.startable()] == [1]
