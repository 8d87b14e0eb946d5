"""Deliver one event to a Trigger's subscriber as the Kafka broker's dispatcher does: binary mode with
`Prefer: reply`, retries with backoff for retryable failures, then the dead-letter sink (or a logged drop)."""

from __future__ import annotations

import threading
from collections import Counter

from udaconnect.events import http_binding
from udaconnect.events.event import Event
from udaconnect.events.kafka_client import KafkaWriter
from udaconnect_dev.broker.deadletter import DeadLetters, write
from udaconnect_dev.broker.errors import InvalidEvent, WriteError
from udaconnect_dev.broker.eventloop import DeliveryLoop
from udaconnect_dev.broker.http_pool import Pool
from udaconnect_dev.broker.model import Delivery
from udaconnect_dev.broker.resolver import HttpTarget, Target
from udaconnect_dev.broker.retry import Attempt, backoff, is_retryable

DEFAULT_TIMEOUT = 600.0  # seconds: Knative Serving's longest request
PREFER_REPLY = b"Prefer: reply\r\n"
__all__ = ["DEFAULT_TIMEOUT", "Dispatcher", "backoff", "is_retryable"]


class Dispatcher:
    """Delivery for one Trigger, on the DeliveryLoop. Returns "delivered", "dead-lettered", "dropped" or "aborted"
    (stopping: the event stays uncommitted and is redelivered after a restart)."""

    def __init__(
        self,
        subscriber: HttpTarget,
        delivery: Delivery,
        dead_letter: Target | None,
        writer: KafkaWriter,
        broker_topic: str,
        loop: DeliveryLoop,
        name: str = "",
        connections: int = 32,
    ) -> None:
        self.subscriber, self.delivery, self.dead_letter = subscriber, delivery, dead_letter
        self.writer, self.broker_topic, self.loop, self.name = writer, broker_topic, loop, name
        self.timeout = delivery.timeout or DEFAULT_TIMEOUT
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # counts are read by /status on another thread
        self.pool = Pool(subscriber.url, connections)
        self.dead_letters = DeadLetters(
            dead_letter, subscriber.url, delivery, writer, loop, name, connections, self.timeout
        )

    async def deliver(self, event: Event) -> str:
        outcome = await self._deliver(event)
        with self._lock:
            self.counts[outcome] += 1
        return outcome

    async def _deliver(self, event: Event) -> str:
        retries, retry = self.delivery.retry or 0, 0
        while True:
            attempt = await self._attempt(event)
            if attempt.ok:
                return "delivered"
            if not attempt.retryable or retry >= retries:
                break
            retry += 1
            with self._lock:
                self.counts["retries"] += 1
            if await self.loop.pause(backoff(self.delivery.backoff_policy, self.delivery.backoff_delay, retry)):
                return "aborted"
        return await self.dead_letters.send(event, attempt)

    async def _attempt(self, event: Event) -> Attempt:
        try:
            answer = await self.pool.post(
                http_binding.binary_head(event) + PREFER_REPLY, event.data or b"", self.timeout
            )
        except OSError as exc:
            return Attempt(ok=False, error=f"{type(exc).__name__}: {exc}")
        if not 200 <= answer.status < 300:
            return Attempt(ok=False, status=answer.status, body=answer.body)
        if http_binding.is_cloudevent(answer.headers):
            try:
                reply = http_binding.from_http(answer.headers, answer.body)
                await write(self.writer, self.broker_topic, reply)
            except (InvalidEvent, WriteError) as exc:
                return Attempt(ok=False, status=answer.status, body=answer.body, error=f"reply: {exc}")
            return Attempt(ok=True, status=answer.status, reply=reply)
        if answer.body.strip():
            # A 2xx body that is not a CloudEvent is a failed delivery for the Kafka broker (not retried).
            return Attempt(ok=False, status=answer.status, body=answer.body, error="reply: not a CloudEvent")
        return Attempt(ok=True, status=answer.status)

    def close(self) -> None:
        self.pool.close()
        self.dead_letters.close()
