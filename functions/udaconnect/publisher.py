"""Publish CloudEvents to the broker: straight into its Kafka topic, or through its HTTP ingress (K_SINK).

Both return only once the broker durably holds every event (Kafka acks=all, or the ingress's 202, which it
sends after its own acks=all write), and raise InfrastructureError otherwise. Nothing connects until the first publish.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

from udaconnect.broker.event import Event
from udaconnect.errors import InfrastructureError
from udaconnect.settings import Settings

log = logging.getLogger(__name__)


class Publisher(Protocol):
    def publish(self, events: Sequence[Event]) -> None:
        """Return once the broker holds every event; InfrastructureError otherwise (some may be stored: the
        same events may be published again, consumers are idempotent on (source, id))."""

    async def publish_async(self, events: Sequence[Event]) -> None:
        """As publish(), for a coroutine: the event loop serves other requests while the broker acknowledges."""

    def close(self) -> None: ...


class KafkaPublisher:
    """kafka-python into the broker topic in Kafka binary mode: batched, idempotent, acks=all."""

    def __init__(self, bootstrap_servers: str, topic: str, timeout: float = 10.0) -> None:
        self.bootstrap_servers, self.topic, self.timeout = bootstrap_servers, topic, timeout
        self._producer: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._producer is None:
                if not self.bootstrap_servers:
                    raise InfrastructureError("no Kafka configured: set KAFKA_BOOTSTRAP_SERVERS")
                from kafka import KafkaProducer

                options = {}
                if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG:  # kafka-python >= 3: else 30 s
                    options["bootstrap_timeout_ms"] = int(self.timeout * 1000)
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap_servers, acks="all", enable_idempotence=True,
                    # Records sent while a request is in flight share the next one; no linger adds no latency.
                    linger_ms=0, batch_size=512 * 1024, max_request_size=2 * 1024 * 1024,
                    max_block_ms=int(self.timeout * 1000), request_timeout_ms=int(self.timeout * 1000),
                    retries=5, client_id="udaconnect-publisher", **options)
            return self._producer

    def publish(self, events: Sequence[Event]) -> None:
        from udaconnect.broker.kafka_binding import to_binary

        producer = None
        try:
            producer = self._get()
            futures = []
            for event in events:
                record = to_binary(event)
                futures.append(producer.send(self.topic, key=record.key, value=record.value,
                                             headers=record.headers))
            for future in futures:
                future.get(timeout=self.timeout)
        except InfrastructureError:
            raise
        except Exception as error:  # kafka-python raises many unrelated types; all mean "not stored"
            if producer is not None:
                self._reset(producer)
            raise InfrastructureError(f"Kafka did not take the events: {error!r}") from error

    async def publish_async(self, events: Sequence[Event]) -> None:
        from udaconnect.broker.kafka_binding import to_binary

        producer = None
        try:
            if self._producer is None:  # connecting and the topic's metadata block: not on the event loop
                producer = await asyncio.to_thread(self._ready)
            producer = self._get()
            futures = []
            for event in events:
                record = to_binary(event)
                futures.append(producer.send(self.topic, key=record.key, value=record.value,
                                             headers=record.headers))
            await asyncio.wait_for(_all_done(futures), self.timeout)
            for future in futures:
                if future.failed():
                    raise future.exception
        except InfrastructureError:
            raise
        except Exception as error:  # as publish(): every failure means "not stored"
            if producer is not None:
                self._reset(producer)
            raise InfrastructureError(f"Kafka did not take the events: {error!r}") from error

    def _ready(self) -> Any:
        producer = self._get()
        producer.partitions_for(self.topic)
        return producer

    def _reset(self, producer: Any) -> None:
        """Drop a producer that failed: a fresh one starts clean instead of carrying its broken state."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
        _abort(producer)

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=self.timeout)
            except Exception:  # unsent records make kafka-python's close raise
                _abort(producer)


def _all_done(futures: list[Any]) -> asyncio.Future[None]:
    """An asyncio future done when every kafka-python future is: one wake-up of the loop per publish."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    remaining, lock = [len(futures)], threading.Lock()

    def settle(_: object) -> None:  # on kafka-python's sender thread (or here, for a future already done)
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            loop.call_soon_threadsafe(_resolve, done)

    for future in futures:
        future.add_both(settle)
    if not futures:
        done.set_result(None)
    return done


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():  # the publish timed out and cancelled it
        done.set_result(None)


def _abort(producer: Any) -> None:
    try:
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
        producer._closed = True
    except Exception as error:  # pragma: no cover - best effort on a producer already failing
        log.debug("aborting a Kafka producer: %r", error)


class HttpPublisher:
    """POST each event in binary mode to the broker ingress (K_SINK); 202 means stored."""

    def __init__(self, url: str, timeout: float = 10.0, concurrency: int = 8) -> None:
        self.url, self.timeout, self.concurrency = url, timeout, concurrency
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _send(self, event: Event) -> None:
        from udaconnect.broker import http_binding, http_client

        headers, body = http_binding.to_binary(event)
        try:
            answer = http_client.post(self.url, headers, body, self.timeout)
        except OSError as error:
            raise InfrastructureError(f"the broker ingress {self.url} is unreachable: {error}") from error
        if answer.status != 202:
            raise InfrastructureError(f"the broker ingress answered {answer.status}: {answer.body[:200]!r}")

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


def create(settings: Settings, timeout: float | None = None) -> Publisher:
    """The publisher Settings.publisher names; UDACONNECT_PUBLISH_TIMEOUT (s) bounds each publish (default 10)."""
    timeout = timeout or float(os.environ.get("UDACONNECT_PUBLISH_TIMEOUT", "10"))
    if settings.publisher == "http":
        return HttpPublisher(settings.broker_url, timeout)
    if settings.publisher == "kafka":
        return KafkaPublisher(settings.kafka_bootstrap_servers, settings.broker_topic, timeout)
    raise InfrastructureError(f"UDACONNECT_PUBLISHER must be kafka or http, not {settings.publisher!r}")


@lru_cache(maxsize=4)
def for_settings(settings: Settings) -> Publisher:
    """The process's publisher for these settings (one producer and its connections, shared by every thread)."""
    return create(settings)
