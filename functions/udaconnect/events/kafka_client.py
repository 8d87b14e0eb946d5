"""The one adapter between UdaConnect and kafka-python: producers, the acknowledged writer, the dead-letter and lag
readers, committed offsets. Records cross it as the SDK's KafkaMessage (udaconnect.events.kafka_binding); nothing
else in the runtime imports `kafka` (tooling may import this module, never the reverse).

kafka-python is pinned to 3.0.x (pyproject.toml): its options are passed as that version takes them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from udaconnect.events.errors import WriteError
from udaconnect.events.event import Event
from udaconnect.events.kafka_binding import KafkaMessage, from_binary, to_binary

__all__ = ["RESENDS", "KafkaWriter", "Record", "abort", "commit", "committed_offsets", "offsets", "producer",
           "read_topic", "send", "trigger_lag", "unplaced"]
log = logging.getLogger(__name__)
Record = tuple[int, int, KafkaMessage]  # partition, offset, message
#: How many times a record Kafka acknowledged without an offset is sent again before the write counts as failed.
RESENDS = 3


def unplaced(events: Sequence[Event], futures: Sequence[Any], topic: str) -> list[Event]:
    """The events among those sent (their kafka-python futures done and successful) that Kafka acknowledged without
    saying where it holds them: offset -1.

    kafka-python takes a DUPLICATE_SEQUENCE_NUMBER answer as success and reports offset -1 (a retried batch the
    broker already has, it assumes). tansu, the local Kafka, counts a producer's sequence before it stores the
    batch, so a produce that fails in between is retried and answered "duplicate" for records it never stored:
    acknowledged and lost (issue 25: 202 for 15,000 fixes, 14,998 in Kafka, no log). Such a record is sent again
    (a new sequence: stored at worst twice, and every consumer is idempotent on source and id); a real duplicate
    answer from Apache Kafka carries the batch's offset and is never -1."""
    again = [event for event, future in zip(events, futures, strict=True) if future.value.offset < 0]
    if again:
        log.warning("Kafka acknowledged %d of %d record(s) for %s as duplicates without an offset: sending them "
                    "again (a produce it counted but may not have stored)", len(again), len(events), topic)
    return again


def producer(bootstrap_servers: str, timeout: float, **options: Any) -> Any:
    """An idempotent acks=all producer; `timeout` (s) bounds connecting, blocking and each request."""
    from kafka import KafkaProducer

    defaults = {"acks": "all", "enable_idempotence": True, "max_block_ms": int(timeout * 1000),
                "request_timeout_ms": int(timeout * 1000), "bootstrap_timeout_ms": int(timeout * 1000),
                # Idempotence keeps retries from duplicating or reordering records within a partition.
                "retries": 5}
    return KafkaProducer(bootstrap_servers=bootstrap_servers, **{**defaults, **options})


def send(producer: Any, topic: str, message: KafkaMessage) -> Any:
    """Queue one record; kafka-python's future (get, add_both, failed, exception) says whether it was stored."""
    # kafka-python refuses a record with neither key nor value: an event without data or partitionkey.
    value = b"" if message.value is None and message.key is None else message.value
    return producer.send(topic, key=message.key, value=value, headers=list(message.headers.items()))


def abort(producer: Any) -> None:
    """Drop a producer's unsent records and close it at once (kafka-python's close() raises while any are left)."""
    try:
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
        producer._closed = True
    except Exception as error:  # pragma: no cover - best effort on a producer already failing
        log.debug("aborting a Kafka producer: %r", error)


def close(producer: Any, timeout: float) -> None:
    try:
        producer.close(timeout=timeout)
    except Exception as error:  # unsent records make kafka-python's close raise (and again from __del__)
        log.warning("closing the Kafka producer: %r; aborting unsent records", error)
        abort(producer)


class KafkaWriter:
    """One idempotent producer per process, created on first use so a stopped Kafka fails writes, not startup."""

    def __init__(self, bootstrap_servers: str, timeout: float = 10.0, **producer_options: Any) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.timeout = timeout
        self.options = {"linger_ms": 2, **producer_options}
        self._producer: Any = None
        self._closed = False
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._closed:
                raise WriteError("the writer is closed")
            if self._producer is None:
                self._producer = producer(self.bootstrap_servers, self.timeout, **self.options)
            return self._producer

    def write(self, topic: str, event: Event) -> None:
        """Raise WriteError unless Kafka stored the record."""
        self.write_many(topic, [event])

    def write_many(self, topic: str, events: Sequence[Event]) -> None:
        """Send every record before waiting, so they share produce requests; WriteError unless Kafka said where it
        holds each (see unplaced)."""
        try:
            client = self._get()
            for _ in range(RESENDS + 1):
                futures = [send(client, topic, to_binary(event)) for event in events]
                for future in futures:
                    future.get(timeout=self.timeout)
                if not (events := unplaced(events, futures, topic)):
                    return
        except Exception as exc:  # kafka-python raises many unrelated types; all mean "not stored"
            raise WriteError(f"writing to {topic} failed: {exc!r}") from exc
        raise WriteError(f"writing to {topic} failed: {len(events)} record(s) acknowledged without an offset "
                         f"{RESENDS + 1} times")

    def close(self) -> None:
        with self._lock:
            client, self._producer, self._closed = self._producer, None, True
        if client is not None:
            close(client, self.timeout)


def offsets(positions: dict[Any, int]) -> dict[Any, Any]:
    """kafka-python's commit argument for these TopicPartition -> next offset positions."""
    from kafka.structs import OffsetAndMetadata

    return {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in positions.items()}


def _consumer(bootstrap_servers: str, group: str | None, timeout_ms: int, **options: Any) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False,
                         fetch_max_wait_ms=50, bootstrap_timeout_ms=timeout_ms, **options)


def committed_offsets(bootstrap_servers: str, group: str, topic: str, timeout: float = 5.0) -> dict[int, int]:
    """partition -> the group's committed offset on `topic` (0 when it never committed)."""
    from kafka import TopicPartition

    consumer = _consumer(bootstrap_servers, group, int(timeout * 1000))
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) or 0
                for p in sorted(consumer.partitions_for_topic(topic) or ())}
    finally:
        consumer.close(autocommit=False)


def read_topic(bootstrap_servers: str, topic: str, timeout: float = 5.0) -> Iterator[Record]:
    """Every record of `topic` from its start up to now (until the fetches come back empty: the end offsets tansu
    reports can stop short, see trigger_lag)."""
    from kafka import TopicPartition

    consumer = _consumer(bootstrap_servers, None, int(timeout * 1000))
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        empty = 0
        while partitions and empty < 5:
            batches = consumer.poll(timeout_ms=100)
            empty = 0 if batches else empty + 1
            for tp, records in batches.items():
                for record in records:
                    yield tp.partition, record.offset, _message(record)
    finally:
        consumer.close(autocommit=False)


def commit(bootstrap_servers: str, group: str, topic: str, positions: dict[int, int]) -> None:
    """Commit partition -> next offset for `group` on `topic`, never moving a committed offset back."""
    from kafka import TopicPartition

    consumer = _consumer(bootstrap_servers, group, 10_000)
    try:
        ahead = {tp: o for p, o in positions.items()
                 if o > (consumer.committed(tp := TopicPartition(topic, p)) or 0)}
        if ahead:
            consumer.commit(offsets(ahead))
    finally:
        consumer.close(autocommit=False)


def _message(record: Any) -> KafkaMessage:
    return KafkaMessage(dict(record.headers or ()), record.key, record.value)


def event_of(record: Any) -> Event:
    """The event in a kafka-python ConsumerRecord (not validated)."""
    return from_binary(_message(record))


def trigger_lag(bootstrap_servers: str, groups: dict[str, str], timeout_ms: int = 5000) -> dict[str, int]:
    """consumer group -> records at or past its committed offsets (a partition never committed counts whole).

    Counted by reading the records past each partition's committed offset rather than from the end offsets Kafka
    reports, because tansu 0.6 reports a partition's end as the last batch's *first* offset + 1 (seen: 8 records
    in two batches, end offset 5), which would make a drain stop early. Reading costs what the lag is."""
    return {group: _lag(bootstrap_servers, group, topic, timeout_ms) for group, topic in groups.items()}


def _lag(bootstrap_servers: str, group: str, topic: str, timeout_ms: int) -> int:
    from kafka import TopicPartition

    options = {"request_timeout_ms": timeout_ms + 1000}
    member = _consumer(bootstrap_servers, group, timeout_ms, **options)
    reader = _consumer(bootstrap_servers, None, timeout_ms, **options)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(member.partitions_for_topic(topic) or ())]
        if not partitions:
            return 0
        reader.assign(partitions)
        for tp in partitions:
            committed = member.committed(tp)
            if committed is None:
                reader.seek_to_beginning(tp)
            else:
                reader.seek(tp, committed)
        # Count what was in the topic when asked: under load records keep coming, so a partition is done at its
        # first record written after that instant, and the count at half a second of empty fetches.
        asked = time.time() * 1000
        count, empty = 0, 0
        while empty < 5 and reader.assignment() - set(reader.paused()):
            batches = reader.poll(timeout_ms=100)
            empty = 0 if batches else empty + 1
            for tp, records in batches.items():
                for record in records:
                    if record.timestamp > asked:
                        reader.pause(tp)
                        break
                    count += 1
        return count
    finally:
        member.close(autocommit=False)
        reader.close(autocommit=False)
