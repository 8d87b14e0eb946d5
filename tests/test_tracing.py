"""Tracing on (OTEL_EXPORTER_OTLP_ENDPOINT set), on a whole local stack exporting to a collector of the test's own:
one phone's POST is one trace, from the gateway through ingest, Kafka and the broker's delivery to persist's commit
and, on location.stored, encounters' detection; each span the child of the one before it, across the events."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import text

from udaconnect.ports import free_port
from udaconnect_dev.localstack import LocalStack

TRACE = "0af7651916cd43dd8448eb211c80319c"
PHONE_SPAN = "b7ad6b7169203331"


class Collector(ThreadingHTTPServer):
    """An OTLP/HTTP receiver: every span it was sent (protobuf ExportTraceServiceRequest at /v1/traces)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _Receive)
        self.spans: list[dict] = []
        self.lock = threading.Lock()


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = ExportTraceServiceRequest.FromString(body)
        found = []
        for resource in request.resource_spans:
            service = next(a.value.string_value for a in resource.resource.attributes if a.key == "service.name")
            for scope in resource.scope_spans:
                found += [{"service": service, "name": s.name, "trace": s.trace_id.hex(), "id": s.span_id.hex(),
                           "parent": s.parent_span_id.hex()} for s in scope.spans]
        with self.server.lock:
            self.server.spans.extend(found)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def traced(postgres_server: str) -> Iterator[tuple[LocalStack, Collector]]:
    from tests.conftest import create_database

    settings = create_database(postgres_server, "udaconnect_tracing")
    from udaconnect.storage import database

    with database.engine(settings).begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES ('Ann', 'A', 'A')"))
    collector = Collector()
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    saved = {name: os.environ.get(name) for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_BSP_SCHEDULE_DELAY")}
    os.environ.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{collector.server_port}",
                      OTEL_BSP_SCHEDULE_DELAY="100")
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=settings.data_dir / "logs")
    try:
        stack.start()
        yield stack, collector
    finally:
        stack.stop()
        collector.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_one_report_is_one_trace_from_the_phone_to_encounters(traced: tuple[LocalStack, Collector]) -> None:
    stack, collector = traced
    with urllib.request.urlopen(urllib.request.Request(
            stack.api_url + "/api/persons/1/devices", method="POST", data=b'{"name": "phone"}',
            headers={"Authorization": f"Bearer {stack.token('attendee', 1)}", "Content-Type": "application/json"}),
            timeout=30) as reply:
        device = json.loads(reply.read())
    now = datetime.now(UTC) - timedelta(minutes=1)
    event = {"specversion": "1.0", "id": "traced-1", "source": f"/devices/{device['device_id']}",
             "type": "io.udaconnect.location.reported.v1", "datacontenttype": "application/json",
             "data": {"person_id": 1, "longitude": -122.4, "latitude": 37.78, "recorded_at": now.isoformat(),
                      "accuracy": 6.0}}
    request = urllib.request.Request(stack.api_url + "/api/events", method="POST", data=json.dumps(event).encode(),
                                     headers={"Authorization": f"Bearer {device['token']}",
                                              "Content-Type": "application/cloudevents+json",
                                              "traceparent": f"00-{TRACE}-{PHONE_SPAN}-01"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 202

    def spans() -> dict[tuple[str, str], dict]:
        with collector.lock:
            return {(s["service"], s["name"]): s for s in collector.spans if s["trace"] == TRACE}

    deadline = time.monotonic() + 60
    while ("udaconnect-encounters", "encounters detect") not in spans():
        assert time.monotonic() < deadline, f"spans of the trace so far: {sorted(spans())}"
        time.sleep(0.2)
    found = spans()
    gateway = found[("udaconnect-gateway", "POST gateway report-events")]
    ingest = found[("udaconnect-ingest", "POST ingest report-events")]
    persist = found[("udaconnect-persist", "POST persist events")]
    commit = found[("udaconnect-persist", "persist commit")]
    encounters = found[("udaconnect-encounters", "POST encounters events")]
    detect = found[("udaconnect-encounters", "encounters detect")]
    assert gateway["parent"] == PHONE_SPAN
    assert ingest["parent"] == gateway["id"]  # the gateway sends its own span's context on
    assert persist["parent"] == ingest["id"]  # through the event: ce_traceparent over Kafka, the broker's delivery
    assert commit["parent"] == persist["id"]
    assert encounters["parent"] == persist["id"]  # through location.stored, persist's reply
    assert detect["parent"] == encounters["id"]
    for name in ("ingest", "persist", "encounters"):
        log = (stack.settings.data_dir / "logs" / f"{name}.log").read_text()
        assert f"trace_id={TRACE}" in log, name
