"""How a Trigger's consumer group polls, buffers, delivers at once, commits and drains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsumerTuning:
    # tansu makes a join wait about half the session timeout: small values keep startup quick, but a busy
    # 2-core machine must still heartbeat in time (tests use 2 s).
    session_timeout_ms: int = 6000
    heartbeat_interval_ms: int = 1500
    max_poll_interval_ms: int = 6000
    max_in_flight_per_partition: int = 100  # unordered delivery
    buffer_per_partition: int = 1000  # pause fetching a partition beyond this many undelivered records
    # HTTP connections (deliveries at once) per Trigger. Group commit in persist groups what is in flight: 32
    # made ~30-row transactions and 5.1k fixes/s end to end here, 100-300 made 6.7k (connections are cheap now).
    workers: int = 256
    max_poll_records: int = 500  # kafka-python's default (measured with it: larger batches were no cheaper)
    # How long the Kafka broker may hold a fetch that found nothing new. tansu holds it that long even when
    # records arrive meanwhile: with the clients' 500 ms default, device -> row took 138 ms (median) at 50
    # events/s; with 20 ms, 12 ms. The price: an idle broker process polls, ~5 % of a core.
    fetch_max_wait_ms: int = 20
    commit_interval: float = 0.2
    drain_timeout: float = 10.0
    stall_after: float = 10.0  # seconds a partition may sit below its high-water mark, unpaused, before a warning
    # Seconds a member may hold no partition before it leaves and joins again: longer than a normal rebalance
    # (tansu holds a join about half the session timeout), short enough that a stuck one resumes soon.
    rejoin_after: float = 20.0
