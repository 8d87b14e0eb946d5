"""A closed-loop HTTP load: C keep-alive connections each POST prepared requests back to back, timing each one.

The devices' side of a benchmark must cost the machine as little as possible (it shares 2 cores with what it
measures): requests are encoded before the clock starts and sent by one asyncio loop over raw HTTP/1.1.

With `credentials` (one Credential per person, person i at index i - 1) each request is one device's, as a real
phone's is: its person's fixes, its own source, its own bearer token; without, requests mix persons and carry no
token (UDACONNECT_AUTH=open, or an organizer's `token`).

A device's fixes are also one plausible track across the whole run (TRACK_SPACING apart, each 0.11 m from the
last, the first TRACK_START before the run began): persist believes every one of them (udaconnect.plausibility),
so a benchmark measures the genuine fixes' path, not its refusals. Fixes 0.1 s apart at other points, as all of
one person's requests once were, are a burst to it: kept in location_untrusted, never in `location`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from udaconnect.contracts.names import LOCATION_REPORTED, LOCATIONS_REPORTED


@dataclass
class Result:
    events: int = 0
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    started: float = 0.0  # monotonic time the first request was due
    latencies: list[float] = field(default_factory=list)
    sent: dict[str, float] = field(default_factory=dict)  # fix key -> monotonic time its POST began
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


@dataclass(frozen=True)
class Credential:
    """A device's id (its source is /devices/<id>) and bearer token ("": send none, e.g. auth open)."""

    device_id: str
    token: str


def credentials(settings, persons: int) -> list[Credential]:  # noqa: ANN001 - a Settings with a signing key
    """One device token per person 1..persons, signed with `settings`' key (ingest checks the signature only;
    persist also wants each device enrolled: udaconnect.queries.devices)."""
    from datetime import timedelta

    from udaconnect.auth import issue

    out = []
    for person_id in range(1, persons + 1):
        device = str(uuid.uuid4())
        out.append(Credential(device, issue(settings, "device", person_id=person_id, device_id=device,
                                            ttl=timedelta(hours=12))))
    return out


#: Each device's fixes in this run: one every TRACK_SPACING, from TRACK_START before its first request was prepared.
#: `bench ingest` sends ~770 fixes a person (19 min of track) over 10+ minutes: its last ones are in the past
#: when sent and its first ones well within UDACONNECT_MAX_FIX_AGE (30 min), never late.
TRACK_SPACING = timedelta(seconds=1.5)
TRACK_START = timedelta(minutes=15)
_tracks: dict[int, tuple[datetime, int]] = {}  # person -> (their track's start, fixes taken so far)


def reset_tracks() -> None:
    """Every device's next fixes start again TRACK_START ago: for a bench that only measures ingest (nothing
    stores them) and sends more than TRACK_START / TRACK_SPACING fixes per person, which would reach the future."""
    _tracks.clear()


def track(person_id: int, fixes: int) -> list[tuple[datetime, float]]:
    """The next `fixes` (recorded_at, latitude) of `person_id`'s track in this run: TRACK_SPACING apart (no burst),
    1e-6 degrees (0.11 m) apart (no speed); the longitude is the same throughout."""
    start, taken = _tracks.setdefault(person_id, (datetime.now(UTC) - TRACK_START, 0))
    _tracks[person_id] = (start, taken + fixes)
    return [(start + TRACK_SPACING * k, 37.5536 + person_id * 1e-5 + k * 1e-6) for k in range(taken, taken + fixes)]


@dataclass(frozen=True)
class Prepared:
    ids: list[str]
    message: bytes  # the whole HTTP request


def event(person_id: int, device: int, source: str = "",
          fix: tuple[datetime, float] | None = None) -> tuple[str, dict]:
    """A single-fix event: now at the device's spot, or `fix` (recorded_at, latitude) of a track."""
    at, latitude = fix or (datetime.now(UTC), 37.5536 + device * 1e-5)
    event_id = str(uuid.uuid4())
    return event_id, {"specversion": "1.0", "id": event_id, "source": source or f"/devices/bench-{device}",
                      "type": LOCATION_REPORTED, "datacontenttype": "application/json",
                      "data": {"person_id": person_id, "latitude": latitude,
                               "longitude": -122.2909, "recorded_at": at.isoformat()}}


def fix_key(event_id: str, index: int = 0) -> str:
    """How a benchmark names a fix: its event's id, and `#index` past a multi-fix event's first fix."""
    return f"{event_id}#{index}" if index else event_id


def phone_upload(person_id: int, device: int, fixes: int, period: float = 5.0,
                 source: str = "", on: list[tuple[datetime, float]] | None = None) -> tuple[list[str], dict]:
    """A phone's upload: `fixes` fixes taken over the last `period` seconds, as one multi-fix event; or the fixes
    `on` a track (recorded_at, latitude)."""
    now = datetime.now(UTC)
    event_id = str(uuid.uuid4())
    on = on or [(now - timedelta(seconds=period * (fixes - 1 - i) / fixes), 37.5536 + device * 1e-5 + i * 1e-6)
                for i in range(fixes)]
    taken = [{"latitude": latitude, "longitude": -122.2909, "accuracy": 5.0, "recorded_at": at.isoformat()}
             for at, latitude in on]
    return [fix_key(event_id, i) for i in range(fixes)], {
        "specversion": "1.0", "id": event_id, "source": source or f"/devices/bench-{device}",
        "type": LOCATIONS_REPORTED,
        "datacontenttype": "application/json", "data": {"person_id": person_id, "fixes": taken}}


def request(events: list[dict], token: str = "") -> tuple[dict[str, str], bytes]:
    """Binary mode for one event, batch mode for several; `token` as the bearer when given."""
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    if len(events) == 1:
        e = events[0]
        headers = {f"ce-{k}": str(v) for k, v in e.items() if k not in ("data", "datacontenttype")}
        headers["Content-Type"] = "application/json"
        return headers | auth, json.dumps(e["data"]).encode()
    return {"Content-Type": "application/cloudevents-batch+json"} | auth, json.dumps(events).encode()


def encode(url: str, headers: dict[str, str], body: bytes) -> bytes:
    parts = urlsplit(url)
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def prepare(url: str, persons: int, total: int, batch: int, devices: int, fixes: int = 1,
            credentials: Sequence[Credential] = (), token: str = "") -> list[Prepared]:
    """`total` fixes: single-fix events in requests of `batch`, or with `fixes` > 1 phone uploads (one
    multi-fix event of `fixes` fixes a request, binary mode); with `credentials`, each request one device's."""
    out: list[Prepared] = []
    done = 0
    if credentials:
        return _as_devices(url, persons, total, batch, fixes, credentials)
    while fixes > 1 and done < total:
        size = min(fixes, total - done)
        device = len(out) % max(devices, persons)
        ids, upload = phone_upload(device % persons + 1, device, size)
        out.append(Prepared(ids, encode(url, *request([upload]))))
        done += size
    while done < total:
        size = min(batch, total - done)
        device = len(out) % devices
        pairs = [event((device * 7919 + done + k) % persons + 1, device) for k in range(size)]
        out.append(Prepared([i for i, _ in pairs], encode(url, *request([e for _, e in pairs], token))))
        done += size
    return out


def _as_devices(url: str, persons: int, total: int, batch: int, fixes: int,
                credentials: Sequence[Credential]) -> list[Prepared]:
    out: list[Prepared] = []
    done = 0
    while done < total:
        person = len(out) % persons + 1
        phone = credentials[person - 1]
        source = f"/devices/{phone.device_id}"
        if fixes > 1:
            size = min(fixes, total - done)
            ids, upload = phone_upload(person, person, size, source=source, on=track(person, size))
            out.append(Prepared(ids, encode(url, *request([upload], phone.token))))
        else:
            size = min(batch, total - done)
            pairs = [event(person, person, source, fix) for fix in track(person, size)]
            out.append(Prepared([i for i, _ in pairs], encode(url, *request([e for _, e in pairs], phone.token))))
        done += size
    return out


def run(url: str, persons: int, total: int, batch: int = 1, concurrency: int = 16, expect: int = 202,
        rate: float | None = None, fixes: int = 1, credentials: Sequence[Credential] = (),
        token: str = "") -> Result:
    """POST `total` fixes in requests of `batch` single-fix events (or of one `fixes`-fix phone upload) over
    `concurrency` connections; a failed request is counted, not retried (a benchmark must not hide failures).

    Without `rate`, a closed loop: each connection sends its next request when the last is answered (the most
    the system takes). With `rate` (requests/s), an open loop: request i is due at start + i/rate and its
    latency counts from then, so a system falling behind shows it instead of slowing the clients down.
    """
    return send(url, prepare(url, persons, total, batch, concurrency, fixes, credentials, token), concurrency,
                expect, rate)


def send(url: str, prepared: list[Prepared], concurrency: int, expect: int, rate: float | None = None) -> Result:
    try:
        import uvloop

        return uvloop.run(_send(url, prepared, concurrency, expect, rate))
    except ImportError:
        return asyncio.run(_send(url, prepared, concurrency, expect, rate))


async def _send(url: str, prepared: list[Prepared], concurrency: int, expect: int, rate: float | None) -> Result:
    parts = urlsplit(url)
    result = Result()
    started = result.started = time.monotonic() + 0.05  # every connection open before the first request is due
    due = ((started + i / rate if rate else None, item) for i, item in enumerate(prepared))
    await asyncio.gather(*(_connection(parts.hostname or "127.0.0.1", parts.port or 80, due, result, expect)
                           for _ in range(concurrency)))
    result.seconds = time.monotonic() - started
    return result


async def _connection(host: str, port: int, queue: Iterator[tuple[float | None, Prepared]], result: Result,
                      expect: int) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for at, item in queue:
            if at is not None and (wait := at - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            began = at or time.monotonic()
            try:
                writer.write(item.message)
                status = await _answer(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                status = 0
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
            result.requests += 1
            result.statuses[status] = result.statuses.get(status, 0) + 1
            if status == expect:
                result.events += len(item.ids)
                result.latencies.append(time.monotonic() - began)
                for event_id in item.ids:
                    result.sent[event_id] = began
            else:
                result.errors += 1
    finally:
        writer.close()


async def _answer(reader: asyncio.StreamReader) -> int:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
    status = int(head.split(" ", 2)[1])
    length = 0
    for line in head.split("\r\n")[1:]:
        if line.startswith("content-length:"):
            length = int(line.split(":", 1)[1])
        elif line.startswith("transfer-encoding:"):
            raise ValueError("chunked answers are not read by the benchmark client")
    if length:
        await reader.readexactly(length)
    return status
