"""The HTTP ingress: status codes, and events stored in Kafka binary mode keyed by partitionkey."""

from __future__ import annotations

import base64
import json

import requests
from tests.broker.conftest import broker_yaml, event_of, post_event, read_topic

from udaconnect_dev.broker.consumer import ConsumerTuning
from udaconnect_dev.broker.dataplane import DataPlane
from udaconnect_dev.broker.kafka_server import KafkaServer
from udaconnect_dev.broker.loader import load_text
from udaconnect_dev.broker.resolver import Resolver


def test_status_codes_202_400_404_405(plane, namespace):
    dp = plane(broker_yaml(namespace))
    url = f"{dp.url}/{namespace}/default"
    assert post_event(url, "ok-1") == 202
    # missing ce-source / ce-type
    assert requests.post(url, data=b"{}", headers={"ce-specversion": "1.0", "ce-id": "x"}).status_code == 400
    assert (
        requests.post(url, data=b"{not json", headers={"content-type": "application/cloudevents+json"}).status_code
        == 400
    )
    assert requests.post(url, data=b"plain", headers={"content-type": "text/plain"}).status_code == 400
    assert post_event(f"{dp.url}/{namespace}/other", "x") == 404
    assert post_event(f"{dp.url}/elsewhere/default", "x") == 404
    assert requests.get(url).status_code == 405
    assert requests.put(url, data=b"").status_code == 405
    assert requests.get(f"{dp.url}/health").json() == {"status": "ok"}


def test_binary_and_structured_are_stored_in_kafka_binary_mode_keyed_by_partitionkey(plane, namespace, kafka):
    dp = plane(broker_yaml(namespace))
    url = f"{dp.url}/{namespace}/default"
    assert post_event(url, "bin-1", key="42", data=b'{"person_id": 42}', extra="caf\u00e9 ok") == 202
    structured = {
        "specversion": "1.0",
        "id": "str-1",
        "source": "/devices/d1",
        "type": "io.test.v1",
        "partitionkey": "7",
        "datacontenttype": "application/json",
        "data": {"person_id": 7},
    }
    assert (
        requests.post(
            url, data=json.dumps(structured), headers={"content-type": "application/cloudevents+json"}
        ).status_code
        == 202
    )
    raw = {
        "specversion": "1.0",
        "id": "b64-1",
        "source": "/s",
        "type": "io.test.v1",
        "datacontenttype": "application/octet-stream",
        "data_base64": base64.b64encode(b"\x00\x01").decode(),
    }
    assert requests.post(url, json=raw, headers={"content-type": "application/cloudevents+json"}).status_code == 202

    records = {
        event_of(r).attributes["id"]: r
        for r in read_topic(kafka.bootstrap_servers, f"knative-broker-{namespace}-default", 3)
    }
    assert set(records) == {"bin-1", "str-1", "b64-1"}
    binary = records["bin-1"]
    headers = dict(binary.headers)
    assert binary.key == b"42" and binary.value == b'{"person_id": 42}'
    assert headers["ce_specversion"] == b"1.0" and headers["ce_type"] == b"io.test.v1"
    assert headers["content-type"] == b"application/json"
    assert headers["ce_extra"] == "caf\u00e9 ok".encode()  # percent-decoded from HTTP, raw UTF-8 in Kafka
    structured_record = records["str-1"]
    assert structured_record.key == b"7"
    assert json.loads(structured_record.value) == {"person_id": 7}
    assert dict(structured_record.headers)["ce_source"] == b"/devices/d1"
    assert records["b64-1"].value == b"\x00\x01" and records["b64-1"].key is None


def test_503_when_kafka_is_stopped(namespace):
    with KafkaServer(external="") as private:
        dp = DataPlane(
            load_text(broker_yaml(namespace, sink=False)),
            private.bootstrap_servers,
            Resolver(env={}),
            port=0,
            tuning=ConsumerTuning(),
            write_timeout=2.0,
        )
        dp.start()
        try:
            url = f"{dp.url}/{namespace}/default"
            assert post_event(url, "before") == 202
            private.stop()
            assert post_event(url, "after") == 503
        finally:
            dp.stop()


def test_a_kept_alive_connection_is_refused_once_the_broker_stops(plane, namespace):
    dp = plane(broker_yaml(namespace, sink=False))
    url = f"{dp.url}/{namespace}/default"
    headers = {"ce-specversion": "1.0", "ce-id": "k1", "ce-source": "/s", "ce-type": "io.test.v1"}
    with requests.Session() as session:
        assert session.post(url, data=b"", headers=headers).status_code == 202
        dp.stop()
        try:
            status = session.post(url, data=b"", headers=headers).status_code
        except requests.ConnectionError:
            status = 503  # the listening socket is closed too: equally refused
        assert status == 503
