"""Reads on a streaming replica without losing one's own writes (DATABASE_READ_URL).

A replica replays the primary's WAL a little behind it. A read may go there only once the replica has replayed
everything the primary had written when the read began: the primary's WAL insert position
(`pg_current_wal_insert_lsn`, one cheap round trip; not the write position, which lags a commit under
`synchronous_commit=off`), then the replica's replay position (`pg_last_wal_replay_lsn`) polled until it has passed it,
for at most UDACONNECT_READ_REPLICA_WAIT seconds. Every fix persist had committed before a search began is then in
that search, wherever it runs. A replica that lags longer, is paused or cannot be reached sends the read to the
primary: slower, never stale, never an error. The caller counts where reads went (`udaconnect_db_reads_total`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

log = logging.getLogger(__name__)
#: Between two looks at the replica's replay position while it catches up.
POLL_SECONDS = 0.01


def caught_up_or_primary(primary: Engine, replica: Engine, wait: float) -> tuple[Engine, str]:
    """(`replica`, "replica") when it has replayed the primary's WAL up to now within `wait` seconds, else
    (`primary`, "primary")."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with primary.connect() as conn:
            target = conn.execute(text("SELECT pg_current_wal_insert_lsn()::text")).scalar_one()
    except SQLAlchemyError:
        return primary, "primary"  # the primary's own failure is the read's to report
    deadline = time.monotonic() + wait
    try:
        with replica.connect() as conn:
            while True:
                if conn.execute(text("SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn), false)"),
                                {"t": target}).scalar_one():
                    return replica, "replica"
                if time.monotonic() >= deadline:
                    break
                time.sleep(POLL_SECONDS)
    except SQLAlchemyError as error:
        log.warning("the read replica cannot be reached (%s): reading the primary", str(error).splitlines()[0])
    return primary, "primary"
