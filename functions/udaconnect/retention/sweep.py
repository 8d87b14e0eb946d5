"""The retention sweep: delete what holds a location older than the retention, in bounded batches.

What holds a location, and how it goes:
- `location` rows recorded before the cutoff (their `encounter_scan` rows cascade), and the fixes kept apart as
  untrusted (`location_untrusted`, udaconnect.plausibility) alike: a backdated one goes at the next sweep;
- `encounter` rows last seen before the cutoff (a run's place and times are a location of both persons);
- `event_outbox` rows created before the cutoff and still undelivered (delivered rows are deleted at once);
- copies in Kafka: the topics' retention.ms (eventing/broker.yaml), not this sweep.

Each batch is its own short transaction of at most `batch` rows, so a sweep never holds locks long nor builds
one huge transaction; batches go on until nothing older is left or the time budget is spent, and the result
says whether something is left for the next run. The cutoff is taken once per sweep. `creation_time` is when the
fix was taken (not when it arrived): a fix reported late but older than the retention goes at the next sweep.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

#: Rows per batch: ~0.1-0.3 s of deleting (with encounter_scan's cascade) on the test machine.
BATCH = 5000
#: Seconds of deleting per sweep: well inside a Knative request's timeout, so a tick always gets its answer.
BUDGET = 20.0

_BATCHES = {
    "locations": "DELETE FROM location WHERE id = ANY(ARRAY("
                 "SELECT id FROM location WHERE creation_time < :cutoff LIMIT :batch))",
    "untrusted": "DELETE FROM location_untrusted WHERE id = ANY(ARRAY("
                 "SELECT id FROM location_untrusted WHERE creation_time < :cutoff LIMIT :batch))",
    "encounters": "DELETE FROM encounter WHERE id = ANY(ARRAY("
                  "SELECT id FROM encounter WHERE last_seen < :cutoff LIMIT :batch))",
    "outbox": "DELETE FROM event_outbox WHERE seq = ANY(ARRAY("
              "SELECT seq FROM event_outbox WHERE created_at < :cutoff LIMIT :batch))",
}


@dataclass
class Sweep:
    """What one sweep deleted, and whether older rows are left (the budget ran out first)."""

    cutoff: datetime
    locations: int = 0
    untrusted: int = 0
    encounters: int = 0
    outbox: int = 0
    left: bool = False
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "cutoff": self.cutoff.isoformat(), "seconds": round(self.seconds, 3)}


def cutoff(days: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=days)


def sweep(engine: Engine, days: float, batch: int = BATCH, budget: float = BUDGET,
          now: datetime | None = None, dry_run: bool = False) -> Sweep:
    """Delete what is older than `days` (before `now`), `batch` rows per transaction, for at most `budget`
    seconds (at least one batch of each kind). With `dry_run`, count what would go and delete nothing."""
    if batch < 1 or days <= 0:
        raise ValueError("batch and days must be positive")
    result = Sweep(cutoff(days, now))
    started = time.monotonic()
    for kind, statement in _BATCHES.items():
        while True:
            with engine.begin() as conn:
                if dry_run:
                    found = _count(conn, kind, result.cutoff)
                    setattr(result, kind, found)
                    break
                deleted = conn.execute(text(statement), {"cutoff": result.cutoff, "batch": batch}).rowcount
            setattr(result, kind, getattr(result, kind) + deleted)
            if deleted < batch:
                break
            if time.monotonic() - started >= budget:
                result.left = True
                break
        if result.left:
            break
    result.seconds = time.monotonic() - started
    return result


def _count(conn: Any, kind: str, before: datetime) -> int:
    table, column = {"locations": ("location", "creation_time"),
                     "untrusted": ("location_untrusted", "creation_time"), "encounters": ("encounter", "last_seen"),
                     "outbox": ("event_outbox", "created_at")}[kind]
    return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {column} < :cutoff"),  # noqa: S608
                            {"cutoff": before}).scalar_one())


def count_older(conn: Any, days: float, now: datetime | None = None) -> int:
    """The locations (trusted or not) the next sweep would delete."""
    before = cutoff(days, now)
    return _count(conn, "locations", before) + _count(conn, "untrusted", before)
