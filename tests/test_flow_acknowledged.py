"""A 202 is a promise, through the whole flow: ingest's 202 for a fix Kafka answered "duplicate" for without storing
it (tansu's state after a produce it counted but did not write: tests/events/test_kafka_placed.py) still ends as
one row in PostGIS.

ingest runs in-process here (its Kafka producer is the one brought to that state); Kafka (tansu), the broker, persist
and PostgreSQL/PostGIS are the stack's own processes.
"""

# ruff: noqa: F811 - the module-scoped fixtures imported below are taken as arguments under their own names

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from test_flow import engine, postgres, stack, wait_for  # noqa: F401 - fixtures of a stack of our own
from udaconnect.settings import PROJECT_ROOT
from udaconnect_dev.localstack import LocalStack
from udaconnect_dev.simulator import enrol


def _report(person_id: int, source: str) -> tuple[str, dict[str, str], bytes]:
    event_id = str(uuid.uuid4())
    headers = {"ce-specversion": "1.0", "ce-id": event_id, "ce-source": source,
               "ce-type": "io.udaconnect.location.reported.v1", "Content-Type": "application/json"}
    body = json.dumps({"person_id": person_id, "latitude": 37.5536, "longitude": -122.2909,
                       "recorded_at": datetime.now(UTC).isoformat()}).encode()
    return event_id, headers, body


def _stored(engine: Engine, event_id: str) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(text(
            "SELECT count(*) FROM (SELECT event_id FROM location UNION ALL SELECT event_id FROM location_untrusted) s "
            "WHERE event_id = :id"), {"id": event_id}).scalar())


def test_a_202_for_a_fix_kafka_answered_duplicate_for_ends_as_a_row(stack: LocalStack, engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from functions_framework import create_app
    from kafka import TopicPartition
    from starlette.testclient import TestClient

    from udaconnect import bootstrap
    from udaconnect.auth import keys
    from udaconnect.events import publisher

    assert stack.kafka is not None
    env = {**keys.environment(stack.settings, delivery=True), "KAFKA_BOOTSTRAP_SERVERS": stack.kafka.bootstrap_servers,
           "UDACONNECT_PUBLISHER": "kafka", "UDACONNECT_PUBLISH_TIMEOUT": "10",
           "UDACONNECT_UPSTREAM_PERSONS": stack.processes["persons"].url,
           "UDACONNECT_REVOCATIONS_TOKEN_FILE": str(stack.ingest_credential())}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    publisher.for_settings.cache_clear()
    bootstrap.reset()
    try:
        phone = enrol(stack.api_url, 1, stack.token())
        source = f"/devices/{phone.device_id}"
        client = TestClient(create_app("ingest", str(PROJECT_ROOT / "functions" / "main.py")),
                            headers={"Authorization": f"Bearer {phone.token}"})
        first, headers, body = _report(1, source)
        assert client.post("/", headers=headers, content=body).status_code == 202
        wait_for(lambda: _stored(engine, first), 60, "the first fix's row")
        # Kafka counted the producer's last sequence on each partition it wrote for a batch it never stored
        producer = bootstrap.context().publisher._producer
        manager = producer._transaction_manager
        for partition in producer.partitions_for(stack.settings.broker_topic):
            tp = TopicPartition(stack.settings.broker_topic, partition)
            if manager.sequence_number(tp) > 0:
                manager.set_sequence_number(tp, manager.sequence_number(tp) - 1)
        promised, headers, body = _report(1, source)
        assert client.post("/", headers=headers, content=body).status_code == 202
        wait_for(lambda: _stored(engine, promised), 60, "a row for the fix ingest answered 202 for")
    finally:
        bootstrap.reset()
        publisher.for_settings.cache_clear()
