"""The local PingSource: each PingSource of eventing/ sends its CloudEvent to its sink on its cron schedule, as
Knative's ping adapter does (type dev.knative.sources.ping, source /apis/v1/namespaces/<ns>/pingsources/<name>,
binary mode, the spec's data and contentType). One attempt per tick, as the adapter makes: a sink that fails is
logged and the next tick comes on schedule.

The schedule is read with croniter (the local extra only: the runtime image never runs the emulator). A source
whose sink does not resolve is not ready, as in Knative: it sends nothing.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from udaconnect.contracts.names import PING
from udaconnect_dev.broker.errors import ConfigError
from udaconnect_dev.broker.model import PingSourceSpec
from udaconnect_dev.broker.resolver import HttpTarget, Resolver

log = logging.getLogger(__name__)


def headers(source: PingSourceSpec, now: datetime) -> dict[str, str]:
    """The binary-mode headers of one tick's event."""
    out = {"ce-specversion": "1.0", "ce-id": str(uuid.uuid4()), "ce-source": source.source, "ce-type": PING,
           "ce-time": now.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    if source.content_type:
        out["Content-Type"] = source.content_type
    return out


def send(url: str, source: PingSourceSpec, now: datetime, timeout: float = 300.0) -> int:
    """POST one tick's event to `url` (httpx2's blocking client, as the HTTP publisher's); the status (0: no answer)."""
    import httpx2

    try:
        reply = httpx2.post(url, content=source.data.encode(), headers=headers(source, now), timeout=timeout,
                            trust_env=False)
    except httpx2.HTTPError as error:
        log.warning("PingSource %s: %s did not answer: %r", source.name, url, error)
        return 0
    return int(reply.status_code)


class PingScheduler:
    """One thread per ready PingSource, each sleeping until its next tick (stopped by `stopping`)."""

    def __init__(self, sources: list[PingSourceSpec], resolver: Resolver, stopping: threading.Event,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.stopping, self.clock = stopping, clock
        self.targets: dict[str, tuple[PingSourceSpec, str]] = {}
        self.problems: dict[str, str] = {}
        self.sent: dict[str, list[int]] = {}
        for source in sources:
            try:
                target = resolver.resolve(source.sink)
                if not isinstance(target, HttpTarget):
                    raise ConfigError("only an HTTP sink is supported locally")
                self.next_tick(source, self.clock())  # a bad schedule or time zone is the source's problem
            except (ConfigError, ValueError, KeyError) as error:
                self.problems[source.name] = str(error)
                log.warning("PingSource %s not ready: %s", source.name, error)
                continue
            self.targets[source.name] = (source, target.url)
            self.sent[source.name] = []
        self._threads = [threading.Thread(target=self._run, args=(name,), name=f"ping-{name}", daemon=True)
                         for name in self.targets]

    @staticmethod
    def next_tick(source: PingSourceSpec, after: datetime) -> datetime:
        from croniter import croniter

        zone = ZoneInfo(source.timezone) if source.timezone else UTC
        return croniter(source.schedule, after.astimezone(zone)).get_next(datetime)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        for name, (source, url) in self.targets.items():
            log.info("PingSource %s: %r to %s", name, source.schedule, url)

    def _run(self, name: str) -> None:
        source, url = self.targets[name]
        tick = self.next_tick(source, self.clock())
        while not self.stopping.wait(max((tick - self.clock()).total_seconds(), 0)):
            status = send(url, source, tick)
            self.sent[name].append(status)
            (log.info if 200 <= status < 300 else log.warning)("PingSource %s: %s answered %s", name, url, status)
            tick = self.next_tick(source, max(self.clock(), tick))

    def status(self) -> list[dict[str, Any]]:
        return [{"name": name, "schedule": source.schedule, "sink": url, "ready": True, "sent": len(self.sent[name]),
                 "last_status": self.sent[name][-1] if self.sent[name] else None}
                for name, (source, url) in self.targets.items()] + [
            {"name": name, "ready": False, "problem": problem} for name, problem in self.problems.items()]
