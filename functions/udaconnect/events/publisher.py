"""Publish CloudEvents to the broker: straight into its Kafka topic, or through its HTTP ingress (K_SINK).

Both return only once the broker durably holds every event (Kafka acks=all, or the ingress's 202, which it
sends after its own acks=all write), and raise InfrastructureError otherwise. Nothing connects until the first publish.
The HTTP publisher posts on one blocking httpx2 client (a dependency already: the gateway's): keep-alive connections
shared by its threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from udaconnect.errors import InfrastructureError
from udaconnect.events.event import Event
from udaconnect.events.kafka_publisher import KafkaPublisher
from udaconnect.settings import Settings

__all__ = ["HttpPublisher", "KafkaPublisher", "Publisher", "create", "for_settings"]
log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Return once the broker holds every event; InfrastructureError otherwise (some may be stored: the
        same events may be published again, consumers are idempotent on (source, id))."""

    async def publish_async(self, events: Sequence[Event]) -> None:
        """As publish(), for a coroutine: the event loop serves other requests while the broker acknowledges."""

    def close(self) -> None: ...


class HttpPublisher:
    """POST each event in binary mode to the broker ingress (K_SINK); 202 means stored."""

    def __init__(self, url: str, timeout: float = 10.0, concurrency: int = 8) -> None:
        self.url, self.timeout, self.concurrency = url, timeout, concurrency
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx2

                self._client = httpx2.Client(timeout=self.timeout, trust_env=False, limits=httpx2.Limits(
                    max_connections=self.concurrency, max_keepalive_connections=self.concurrency))
            return self._client

    def _send(self, event: Event) -> None:
        import httpx2

        from udaconnect.events.http_binding import to_binary

        headers, body = to_binary(event)
        try:
            answer = self._http().post(self.url, headers=headers, content=body)
        except httpx2.HTTPError as error:
            raise InfrastructureError(f"the broker ingress {self.url} is unreachable: {error!r}") from error
        if answer.status_code != 202:
            raise InfrastructureError(f"the broker ingress answered {answer.status_code}: {answer.content[:200]!r}")

    def publish(self, events: Sequence[Event]) -> None:
        if not self.url:
            raise InfrastructureError("no broker ingress configured: set K_SINK")
        if len(events) == 1:
            return self._send(events[0])
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self.concurrency, "publish")
        for future in [self._pool.submit(self._send, event) for event in events]:
            future.result()
        return None

    async def publish_async(self, events: Sequence[Event]) -> None:
        await asyncio.to_thread(self.publish, events)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def create(settings: Settings, timeout: float | None = None) -> Publisher:
    """The publisher Settings.publisher names; settings.publish_timeout (s) bounds each publish."""
    timeout = timeout or settings.publish_timeout
    if settings.publisher == "http":
        return HttpPublisher(settings.broker_url, timeout)
    if settings.publisher == "kafka":
        return KafkaPublisher(settings.kafka_bootstrap_servers, settings.broker_topic, timeout)
    raise InfrastructureError(f"UDACONNECT_PUBLISHER must be kafka or http, not {settings.publisher!r}")


@lru_cache(maxsize=4)
def for_settings(settings: Settings) -> Publisher:
    """The process's publisher for these settings (one producer and its connections, shared by every thread)."""
    return create(settings)
