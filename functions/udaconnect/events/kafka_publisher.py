"""The Kafka publisher: straight into the broker topic in Kafka binary mode (batched, idempotent, acks=all), for
threads (publish) and for an event loop (publish_async), through udaconnect.events.kafka_client. Nothing connects
until the first publish.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from udaconnect.errors import InfrastructureError
from udaconnect.events import kafka_client
from udaconnect.events.event import Event
from udaconnect.events.kafka_binding import to_binary


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
                self._producer = kafka_client.producer(
                    self.bootstrap_servers, self.timeout,
                    # Records sent while a request is in flight share the next one; no linger adds no latency.
                    linger_ms=0, batch_size=512 * 1024, max_request_size=2 * 1024 * 1024,
                    client_id="udaconnect-publisher")
            return self._producer

    def publish(self, events: Sequence[Event]) -> None:
        """Return once Kafka said where it holds every event (an acknowledgement without an offset is sent again:
        kafka_client.unplaced)."""
        producer = None
        try:
            producer = self._get()
            for _ in range(kafka_client.RESENDS + 1):
                futures = self._send(producer, events)
                for future in futures:
                    future.get(timeout=self.timeout)
                if not (events := kafka_client.unplaced(events, futures, self.topic)):
                    return
        except InfrastructureError:
            raise
        except Exception as error:  # kafka-python raises many unrelated types; all mean "not stored"
            raise self._failed(producer, error) from error
        raise self._unplaced(producer, events)

    async def publish_async(self, events: Sequence[Event]) -> None:
        producer = None
        try:
            if self._producer is None:  # connecting and the topic's metadata block: not on the event loop
                producer = await asyncio.to_thread(self._ready)
            producer = self._get()
            for _ in range(kafka_client.RESENDS + 1):
                futures = self._send(producer, events)
                await asyncio.wait_for(_all_done(futures), self.timeout)
                for future in futures:
                    if future.failed():
                        raise future.exception
                if not (events := kafka_client.unplaced(events, futures, self.topic)):
                    return
        except InfrastructureError:
            raise
        except Exception as error:  # as publish(): every failure means "not stored"
            raise self._failed(producer, error) from error
        raise self._unplaced(producer, events)

    def _unplaced(self, producer: Any, events: Sequence[Event]) -> InfrastructureError:
        return self._failed(producer, RuntimeError(f"{len(events)} event(s) acknowledged without an offset "
                                                   f"{kafka_client.RESENDS + 1} times"))

    def _send(self, producer: Any, events: Sequence[Event]) -> list[Any]:
        return [kafka_client.send(producer, self.topic, to_binary(event)) for event in events]

    def _failed(self, producer: Any, error: Exception) -> InfrastructureError:
        if producer is not None:
            self._reset(producer)
        return InfrastructureError(f"Kafka did not take the events: {error!r}")

    def _ready(self) -> Any:
        producer = self._get()
        producer.partitions_for(self.topic)
        return producer

    def _reset(self, producer: Any) -> None:
        """Drop a producer that failed: a fresh one starts clean instead of carrying its broken state."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
        kafka_client.abort(producer)

    def close(self) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            kafka_client.close(producer, self.timeout)


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

