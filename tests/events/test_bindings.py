"""CloudEvents HTTP and Kafka bindings (udaconnect.events), on the cloudevents SDK."""

from __future__ import annotations

import json

import pytest

from udaconnect.events import InvalidEvent, http_binding, kafka_binding
from udaconnect.events.event import Event

BASE = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/devices/d", "ce-type": "io.t.v1"}


def test_binary_http_round_trip_percent_encodes_header_values():
    event = Event(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "/d",
            "type": "t",
            "note": 'caf\u00e9 "50%"',
            "datacontenttype": "application/json",
        },
        b"{}",
    )
    headers, body = http_binding.to_binary(event)
    assert headers["ce-note"] == "caf%C3%A9%20%2250%25%22" and headers["content-type"] == "application/json"
    assert http_binding.from_http(headers, body) == event


def test_structured_json_data_becomes_bytes_and_implies_json():
    body = json.dumps(
        {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "n": 5, "ok": True, "data": {"a": 1}}
    ).encode()
    event = http_binding.from_http({"Content-Type": "application/cloudevents+json; charset=utf-8"}, body)
    assert event.attributes["datacontenttype"] == "application/json"
    assert event.attributes["n"] == "5" and event.attributes["ok"] == "true"
    assert json.loads(event.data) == {"a": 1}
    text = json.dumps(
        {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "datacontenttype": "text/plain", "data": "hello"}
    ).encode()
    assert http_binding.from_http({"content-type": http_binding.STRUCTURED}, text).data == b"hello"


@pytest.mark.parametrize(
    "headers, body",
    [
        ({**BASE, "ce-specversion": "0.3"}, b""),
        ({k: v for k, v in BASE.items() if k != "ce-id"}, b""),
        ({k: v for k, v in BASE.items() if k != "ce-type"}, b""),
        ({**BASE, "ce-Bad_Name": "x"}, b""),
        ({"content-type": "application/json"}, b"{}"),
        ({"content-type": http_binding.BATCH}, b"[]"),
        ({"content-type": http_binding.STRUCTURED}, b"[1]"),
        (
            {"content-type": http_binding.STRUCTURED},
            b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data_base64": "***"}',
        ),
        ({"content-type": http_binding.STRUCTURED}, b'{"specversion": "1.0", "id": "1", "source": "/s", "type": {}}'),
    ],
)
def test_invalid_events(headers, body):
    with pytest.raises(InvalidEvent):
        http_binding.from_http(headers, body)


def test_kafka_binary_mode_headers_key_and_value():
    event = Event(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "/s",
            "type": "t",
            "partitionkey": "42",
            "datacontenttype": "application/json",
        },
        b'{"a": 1}',
    )
    record = kafka_binding.to_binary(event)
    assert record.key == b"42" and record.value == b'{"a": 1}'
    assert record.headers == {"content-type": b"application/json", "ce_specversion": b"1.0", "ce_id": b"1",
                              "ce_source": b"/s", "ce_type": b"t", "ce_partitionkey": b"42"}
    assert kafka_binding.from_binary(record) == event
    assert kafka_binding.to_binary(Event({"id": "1"}, None)) == ({"ce_id": b"1"}, None, None)


def test_kafka_headers_not_utf8_or_null_are_read():
    message = kafka_binding.KafkaMessage({"ce_id": b"\xff", "ce_source": None}, None, b"x")  # type: ignore[dict-item]
    assert kafka_binding.from_binary(message) == Event({"id": "\ufffd", "source": ""}, b"x")


def test_the_sdk_reads_our_event():
    from cloudevents.conversion import to_dict

    event = Event({"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}, b"{}")
    assert to_dict(event) == {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": b"{}"}
    assert event and "id" in event and event["type"] == "t"


def test_reply_detection():
    assert http_binding.is_cloudevent({"Ce-Specversion": "1.0"})
    assert http_binding.is_cloudevent({"Content-Type": "application/cloudevents+json"})
    assert not http_binding.is_cloudevent({"Content-Type": "text/plain"})
