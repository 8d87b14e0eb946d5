"""Copy an original UdaConnect database into ours: persons keep their ids, locations get their axes fixed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine

from udaconnect.contracts.names import FIRST_YEAR, LAST_YEAR
from udaconnect.legacy import report as r
from udaconnect.legacy.axis_order import AMBIGUOUS, Anchors, Order, by_range, decide
from udaconnect.legacy.report import ImportReport
from udaconnect.legacy.source import LegacyLocation, LegacySource
from udaconnect.legacy.staging import LocationWriter, bump_sequence, insert_persons

#: progress(phase, done, total), phase "persons" or "locations"
Progress = Callable[[str, int, int], None]


def import_legacy(
    source_dsn: str,
    target_engine: Engine,
    *,
    progress: Progress | None = None,
    venues: Iterable[tuple[float, float]] = (),
    assume: Order | None = None,
) -> ImportReport:
    """Import persons and locations from the original database at `source_dsn`, in one target transaction.

    Idempotent: locations are keyed by (event_source 'legacy:<host>/<db>', event_id = original id) and persons by
    id, so a second run adds nothing. Axis orders follow udaconnect.legacy.axis_order; `venues` are known
    (longitude, latitude) places that settle ambiguous rows near them; rows still ambiguous are skipped and
    reported unless `assume` names the order to take for them.
    """
    with LegacySource(source_dsn) as source, target_engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        report = ImportReport(source=f"legacy:{source.name}")
        # ids given out concurrently (the API stays up) must not land on the ids being imported
        bump_sequence(cur, "person", source.scalar("SELECT max(id) FROM person") or 0)
        bump_sequence(cur, "location", source.scalar("SELECT max(id) FROM location") or 0)
        persons = _import_persons(source, cur, report, progress)
        _import_locations(source, cur, report, persons, progress, Anchors(venues), assume)
        # the original seeded explicit ids without this, so its first POSTs failed
        bump_sequence(cur, "person")
        bump_sequence(cur, "location")
        return report


def _import_persons(source: LegacySource, cur: Any, report: ImportReport, progress: Progress | None) -> set[int]:
    """Insert persons under their original ids; return the ids whose locations may follow."""
    usable: set[int] = set()
    total = source.scalar("SELECT count(*) FROM person")
    for batch in source.persons():
        report.persons_read += len(batch)
        rows = []
        for row in batch:
            if None in row:
                report.skip("person", row[0], r.MISSING_FIELD, "a name or company is NULL")
            else:
                rows.append(row)
        added, existing = insert_persons(cur, rows)
        report.persons_added += len(added)
        for row in rows:
            # a person already there from an earlier import is fine; someone else under that id is not
            if row[0] in added or existing.get(row[0]) == tuple(row):
                usable.add(row[0])
            else:
                report.skip("person", row[0], r.PERSON_ID_TAKEN, f"target has {existing.get(row[0])}")
        if progress:
            progress("persons", report.persons_read, total)
    return usable


def _check(loc: LegacyLocation, persons: set[int]) -> tuple[str, str] | None:
    if loc.person_id not in persons:
        return r.UNKNOWN_PERSON, f"person {loc.person_id} was not imported"
    if loc.creation_time is None:
        return r.MISSING_FIELD, "creation_time is NULL"
    if not FIRST_YEAR <= loc.creation_time.year <= LAST_YEAR:
        # what ingest refuses too: such a time could not be read back as a datetime everywhere
        return r.TIME_OUT_OF_RANGE, f"{loc.creation_time.isoformat()}: years {FIRST_YEAR}-{LAST_YEAR} only"
    if loc.x is None or loc.y is None:
        return r.NOT_A_POINT, f"{loc.geometry_type or 'NULL'}"
    if loc.srid not in (0, 4326):
        return r.UNSUPPORTED_SRID, f"SRID {loc.srid}: only 0 and 4326 hold degrees"
    return None


def _import_locations(
    source: LegacySource,
    cur: Any,
    report: ImportReport,
    persons: set[int],
    progress: Progress | None,
    anchors: Anchors,
    assume: Order | None,
) -> None:
    writer = LocationWriter(cur, report.source)
    # only ambiguous rows wait for the end (they need every anchor); the rest are written batch by batch
    pending: list[LegacyLocation] = []
    total = source.scalar("SELECT count(*) FROM location")
    for batch in source.locations():
        report.locations_read += len(batch)
        ready = []
        for loc in batch:
            problem = _check(loc, persons)
            if problem:
                report.skip("location", loc.id, *problem)
                continue
            assert loc.x is not None and loc.y is not None
            verdict = by_range(loc.x, loc.y)
            if verdict.order is not None:
                anchors.add(*verdict.lon_lat(loc.x, loc.y))
                ready.append((loc, verdict.order))
            elif verdict.reason:
                report.skip("location", loc.id, verdict.reason, f"stored ({loc.x}, {loc.y})")
            else:
                pending.append(loc)
        _write(writer, report, ready)
        if progress:
            progress("locations", report.locations_read, total)
    ready = []
    for loc in pending:
        assert loc.x is not None and loc.y is not None
        order = decide(loc.x, loc.y, anchors).order
        if order is None and assume is not None:
            order = assume
            report.assumed += 1
        if order is None:
            report.skip("location", loc.id, AMBIGUOUS, f"stored ({loc.x}, {loc.y}): no certain fix near one reading")
        else:
            ready.append((loc, order))
    _write(writer, report, ready)


def _write(writer: LocationWriter, report: ImportReport, ready: list[tuple[LegacyLocation, Order]]) -> None:
    rows = []
    for loc, order in ready:
        assert loc.x is not None and loc.y is not None and loc.creation_time is not None
        lon, lat = (loc.y, loc.x) if order is Order.SWAPPED else (loc.x, loc.y)
        report.swapped += order is Order.SWAPPED
        rows.append((loc.id, loc.person_id, lon, lat, loc.creation_time))
    added, renumbered = writer.write(rows)
    report.locations_added += added + renumbered
    report.renumbered += renumbered
