"""Operators see the flow (issue 29), on a whole local stack: after a known load, each function's /metrics (its own
port) counts exactly what was posted, refused, stored, kept apart and opened; the logs hold one line per request
with its route template, and no token, query string or coordinate."""

from __future__ import annotations

import json
import math
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from udaconnect_dev.localstack import LocalStack

A, B = 1, 2
#: Where A and B meet; T (10 km east) is where A's third fix claims A was a second later.
Q = (-122.40162, 37.78365)
T = (Q[0] + 10_000 / (111_320 * math.cos(math.radians(Q[1]))), Q[1])
#: Set again once the module's stack runs: a module constant dates from collection, which a long suite leaves more
#: than UDACONNECT_MAX_FIX_AGE behind (the fixes were counted late).
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


@pytest.fixture(scope="module")
def stack(postgres_server: str) -> Iterator[tuple[LocalStack, Engine]]:
    from tests.conftest import create_database

    from udaconnect.ports import free_port
    from udaconnect.storage import database

    settings = create_database(postgres_server, "udaconnect_telemetry")
    engine = database.engine(settings)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES ('Ann', 'A', 'A'), "
                          "('Ben', 'B', 'B')"))
    saved = os.environ.pop("UDACONNECT_MAX_FIX_AGE", None)  # the real default: these fixes are minutes old
    stack = LocalStack(settings, api_port=free_port(), web_port=free_port(), log_dir=settings.data_dir / "logs")
    try:
        stack.start()
        global NOW  # noqa: PLW0603 - the module's clock, read when the stack is up
        NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        yield stack, engine
    finally:
        stack.stop()
        if saved is not None:
            os.environ["UDACONNECT_MAX_FIX_AGE"] = saved


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        found = reply.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(found) for sample in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def call(stack: LocalStack, method: str, path: str, token: str | None, body: object = None,
         content_type: str = "application/json") -> tuple[int, object]:
    headers = {"Content-Type": content_type, **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(stack.api_url + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            raw = reply.read()
            return reply.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def enrolled(stack: LocalStack, person_id: int) -> tuple[str, str]:
    status, body = call(stack, "POST", f"/api/persons/{person_id}/devices", stack.token("attendee", person_id),
                        {"name": "phone"})
    assert status == 201, body
    return f"/devices/{body['device_id']}", body["token"]  # type: ignore[index]


def upload(source: str, person_id: int, points: list[tuple[tuple[float, float], datetime]], tag: str) -> dict:
    """One multi-fix event: its fixes judged together, in time order (one delivery, one group)."""
    return {"specversion": "1.0", "id": tag, "source": source, "type": "io.udaconnect.locations.reported.v1",
            "datacontenttype": "application/json",
            "data": {"person_id": person_id, "fixes": [{"longitude": x, "latitude": y, "recorded_at": at.isoformat(),
                                                        "accuracy": 5.0} for (x, y), at in points]}}


def wait_for(check, what: str, seconds: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT (SELECT count(*) FROM location), (SELECT count(*) FROM "
                                       "location_untrusted), (SELECT count(*) FROM encounter)")).one())  # type: ignore


def test_metrics_count_a_known_load_and_logs_name_routes_without_secrets(stack: tuple[LocalStack, Engine]) -> None:
    running, engine = stack
    metrics = running.metrics
    assert set(metrics) >= {"persons", "connections", "ingest", "persist", "encounters", "gateway", "web"}
    addresses = json.loads((running.settings.data_dir / "stack.json").read_text())["metrics"]
    assert addresses == metrics
    a_source, a_token = enrolled(running, A)
    b_source, b_token = enrolled(running, B)

    # A: three fixes, the third 10 km away a second after the second (implausible); B: one beside A's first
    three = [(Q, NOW), (Q, NOW + timedelta(seconds=30)), (T, NOW + timedelta(seconds=31))]
    assert call(running, "POST", "/api/events", a_token, upload(a_source, A, three, "a-1"),
                "application/cloudevents+json")[0] == 202
    assert call(running, "POST", "/api/events", b_token, upload(b_source, B, [(Q, NOW + timedelta(seconds=10))],
                                                                 "b-1"), "application/cloudevents+json")[0] == 202
    # refused: a latitude out of range (400), no token (401)
    bad = upload(a_source, A, [((Q[0], 200.0), NOW)], "a-bad")
    assert call(running, "POST", "/api/events", a_token, bad, "application/cloudevents+json")[0] == 400
    assert call(running, "POST", "/api/events", None, upload(a_source, A, three, "a-2"),
                "application/cloudevents+json")[0] == 401
    wait_for(lambda: counts(engine) == (3, 1, 1), "3 trusted fixes, 1 kept apart and 1 encounter")
    status, _ = call(running, "GET", f"/api/persons/{A}/connection?start_date=2020-01-01&end_date=2030-01-01&"
                     "distance=5", running.token("attendee", A))
    assert status == 200

    ingest = scrape(metrics["ingest"])
    assert value(ingest, "udaconnect_ingest_fixes_accepted_total") == 4
    assert value(ingest, "udaconnect_ingest_fixes_late_total") == 0
    assert value(ingest, "udaconnect_ingest_refusals_total", reason="invalid") == 1
    assert value(ingest, "udaconnect_ingest_refusals_total", reason="unauthenticated") == 1
    assert value(ingest, "udaconnect_http_requests_total", route="report-events", method="POST", status="202") == 2
    assert value(ingest, "udaconnect_http_request_duration_seconds_count", route="report-events") == 4

    persist = scrape(metrics["persist"])
    assert value(persist, "udaconnect_persist_fixes_total", outcome="stored") == 3
    assert value(persist, "udaconnect_persist_fixes_total", outcome="untrusted") == 1
    assert value(persist, "udaconnect_persist_fixes_untrusted_total", reason="speed") == 1
    assert value(persist, "udaconnect_deliveries_total", outcome="delivered") == 2
    assert value(persist, "udaconnect_persist_group_size_fixes_sum") == 4
    assert value(persist, "udaconnect_persist_commit_duration_seconds_count") >= 1

    encounters = scrape(metrics["encounters"])
    assert value(encounters, "udaconnect_encounters_opened_total") == 1
    assert value(encounters, "udaconnect_deliveries_total", outcome="delivered") == 3  # one per stored fix

    gateway = scrape(metrics["gateway"])
    for code, count in (("202", 2), ("400", 1), ("401", 1)):
        assert value(gateway, "udaconnect_http_requests_total", route="report-events", method="POST",
                     status=code) == count
    assert value(gateway, "udaconnect_http_requests_total", route="devices", method="POST", status="201") == 2
    assert value(gateway, "udaconnect_http_request_duration_seconds_count", route="connections") == 1
    assert value(scrape(metrics["connections"]), "udaconnect_http_requests_total", route="connections",
                 method="GET", status="200") == 1
    assert "udaconnect_persist_fixes_total" not in {name for name, _ in gateway}  # each function its own

    logs = {path.stem: path.read_text() for path in (running.settings.data_dir / "logs").glob("*.log")}
    lines = [line for line in logs["ingest"].splitlines() if "udaconnect.access" in line]
    assert sum("route=report-events" in line and "status=202" in line and "duration_ms=" in line
               for line in lines) == 2, lines
    assert any("route=events" in line and "delivery=delivered" in line for line in logs["persist"].splitlines())
    everything = "\n".join(logs.values())
    for secret in (a_token, b_token, str(Q[0]), str(Q[1]), "start_date="):
        assert secret not in everything


def test_a_live_stream_is_counted_while_open_and_its_token_never_logged(stack: tuple[LocalStack, Engine]) -> None:
    running, _ = stack
    token = running.token("attendee", B)
    url = f"{running.api_url}/api/persons/{B}/encounters/live"
    reply = urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}),
                                   timeout=30)  # noqa: S310 - the stack's own loopback address
    try:
        reply.readline()  # the stream has started
        wait_for(lambda: value(scrape(running.metrics["encounters"]), "udaconnect_live_streams_open") == 1,
                 "the open stream counted", 10)
    finally:
        threading.Thread(target=reply.close, daemon=True).start()
    logs = "\n".join(path.read_text() for path in (running.settings.data_dir / "logs").glob("*.log"))
    assert token not in logs and "access_token" not in logs


def test_the_metrics_are_not_reachable_through_the_gateway(stack: tuple[LocalStack, Engine]) -> None:
    running, _ = stack
    assert call(running, "GET", "/metrics", None)[0] == 404


def test_udaconnect_status_prints_each_functions_metrics(stack: tuple[LocalStack, Engine]) -> None:
    import subprocess
    import sys

    running, _ = stack  # after the known load of the first test
    done = subprocess.run([sys.executable, "-m", "udaconnect.cli", "--data-dir", str(running.settings.data_dir),
                           "status"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if line.startswith("metrics ")}
    assert running.metrics["ingest"] in lines["ingest"]
    assert "fixes accepted 4, late 0, refused requests 2 (invalid 1, unauthenticated 1)" in lines["ingest"]
    assert "fixes 4 (stored 3, untrusted 1), untrusted 1 (speed 1)" in lines["persist"]
    assert "opened 1" in lines["encounters"]


def test_a_reports_trace_context_runs_through_ingest_persist_and_encounters(stack: tuple[LocalStack, Engine]) -> None:
    """Tracing off (no OTLP endpoint): the phone's traceparent is passed on as it came, from ingest's access line
    through the event (ce_traceparent over Kafka) to persist's and, on location.stored, encounters'."""
    running, _ = stack
    source, token = enrolled(running, B)
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    request = urllib.request.Request(
        running.api_url + "/api/events", method="POST",
        data=json.dumps(upload(source, B, [(Q, NOW + timedelta(seconds=40))], "b-traced")).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents+json",
                 "traceparent": f"00-{trace}-00f067aa0ba902b7-01", "tracestate": "vendor=x"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 202
    logs = running.settings.data_dir / "logs"

    def traced(name: str) -> list[str]:
        return [line for line in (logs / f"{name}.log").read_text().splitlines() if f"trace_id={trace}" in line]

    wait_for(lambda: traced("encounters"), "encounters' line with the report's trace id", 60)
    assert [line for line in traced("ingest") if "route=report-events" in line and "status=202" in line]
    assert [line for line in traced("persist") if "event_id=b-traced" in line and "delivery=delivered" in line]
    assert [line for line in traced("encounters") if "event_id=" in line and "route=events" in line]
    assert traced("gateway")  # the gateway's own line names it too
