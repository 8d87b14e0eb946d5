"""How far each Trigger's consumer group is behind its topic: the events accepted but not yet delivered.

Counted by reading the records past each partition's committed offset rather than from the end offsets Kafka
reports, because tansu 0.6 reports a partition's end as the last batch's *first* offset + 1 (seen here: 8 records in
two batches, end offset 5), which would make a drain stop early. Reading costs what the lag is: a local tool.
"""

from __future__ import annotations

import time
from typing import Any


def trigger_lag(bootstrap_servers: str, groups: dict[str, str], timeout_ms: int = 5000) -> dict[str, int]:
    """consumer group -> records at or past its committed offsets (a partition never committed counts whole)."""
    return {group: _lag(bootstrap_servers, group, topic, timeout_ms) for group, topic in groups.items()}


def _lag(bootstrap_servers: str, group: str, topic: str, timeout_ms: int) -> int:
    from kafka import KafkaConsumer, TopicPartition

    options: dict[str, Any] = {"bootstrap_servers": bootstrap_servers, "enable_auto_commit": False,
                               "fetch_max_wait_ms": 50, "request_timeout_ms": timeout_ms + 1000}
    if "bootstrap_timeout_ms" in KafkaConsumer.DEFAULT_CONFIG:  # fail in seconds, not 30, when Kafka is down
        options["bootstrap_timeout_ms"] = timeout_ms
    member = KafkaConsumer(group_id=group, **options)
    reader = KafkaConsumer(group_id=None, **options)
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
