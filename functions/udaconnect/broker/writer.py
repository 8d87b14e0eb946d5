"""Write events into Kafka topics in binary mode, returning only once Kafka acknowledged them (acks=all)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from udaconnect.broker.errors import WriteError
from udaconnect.broker.event import Event
from udaconnect.broker.kafka_binding import KafkaRecord, to_binary

log = logging.getLogger(__name__)


class KafkaWriter:
    """One idempotent producer per process, created on first use so a stopped Kafka fails writes, not startup."""

    def __init__(self, bootstrap_servers: str, timeout: float = 10.0, **producer_options: Any) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self.options = producer_options
        self._producer: Any = None
        self._closed = False
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._closed:
                raise WriteError("the writer is closed")
            if self._producer is None:
                from kafka import KafkaProducer

                options = dict(self.options)
                if "bootstrap_timeout_ms" in KafkaProducer.DEFAULT_CONFIG:  # kafka-python >= 2.1 waits 30 s
                    options.setdefault("bootstrap_timeout_ms", int(self.timeout * 1000))
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap_servers,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=2,
                    max_block_ms=int(self.timeout * 1000),
                    request_timeout_ms=int(self.timeout * 1000),
                    # Idempotence keeps retries from duplicating or reordering records within a partition.
                    retries=5,
                    **options,
                )
            return self._producer

    def write(self, topic: str, event: Event) -> None:
        """Raise WriteError unless Kafka stored the record."""
        self.write_many(topic, [event])

    def write_many(self, topic: str, events: Sequence[Event]) -> None:
        """Send every record before waiting, so they share produce requests; WriteError unless all were stored."""
        try:
            producer = self._get()
            futures = [producer.send(topic, **_fields(to_binary(event))) for event in events]
            for future in futures:
                future.get(timeout=self.timeout)
        except Exception as exc:  # kafka-python raises many unrelated types; all mean "not stored"
            raise WriteError(f"writing to {topic} failed: {exc!r}") from exc

    def close(self) -> None:
        with self._lock:
            producer, self._producer, self._closed = self._producer, None, True
        if producer is None:
            return
        try:
            producer.close(timeout=self.timeout)
        except Exception as exc:
            # kafka-python's close() raises while records are unsent (and again from __del__): abort them.
            log.warning("closing the Kafka producer: %r; aborting unsent records", exc)
            sender = getattr(producer, "_sender", None)
            if sender is not None:
                sender.force_close()
            producer._closed = True


def _fields(record: KafkaRecord) -> dict[str, Any]:
    # kafka-python refuses a record with neither key nor value: an event without data or partitionkey.
    value = b"" if record.value is None and record.key is None else record.value
    return {"key": record.key, "value": value, "headers": record.headers}
