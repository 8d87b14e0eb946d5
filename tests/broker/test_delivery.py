"""Dispatching to subscribers: retry rule and backoff, dead-lettering, drops, replies and timeouts."""

from __future__ import annotations

import base64
import logging
import threading
import time

import pytest
import requests
from tests.broker.conftest import (
    broker_yaml,
    event_of,
    post_event,
    read_topic,
    topic_size,
    trigger_yaml,
    wait_until_judged,
)

from udaconnect_dev.broker.delivery import backoff, is_retryable


def _delivery(
    retry: int, policy: str = "linear", delay: str = "PT0.2S", timeout: str = "PT5S", dead_letter: bool = True
) -> str:
    sink = "\n    deadLetterSink: {ref: {apiVersion: eventing.knative.dev/v1alpha1, kind: KafkaSink, name: dead}}"
    return (
        f"  delivery:\n    retry: {retry}\n    backoffPolicy: {policy}\n    backoffDelay: {delay}\n"
        f"    timeout: {timeout}" + (sink if dead_letter else "") + "\n"
    )


def _counted(failures: int, status: int):
    calls = {"n": 0}

    def respond(_request):
        calls["n"] += 1
        return (status, {}, b"busy") if calls["n"] <= failures else (204, {}, b"")

    return respond


@pytest.mark.parametrize(
    "status, expected",
    [
        (500, True),
        (503, True),
        (404, True),
        (408, True),
        (409, True),
        (429, True),
        (None, True),
        (400, False),
        (401, False),
        (403, False),
        (413, False),
        (422, False),
    ],
)
def test_retry_rule(status, expected):
    assert is_retryable(status) is expected


def test_backoff_policies():
    assert [backoff("linear", 0.5, n) for n in (1, 2, 3)] == [0.5, 1.0, 1.5]
    assert [backoff("exponential", 0.5, n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


def test_retryable_failures_are_retried_with_backoff_then_delivered(plane, namespace, subscriber):
    linear, exponential = subscriber(_counted(2, 503)), subscriber(_counted(2, 429))
    dp = plane(
        broker_yaml(namespace)
        + trigger_yaml(namespace, "linear", _delivery(3, "linear", "PT0.2S"))
        + trigger_yaml(namespace, "exponential", _delivery(3, "exponential", "PT0.1S")),
        {"linear": linear.url, "exponential": exponential.url},
    )
    assert post_event(f"{dp.url}/{namespace}/default", "retry-1") == 202
    for sub in (linear, exponential):
        got = sub.wait_for(3)
        assert len(got) == 3 and all(r.headers["ce-id"] == "retry-1" for r in got)
        gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
        # linear: 0.2 x 1, 0.2 x 2; exponential: 0.1 x 2^1, 0.1 x 2^2 (at least that; the upper bound only
        # catches a backoff in the wrong unit)
        assert 0.18 <= gaps[0] < 2 and 0.38 <= gaps[1] < 4, gaps
    wait_until_judged(dp, 1)  # both committed past the event: no fourth attempt can come
    assert len(linear.received) == 3 and len(exponential.received) == 3
    assert topic_size(dp.bootstrap_servers, f"{namespace}-dead") == 0
    status = {t["name"]: t for t in requests.get(f"{dp.url}/status", timeout=5).json()["triggers"]}
    assert status["linear"]["counts"] == {"delivered": 1, "retries": 2} and status["linear"]["ready"]
    assert status["exponential"]["counts"] == {"delivered": 1, "retries": 2}
    assert status["exponential"]["group"] == f"knative-trigger-{namespace}-exponential"


def test_non_retryable_4xx_goes_to_dead_letter_at_once_with_error_extensions(plane, namespace, subscriber, kafka):
    reason = b"unknown person " + b"x" * 2000
    sub = subscriber(lambda r: (400, {"Content-Type": "text/plain"}, reason))
    dp = plane(broker_yaml(namespace) + trigger_yaml(namespace, "persist", _delivery(3)), {"persist": sub.url})
    assert post_event(f"{dp.url}/{namespace}/default", "poison-1", key="9", data=b'{"person_id": 9}') == 202
    [dead] = read_topic(kafka.bootstrap_servers, f"{namespace}-dead", 1)
    event = event_of(dead)
    assert len(sub.received) == 1
    assert event.attributes["id"] == "poison-1" and event.data == b'{"person_id": 9}' and dead.key == b"9"
    assert event.attributes["knativeerrordest"] == sub.url
    assert event.attributes["knativeerrorcode"] == "400"
    assert base64.b64decode(event.attributes["knativeerrordata"]) == reason[:1024]


def test_without_dead_letter_sink_the_event_is_logged_and_dropped(plane, namespace, subscriber, caplog):
    sub = subscriber(lambda r: (422, {}, b"no"))
    dp = plane(
        broker_yaml(namespace, sink=False) + trigger_yaml(namespace, "persist", _delivery(2, dead_letter=False)),
        {"persist": sub.url},
    )
    with caplog.at_level(logging.ERROR, logger="udaconnect_dev.broker.delivery"):
        assert post_event(f"{dp.url}/{namespace}/default", "lost-1") == 202
        deadline = time.monotonic() + 10
        while not dp.routes[0].dispatcher.counts["dropped"] and time.monotonic() < deadline:
            time.sleep(0.02)
    assert dp.routes[0].dispatcher.counts["dropped"] == 1 and len(sub.received) == 1
    assert any("dropping event lost-1" in r.getMessage() for r in caplog.records)


def test_reply_events_are_reingested_and_a_non_event_body_is_a_failure(plane, namespace, subscriber, kafka):
    def reply(request):
        if request.headers["ce-id"] == "ask-2":
            return 200, {"Content-Type": "text/plain"}, b"OK"  # what @functions_framework.cloud_event answers
        assert request.headers["prefer"] == "reply"
        return (
            200,
            {
                "ce-specversion": "1.0",
                "ce-id": "answer-1",
                "ce-source": "/replier",
                "ce-type": "io.test.reply.v1",
                "Content-Type": "application/json",
            },
            b'{"ok": true}',
        )

    asker, listener = subscriber(reply), subscriber()
    dp = plane(
        broker_yaml(namespace)
        + trigger_yaml(namespace, "asker", "  filter: {attributes: {type: io.test.v1}}\n" + _delivery(0))
        + trigger_yaml(namespace, "listener", "  filter: {attributes: {type: io.test.reply.v1}}"),
        {"asker": asker.url, "listener": listener.url},
    )
    url = f"{dp.url}/{namespace}/default"
    assert post_event(url, "ask-1") == 202
    [got] = listener.wait_for(1)
    assert got.headers["ce-id"] == "answer-1" and got.body == b'{"ok": true}'
    assert post_event(url, "ask-2") == 202
    [dead] = read_topic(kafka.bootstrap_servers, f"{namespace}-dead", 1)
    assert event_of(dead).attributes["knativeerrorcode"] == "200"
    assert base64.b64decode(event_of(dead).attributes["knativeerrordata"]) == b"OK"
    assert len(listener.received) == 1


def test_timeout_counts_as_a_retryable_failure(plane, namespace, subscriber, kafka):
    released = threading.Event()

    def slow(_request):
        released.wait(20)  # answers only once the test is over: a dead letter can only come from the timeouts
        return 204, {}, b""

    sub = subscriber(slow)
    dp = plane(
        broker_yaml(namespace) + trigger_yaml(namespace, "slow", _delivery(1, delay="PT0.1S", timeout="PT0.3S")),
        {"slow": sub.url},
    )
    try:
        assert post_event(f"{dp.url}/{namespace}/default", "slow-1") == 202
        [dead] = read_topic(kafka.bootstrap_servers, f"{namespace}-dead", 1)
    finally:
        released.set()
    assert len(sub.received) == 2
    attributes = event_of(dead).attributes
    assert attributes["knativeerrordest"] == sub.url and "knativeerrorcode" not in attributes


def test_an_http_dead_letter_sink_gets_the_event_in_binary_mode_with_error_extensions(plane, namespace, subscriber):
    failing, sink = subscriber(lambda r: (400, {}, b"bad")), subscriber()
    delivery = (
        "  delivery:\n    retry: 1\n    backoffDelay: PT0.1S\n"
        "    deadLetterSink: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: dlq}}\n"
    )
    dp = plane(
        broker_yaml(namespace, sink=False) + trigger_yaml(namespace, "persist", delivery),
        {"persist": failing.url, "dlq": sink.url},
    )
    assert post_event(f"{dp.url}/{namespace}/default", "dlq-1", data=b'{"n": 2}') == 202
    [dead] = sink.wait_for(1)
    assert dead.headers["ce-id"] == "dlq-1" and dead.body == b'{"n": 2}' and "prefer" not in dead.headers
    assert dead.headers["ce-knativeerrorcode"] == "400" and dead.headers["ce-knativeerrordest"] == failing.url
    assert base64.b64decode(dead.headers["ce-knativeerrordata"]) == b"bad"
    assert len(failing.received) == 1  # a 400 is not retried
