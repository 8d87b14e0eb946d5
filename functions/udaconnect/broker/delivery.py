"""Deliver one event to a Trigger's subscriber as the Kafka broker's dispatcher does: binary mode with
`Prefer: reply`, retries with backoff for retryable failures, then the dead-letter sink (or a logged drop)."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
from collections import Counter
from dataclasses import dataclass

from udaconnect.broker import http_binding
from udaconnect.broker.errors import InvalidEvent, WriteError
from udaconnect.broker.event import Event
from udaconnect.broker.eventloop import DeliveryLoop
from udaconnect.broker.http_pool import Pool
from udaconnect.broker.model import Delivery
from udaconnect.broker.resolver import HttpTarget, KafkaTopicTarget, Target
from udaconnect.broker.writer import KafkaWriter

log = logging.getLogger(__name__)
#: Besides every 5xx, the statuses the dispatcher retries; any other failing status goes to the dead letter at once.
RETRYABLE_STATUSES = frozenset({404, 408, 409, 429})
DEFAULT_TIMEOUT = 600.0  # seconds: Knative Serving's longest request
ERROR_DATA_LIMIT = 1024
PREFER_REPLY = b"Prefer: reply\r\n"


def is_retryable(status: int | None) -> bool:
    """None stands for "no answer" (connection refused, reset, timed out): always retried."""
    return status is None or status >= 500 or status in RETRYABLE_STATUSES


def backoff(policy: str | None, delay: float | None, retry_number: int) -> float:
    """Seconds to wait before retry `retry_number` (1-based): delay x n (linear) or delay x 2^n (exponential)."""
    base = 1.0 if delay is None else delay
    return base * retry_number if policy == "linear" else base * 2**retry_number


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None = None
    body: bytes = b""
    reply: Event | None = None
    error: str = ""

    @property
    def retryable(self) -> bool:
        return not self.ok and is_retryable(self.status) and not self.error.startswith("reply")


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
        self.dead_pool = Pool(dead_letter.url, connections) if isinstance(dead_letter, HttpTarget) else None

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
        return await self._dead_letter(event, attempt)

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
                await self._write(self.broker_topic, reply)
            except (InvalidEvent, WriteError) as exc:
                return Attempt(ok=False, status=answer.status, body=answer.body, error=f"reply: {exc}")
            return Attempt(ok=True, status=answer.status, reply=reply)
        if answer.body.strip():
            # A 2xx body that is not a CloudEvent is a failed delivery for the Kafka broker (not retried).
            return Attempt(ok=False, status=answer.status, body=answer.body, error="reply: not a CloudEvent")
        return Attempt(ok=True, status=answer.status)

    async def _write(self, topic: str, event: Event) -> None:
        """A Kafka write waits for acks: off the loop, on its default executor."""
        await asyncio.get_running_loop().run_in_executor(None, self.writer.write, topic, event)

    async def _dead_letter(self, event: Event, attempt: Attempt) -> str:
        reason = attempt.error or f"HTTP {attempt.status}"
        if self.dead_letter is None:
            log.error(
                "trigger %s: dropping event %s (%s): no dead-letter sink", self.name, event.attributes.get("id"), reason
            )
            return "dropped"
        extensions = {"knativeerrordest": self.subscriber.url}
        if attempt.status is not None:
            extensions["knativeerrorcode"] = str(attempt.status)
            if attempt.body:
                extensions["knativeerrordata"] = base64.b64encode(attempt.body[:ERROR_DATA_LIMIT]).decode()
        failed = event.with_extensions(**extensions)
        for retry in range(max(self.delivery.retry or 0, 1) + 1):
            if retry and await self.loop.pause(
                backoff(self.delivery.backoff_policy, self.delivery.backoff_delay, retry)
            ):
                return "aborted"
            if await self._send_dead_letter(failed):
                log.warning("trigger %s: event %s dead-lettered (%s)", self.name, event.attributes.get("id"), reason)
                return "dead-lettered"
        # As Knative: an event the dead-letter sink refused too is logged and committed.
        log.error(
            "trigger %s: dropping event %s: dead-letter sink failed too (%s)",
            self.name,
            event.attributes.get("id"),
            reason,
        )
        return "dropped"

    async def _send_dead_letter(self, event: Event) -> bool:
        target = self.dead_letter
        try:
            if isinstance(target, KafkaTopicTarget):
                await self._write(target.topic, event)
                return True
            assert self.dead_pool is not None
            answer = await self.dead_pool.post(http_binding.binary_head(event), event.data or b"", self.timeout)
            return 200 <= answer.status < 300
        except (WriteError, OSError) as exc:
            log.warning("trigger %s: dead-letter sink failed: %s", self.name, exc)
            return False

    def close(self) -> None:
        self.pool.close()
        if self.dead_pool is not None:
            self.dead_pool.close()
