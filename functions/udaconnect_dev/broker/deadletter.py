"""A delivery's last step: the failed event, with knativeerror* extensions, to the Trigger's dead-letter sink
(a Kafka topic or an HTTP address), retried with backoff; an event the sink refuses too is logged and dropped."""

from __future__ import annotations

import asyncio
import base64
import logging

from udaconnect.events import http_binding
from udaconnect.events.event import Event
from udaconnect.events.kafka_client import KafkaWriter
from udaconnect_dev.broker.errors import WriteError
from udaconnect_dev.broker.eventloop import DeliveryLoop
from udaconnect_dev.broker.http_pool import Pool
from udaconnect_dev.broker.model import Delivery
from udaconnect_dev.broker.resolver import HttpTarget, KafkaTopicTarget, Target
from udaconnect_dev.broker.retry import Attempt, backoff

log = logging.getLogger("udaconnect_dev.broker.delivery")  # one logger for a delivery's whole story
ERROR_DATA_LIMIT = 1024


async def write(writer: KafkaWriter, topic: str, event: Event) -> None:
    """A Kafka write waits for acks: off the loop, on its default executor."""
    await asyncio.get_running_loop().run_in_executor(None, writer.write, topic, event)


class DeadLetters:
    """One Trigger's dead-letter sink; `sink` None: failed events are logged and dropped."""

    def __init__(
        self,
        sink: Target | None,
        subscriber_url: str,
        delivery: Delivery,
        writer: KafkaWriter,
        loop: DeliveryLoop,
        name: str,
        connections: int,
        timeout: float,
    ) -> None:
        self.dead_letter, self.subscriber_url, self.delivery, self.writer = sink, subscriber_url, delivery, writer
        self.loop, self.name, self.timeout = loop, name, timeout
        self.pool = Pool(sink.url, connections) if isinstance(sink, HttpTarget) else None

    async def send(self, event: Event, attempt: Attempt) -> str:
        """Returns "dead-lettered", "dropped" or "aborted" (stopping)."""
        reason = attempt.error or f"HTTP {attempt.status}"
        if self.dead_letter is None:
            log.error(
                "trigger %s: dropping event %s (%s): no dead-letter sink", self.name, event.attributes.get("id"), reason
            )
            return "dropped"
        extensions = {"knativeerrordest": self.subscriber_url}
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
            if await self._send(failed):
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

    async def _send(self, event: Event) -> bool:
        target = self.dead_letter
        try:
            if isinstance(target, KafkaTopicTarget):
                await write(self.writer, target.topic, event)
                return True
            assert self.pool is not None
            answer = await self.pool.post(http_binding.binary_head(event), event.data or b"", self.timeout)
            return 200 <= answer.status < 300
        except (WriteError, OSError) as exc:
            log.warning("trigger %s: dead-letter sink failed: %s", self.name, exc)
            return False

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
