"""Demo data: a synthetic conference loaded with COPY, with a progress bar."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sqlalchemy import Engine, text

from udaconnect.storage import bulk
from udaconnect.synthetic import BoothGrid, Conference, DemoConference


class ProgressBar:
    """A one-line progress bar on a terminal (plain periodic lines elsewhere)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.label, self.stream, self.width = max(total, 1), label, stream, width
        self.done, self.started, self._shown = 0, time.monotonic(), -1.0

    def __call__(self, step: int) -> None:
        self.done += step
        self.total = max(self.total, self.done)  # the total may be an estimate
        fraction = min(self.done / self.total, 1.0)
        tty = self.stream.isatty()
        if not tty and fraction - self._shown < 0.25 and fraction < 1.0:
            return
        self._shown = fraction
        filled = int(fraction * self.width)
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {fraction:4.0%} "
                f"{self.done:,}/{self.total:,} ({rate:,.0f}/s)")
        self.stream.write(("\r" + line) if tty else line + "\n")
        if tty and fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


    def finish(self) -> None:
        """The estimate was only an estimate: end at 100 % of what was really done."""
        if self._shown < 1.0:
            self.total = max(self.done, 1)
            self(0)


def is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM person)")).scalar_one() is True


def seed(engine: Engine, conference: Conference | BoothGrid, show_progress: bool = True,
         encounters: bool | None = None) -> tuple[int, int]:
    """Load the conference's persons and fixes in one transaction, then (by default for the demo conference only:
    the benchmark conference's are built by `udaconnect encounters rebuild` when wanted) their encounters;
    returns (persons, locations)."""
    progress = ProgressBar(conference.expected_fixes, "locations") if show_progress else None
    raw = engine.raw_connection()
    try:
        persons = bulk.copy_persons(raw, conference.people())  # type: ignore[misc]  # BoothGrid borrows it
        if isinstance(conference, Conference):
            locations = bulk.copy_reports(raw, conference.fixes(), progress)
        else:
            locations = bulk.copy_locations(raw, conference.fixes(), progress, event_source="/devices/synthetic")
        raw.commit()
        if progress:
            progress.finish()
    finally:
        raw.close()
    if isinstance(conference, Conference):  # its venue's places: answers name them, days are the venue's
        from udaconnect.places import DEMO_VENUE, read_venue
        from udaconnect.places.store import import_venue

        with engine.begin() as conn:
            import_venue(conn, read_venue(DEMO_VENUE))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE person; ANALYZE location"))
    if encounters if encounters is not None else isinstance(conference, DemoConference):
        from udaconnect.encounters_command import rebuild
        from udaconnect.settings import Settings

        rebuild(engine, Settings.from_env())
    return persons, locations
