"""Simulated devices: each reports its person's position fixes to ingest as CloudEvents, at a steady overall rate.

With `buffer_seconds`, each device reports as a real phone does: it takes fixes at its share of the rate, buffers
them and uploads every `buffer_seconds` (devices out of step) one io.udaconnect.locations.reported.v1 event.
Devices retry a refused-for-now report (503, 5xx, no answer) with backoff, as a phone would, so a load
survives a broker or function restart; 4xx means the report itself is wrong and it is counted, not retried.

With `phones`, each device is a realistic phone instead (udaconnect_dev.phones: walking and standing at booths, GPS
error with matching accuracy, indoor jumps, offline spells uploaded late), its uploads sent when the model says
they reach ingest (`rate` and `buffer_seconds` do not apply).

Authentication: `Simulator.enrol` enrols each simulated phone for its person (POST /api/persons/{id}/devices with
an organizer's token); each then reports with its own device token and source, as a real phone does, and a batch
holds one phone's fixes only. Without enrolment, `token` (an organizer's) goes with every request.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from udaconnect.contracts.names import DEVICE_SOURCE_PREFIX, LOCATION_REPORTED, LOCATIONS_REPORTED, MAX_FIXES

BATCH = "application/cloudevents-batch+json"
#: Where demo devices wander: the demo venue (udaconnect.places.DEMO_VENUE), its halls about (latitude, longitude)
#: and half their extent in degrees (~45 m north-south, ~115 m east-west).
VENUE = (37.78365, -122.40162)
VENUE_SPREAD = (0.0004, 0.0013)


@dataclass(frozen=True)
class Credential:
    """An enrolled device: its id (its events' source is /devices/<id>) and its bearer token."""

    device_id: str
    token: str


def enrol(api_url: str, person_id: int, token: str, name: str = "simulated phone", timeout: float = 30.0) -> Credential:
    """Enrol a device for `person_id` at the API `api_url` (http://host:port) with `token` (the attendee's or an
    organizer's); OSError when the API does not answer 201."""
    import httpx2

    try:
        reply = _http().post(f"{api_url.rstrip('/')}/api/persons/{person_id}/devices", json={"name": name},
                             headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except httpx2.HTTPError as error:
        raise OSError(f"enrolling a device for person {person_id}: {error!r}") from error
    if reply.status_code != 201:
        raise OSError(f"enrolling a device for person {person_id}: HTTP {reply.status_code} {reply.content[:200]!r}")
    body = reply.json()
    return Credential(body["device_id"], body["token"])


def revoke_simulated(api_url: str, person_id: int, token: str, timeout: float = 30.0) -> int:
    """Revoke `person_id`'s active devices named "simulated phone ..." (earlier runs'); how many. OSError when the
    API does not answer as it should."""
    import httpx2

    base, auth = f"{api_url.rstrip('/')}/api/persons/{person_id}/devices", {"Authorization": f"Bearer {token}"}
    try:
        listed = _http().get(base, headers=auth, timeout=timeout)
        if listed.status_code != 200:
            raise OSError(f"listing the devices of person {person_id}: HTTP {listed.status_code}")
        old = [d["device_id"] for d in listed.json()
               if d["revoked_at"] is None and str(d["name"]).startswith("simulated phone")]
        for device_id in old:
            reply = _http().delete(f"{base}/{device_id}", headers=auth, timeout=timeout)
            if reply.status_code != 204:
                raise OSError(f"revoking device {device_id} of person {person_id}: HTTP {reply.status_code}")
    except httpx2.HTTPError as error:
        raise OSError(f"revoking the simulated phones of person {person_id}: {error!r}") from error
    return len(old)


@dataclass
class Device:
    device_id: str
    person_id: int
    latitude: float
    longitude: float
    token: str = ""  # the device's own bearer token (empty: the simulator's)

    def fix(self, rng: random.Random) -> dict:
        """The next fix: a few meters' walk from the last one, as a structured CloudEvent."""
        self.latitude += rng.gauss(0, 0.00003)
        self.longitude += rng.gauss(0, 0.00003)
        now = datetime.now(UTC)
        return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"{DEVICE_SOURCE_PREFIX}{self.device_id}",
                "type": LOCATION_REPORTED, "datacontenttype": "application/json", "time": now.isoformat(),
                "data": {"person_id": self.person_id, "latitude": round(self.latitude, 7),
                         "longitude": round(self.longitude, 7), "recorded_at": now.isoformat(),
                         "accuracy": round(rng.uniform(3, 15), 1)}}

    def uploaded(self, fixes: Sequence[Any]) -> dict:
        """One upload of a realistic phone (udaconnect_dev.phones.Fix, oldest first) as a multi-fix CloudEvent."""
        return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"{DEVICE_SOURCE_PREFIX}{self.device_id}",
                "type": LOCATIONS_REPORTED, "datacontenttype": "application/json",
                "time": fixes[-1].arrived_at.isoformat(),
                "data": {"person_id": self.person_id, "fixes": [
                    {"latitude": f.latitude, "longitude": f.longitude, "recorded_at": f.recorded_at.isoformat(),
                     "accuracy": f.accuracy} for f in fixes]}}

    def buffered(self, rng: random.Random, fixes: int, interval: float) -> dict:
        """`fixes` fixes taken every `interval` seconds up to now, as one multi-fix structured CloudEvent."""
        now = datetime.now(UTC)
        taken = []
        for index in range(fixes):
            self.latitude += rng.gauss(0, 0.00003)
            self.longitude += rng.gauss(0, 0.00003)
            taken.append({"latitude": round(self.latitude, 7), "longitude": round(self.longitude, 7),
                          "recorded_at": (now - timedelta(seconds=(fixes - 1 - index) * interval)).isoformat(),
                          "accuracy": round(rng.uniform(3, 15), 1)})
        return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"{DEVICE_SOURCE_PREFIX}{self.device_id}",
                "type": LOCATIONS_REPORTED, "datacontenttype": "application/json", "time": now.isoformat(),
                "data": {"person_id": self.person_id, "fixes": taken}}


def fixes_in(events: Sequence[dict]) -> int:
    """Fixes carried by these events (a multi-fix event counts each of its fixes)."""
    return sum(len(e["data"]["fixes"]) if e.get("type") == LOCATIONS_REPORTED else 1 for e in events)


@dataclass
class Stats:
    sent: int = 0  # fixes accepted (202)
    refused: int = 0  # fixes answered 4xx
    retries: int = 0  # posts retried after 5xx or no answer
    failed: int = 0  # fixes given up on after every retry
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post(url: str, events: Sequence[dict], timeout: float = 30.0, token: str = "") -> int:
    """POST one event in binary mode, or several as one batch, with `token` as the bearer when given; the HTTP
    status (0: no answer)."""
    import httpx2

    if len(events) == 1:
        event = events[0]
        headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
        headers["Content-Type"] = event.get("datacontenttype", "application/json")
        body = json.dumps(event["data"]).encode()
    else:
        headers, body = {"Content-Type": BATCH}, json.dumps(list(events)).encode()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        return int(_http().post(url, headers=headers, content=body, timeout=timeout).status_code)
    except httpx2.HTTPError:
        return 0


_client: Any = None
_client_lock = threading.Lock()


def _http() -> Any:
    """The process's one blocking httpx2 client (created on first use): every device thread shares its keep-alive
    connections, as many as threads post at once."""
    global _client
    with _client_lock:
        if _client is None:
            import httpx2

            _client = httpx2.Client(trust_env=False, limits=httpx2.Limits(max_connections=None,
                                                                          max_keepalive_connections=256))
        return _client


@dataclass
class Simulator:
    url: str
    person_ids: Sequence[int]
    devices: int = 10
    rate: float = 10.0  # fixes per second, all devices together
    batch: int = 1  # events per request
    buffer_seconds: float = 0.0  # > 0: each device uploads its buffered fixes this often, as one event
    workers: int = 8
    max_retries: int = 30
    record: bool = False  # keep every accepted event (tests re-send them)
    seed: int = 1
    token: str = ""  # sent by phones without their own credential (an organizer's token)
    credentials: Sequence[Credential] = ()  # phone i reports as credentials[i] (see enrol)
    phones: bool = False  # each device a realistic phone (udaconnect_dev.phones), in real time
    stats: Stats = field(default_factory=Stats)
    accepted: list[dict] = field(default_factory=list)

    def enrol(self, api_url: str, token: str, replace: bool = False) -> Simulator:
        """Enrol each phone for its person at the API `api_url` with `token` (an organizer's): each then reports
        with its own device token and source. With `replace`, the persons' earlier simulated phones are revoked
        first, as a reinstalled app's old device is (a person has at most UDACONNECT_MAX_DEVICES active ones)."""
        if replace:
            for person_id in dict.fromkeys(self.person_ids[i % len(self.person_ids)] for i in range(self.devices)):
                revoke_simulated(api_url, person_id, token)
        self.credentials = [enrol(api_url, self.person_ids[i % len(self.person_ids)], token,
                                  f"simulated phone {self.seed}-{i}") for i in range(self.devices)]
        return self

    def run(self, duration: float | None = None, count: int | None = None, stop: threading.Event | None = None,
            progress: Callable[[Stats, float], None] | None = None) -> Stats:
        """Report until `duration` seconds pass, `count` fixes were sent, or `stop` is set."""
        rng = random.Random(self.seed)
        devices = [Device(self.credentials[i].device_id if self.credentials else f"phone-{self.seed}-{i}",
                          self.person_ids[i % len(self.person_ids)],
                          VENUE[0] + rng.uniform(-VENUE_SPREAD[0], VENUE_SPREAD[0]),
                          VENUE[1] + rng.uniform(-VENUE_SPREAD[1], VENUE_SPREAD[1]),
                          self.credentials[i].token if self.credentials else "")
                   for i in range(self.devices)]
        stop = stop or threading.Event()
        workers = max(1, min(self.workers, len(devices)))
        quota = [count // workers + (1 if i < count % workers else 0) for i in range(workers)] if count else None
        started = time.monotonic()
        target = self._work_phones if self.phones else self._work_buffered if self.buffer_seconds > 0 else self._work
        threads = [threading.Thread(target=target, daemon=True, name=f"device-{i}",
                                    args=(devices[i::workers], self.rate / workers, started, duration,
                                          quota[i] if quota else None, stop, random.Random(self.seed * 1000 + i)))
                   for i in range(workers)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            for thread in threads:
                thread.join(1.0)
            if progress and any(t.is_alive() for t in threads):
                progress(self.stats, time.monotonic() - started)
        if progress:  # the last line counts every worker's last post, including one that ended after its join
            progress(self.stats, time.monotonic() - started)
        return self.stats

    def _work(self, devices: list[Device], rate: float, started: float, duration: float | None,
              quota: int | None, stop: threading.Event, rng: random.Random) -> None:
        done, turn = 0, 0
        while not stop.is_set() and (quota is None or done < quota):
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                return
            size = self.batch if quota is None else min(self.batch, quota - done)
            due = started + (done + size) / rate if rate > 0 else now
            if due > now and stop.wait(due - now):
                return
            if self.credentials:  # a device's token reports its own fixes only: one phone per request
                device = devices[turn % len(devices)]
                events, turn = [device.fix(rng) for _ in range(size)], turn + 1
                self._send(events, stop, device.token)
            else:
                events = [devices[(turn + k) % len(devices)].fix(rng) for k in range(size)]
                turn += size
                self._send(events, stop, self.token)
            done += size

    def _work_buffered(self, devices: list[Device], rate: float, started: float, duration: float | None,
                       quota: int | None, stop: threading.Event, rng: random.Random) -> None:
        """Each device uploads every buffer_seconds what it took meanwhile, phases spread over the period."""
        period = self.buffer_seconds
        interval = len(devices) / rate if rate > 0 else 1.0  # seconds between one device's fixes
        per_upload = max(1, min(MAX_FIXES, round(period / interval)))
        due = [started + period * (i + 1) / len(devices) for i in range(len(devices))]
        done = 0
        while not stop.is_set() and (quota is None or done < quota):
            turn = min(range(len(devices)), key=due.__getitem__)
            now = time.monotonic()
            if duration is not None and due[turn] - started > duration:
                return
            if due[turn] > now and stop.wait(due[turn] - now):
                return
            size = per_upload if quota is None else min(per_upload, quota - done)
            self._send([devices[turn].buffered(rng, size, interval)], stop, devices[turn].token or self.token)
            due[turn] += period
            done += size

    def phone_uploads(self, devices: Sequence[Device], begin: datetime, seconds: float,
                      rng: random.Random) -> list[tuple[datetime, Device, list[dict]]]:
        """Each realistic phone's uploads from `begin` for `seconds`: when each reaches ingest, from which device,
        as events of at most MAX_FIXES fixes; in arrival order."""
        from udaconnect_dev import phones

        places, end = phones.booths(40, random.Random(self.seed)), begin + timedelta(seconds=seconds)
        out: list[tuple[datetime, Device, list[dict]]] = []
        for device in devices:
            own = random.Random(rng.getrandbits(64))
            taken = phones.Phone(device.person_id, own, device_id=device.device_id).fixes(
                phones.agenda(own, begin, end, places), begin, end)
            out.extend((u[-1].arrived_at, device, [device.uploaded(u[i:i + MAX_FIXES])
                                                   for i in range(0, len(u), MAX_FIXES)])
                       for u in phones.uploads(taken))
        return sorted(out, key=lambda upload: upload[0])

    def _work_phones(self, devices: list[Device], rate: float, started: float, duration: float | None,
                     quota: int | None, stop: threading.Event, rng: random.Random) -> None:
        """Each device a realistic phone from now on (an hour when no duration is given): uploads sent when due."""
        begin, done = datetime.now(UTC), 0
        for due, device, events in self.phone_uploads(devices, begin, duration or 3600.0, rng):
            if stop.is_set() or quota is not None and done >= quota:
                return
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0 and stop.wait(wait):
                return
            for event in events:
                self._send([event], stop, device.token or self.token)
                done += fixes_in([event])

    def _send(self, events: list[dict], stop: threading.Event, token: str) -> None:
        began = time.monotonic()
        for attempt in range(self.max_retries + 1):
            status = post(self.url, events, token=token)
            if 200 <= status < 300:
                with self.stats.lock:
                    self.stats.sent += fixes_in(events)
                    self.stats.latencies.append(time.monotonic() - began)
                    if self.record:
                        self.accepted.extend(events)
                return
            if 400 <= status < 500 and status not in (408, 429):
                with self.stats.lock:
                    self.stats.refused += fixes_in(events)
                return
            with self.stats.lock:
                self.stats.retries += 1
            if stop.wait(min(0.1 * 2**attempt, 2.0)):
                break
        with self.stats.lock:
            self.stats.failed += fixes_in(events)


def progress_line(stats: Stats, elapsed: float) -> str:
    rate = stats.sent / elapsed if elapsed else 0.0
    return (f"\rsent {stats.sent:,} ({rate:,.0f}/s)  refused {stats.refused:,}  retries {stats.retries:,}  "
            f"failed {stats.failed:,}  {elapsed:,.0f} s")
