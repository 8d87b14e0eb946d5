"""Simulated phones against a real ingest process: buffered fixes go up every k seconds as one multi-fix event."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from bearer import VERIFIER_ENV, token
from ingest.conftest import read_topic
from udaconnect.contracts.names import LOCATIONS_REPORTED
from udaconnect.ports import free_port
from udaconnect_dev.localstack import function_command
from udaconnect_dev.simulator import Credential, Simulator


@pytest.fixture
def ingest_url(kafka) -> Iterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "UDACONNECT_PUBLISHER": "kafka",
           **VERIFIER_ENV}
    process = subprocess.Popen(function_command("ingest", port), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "ingest did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/api/events"
    finally:
        process.terminate()
        process.wait(10)


def test_phones_upload_their_buffered_fixes_every_k_seconds_as_one_event(ingest_url: str, kafka) -> None:
    ids = [str(uuid.uuid4()) for _ in range(4)]  # ingest checks the signed token only: no enrolment needed here
    phones = [Credential(d, token(role="device", person_id=p, device_id=d))
              for p, d in zip([1, 2, 3, 4], ids, strict=True)]
    sim = Simulator(ingest_url, [1, 2, 3, 4], devices=4, rate=40, buffer_seconds=0.5, workers=2, record=True,
                    credentials=phones)
    stats = sim.run(duration=1.6)
    # 4 phones x 10 fixes/s, each uploading every 0.5 s: 5 fixes an upload, 3 uploads each within 1.6 s
    assert stats.refused == stats.failed == 0 and len(sim.accepted) == 12 and stats.sent == 60
    found = read_topic(kafka.bootstrap_servers, {e["id"] for e in sim.accepted})
    assert len(found) == 12
    for event in sim.accepted:
        key, record, _ = found[event["id"]]
        data = json.loads(record.data)
        assert record.attributes["type"] == LOCATIONS_REPORTED and key == str(data["person_id"]).encode()
        times = [f["recorded_at"] for f in data["fixes"]]
        assert len(times) == 5 and times == sorted(times)
    assert {e["source"] for e in sim.accepted} == {f"/devices/{d}" for d in ids}


def test_realistic_phones_upload_valid_multi_fix_events_when_the_model_says() -> None:
    import random
    from datetime import UTC, datetime

    from udaconnect.contracts.events import LocationsReported
    from udaconnect_dev.simulator import Device

    sim = Simulator("http://unused", [1, 2, 3], devices=3, phones=True)
    devices = [Device(f"d{p}", p, 0.0, 0.0) for p in (1, 2, 3)]
    begin = datetime.now(UTC)
    uploads = sim.phone_uploads(devices, begin, 1800, random.Random(1))
    assert [due for due, _, _ in uploads] == sorted(due for due, _, _ in uploads) and len(uploads) > 3 * 20
    for due, device, events in uploads:
        for event in events:
            report = LocationsReported.model_validate(event["data"])
            assert event["source"] == f"/devices/{device.device_id}" and report.person_id == device.person_id
            assert begin <= report.fixes[0].recorded_at and report.fixes[-1].recorded_at < due
