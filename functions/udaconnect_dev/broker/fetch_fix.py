"""Work around kafka-python 3.0.x never resuming a paused partition whose fetched records it had parked."""

from __future__ import annotations

from typing import Any


def release_parked(consumer: Any) -> bool:
    """Let the fetcher hand back records it parked for a paused partition; call after every poll.

    kafka-python (3.0.12, its port of KAFKA-7548) parks a paused partition's half-returned records and restores
    them only while its in-line slot is None; but a fully drained slot keeps the spent (falsy) PartitionRecords, and
    a parked partition is never fetched again. So once pause() met half-returned records, that partition silently
    stopped for good after resume(): no error, no rebalance, position below the high-water mark. Emptying the spent
    slot is what the fetcher itself means by "fully consumed". Returns whether it did anything.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not getattr(fetcher, "_paused_partition_records", None):
        return False  # nothing parked, or a kafka-python without parking
    slot = getattr(fetcher, "_next_partition_records", None)
    if slot is None or slot:  # free already, or still holding records to return
        return False
    fetcher._next_partition_records = None
    return True


def forget_parked(consumer: Any, tp: Any) -> None:
    """Drop whatever the fetcher parked for `tp`, so it fetches the partition again from its position (records
    past the position are fetched anew, none skipped): the cure once a partition is seen stuck."""
    fetcher = getattr(consumer, "_fetcher", None)
    for name in ("_paused_partition_records", "_paused_completed_fetches"):
        parked = getattr(fetcher, name, None)
        if isinstance(parked, dict):
            parked.pop(tp, None)
