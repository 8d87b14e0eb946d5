"""Open a kafka-python consumer in a Trigger's consumer group, and the offsets it commits."""

from __future__ import annotations

from typing import Any, Protocol


class GroupMember(Protocol):
    def on_partitions_revoked(self, revoked: Any) -> None: ...

    def on_partitions_assigned(self, assigned: Any) -> None: ...


def open_consumer(group: str, topic: str, bootstrap_servers: str, tuning: Any, member: GroupMember) -> Any:
    """Manual commits only; rebalance callbacks (run inside poll, on the polling thread) go to `member`."""
    from kafka import ConsumerRebalanceListener, KafkaConsumer

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked: Any) -> None:
            member.on_partitions_revoked(revoked)

        def on_partitions_assigned(self, assigned: Any) -> None:
            member.on_partitions_assigned(assigned)

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        session_timeout_ms=tuning.session_timeout_ms,
        heartbeat_interval_ms=tuning.heartbeat_interval_ms,
        max_poll_interval_ms=tuning.max_poll_interval_ms,
        max_poll_records=tuning.max_poll_records,
    )
    consumer.subscribe([topic], listener=Listener())
    return consumer


def offsets(positions: dict[Any, int]) -> dict[Any, Any]:
    from kafka.structs import OffsetAndMetadata

    if len(OffsetAndMetadata._fields) == 3:  # kafka-python >= 2.1 adds leader_epoch
        return {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in positions.items()}
    return {tp: OffsetAndMetadata(offset, "") for tp, offset in positions.items()}
