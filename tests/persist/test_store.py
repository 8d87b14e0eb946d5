"""The group's transaction: the bulk path, the sorting-out path it falls back to, and what COPY must escape."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg2
import pytest
from sqlalchemy import Engine, text

from udaconnect.errors import InfrastructureError
from udaconnect.persist.group_commit import GroupCommitWriter
from udaconnect.persist.store import DUPLICATE, STORED, UNKNOWN_PERSON, Row, prepare, store
from udaconnect.storage.urls import libpq

WHEN = datetime(2020, 8, 18, 10, 37, 6, tzinfo=UTC)


@pytest.fixture
def conn(db: Engine, settings):  # type: ignore[no-untyped-def]
    with db.begin() as c:
        c.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                       "SELECT 'P', 'N' || g, 'C' FROM generate_series(1, 3) g"))
    connection = psycopg2.connect(libpq(settings.database_url))
    prepare(connection)
    yield connection
    connection.close()


def row(event_id: str, person_id: int = 1, source: str = "/devices/a", accuracy: float | None = 3.0) -> Row:
    return Row(person_id, -122.29, 37.55, WHEN, accuracy, source, event_id, imported=True)  # not a device: an import


def stored(db: Engine) -> list[tuple]:
    with db.connect() as c:
        return [tuple(r) for r in c.execute(text(
            "SELECT person_id, event_source, event_id, accuracy, ST_X(coordinate::geometry), "
            "ST_Y(coordinate::geometry), creation_time FROM location ORDER BY id"))]


def test_new_events_of_known_persons_take_the_bulk_path(conn, db: Engine) -> None:
    assert store(conn, [row("a"), row("b", 2, accuracy=None)]) == [STORED, STORED]
    rows = stored(db)
    assert [(r[0], r[2], r[3]) for r in rows] == [(1, "a", 3.0), (2, "b", None)]
    assert rows[0][4:] == (pytest.approx(-122.29), pytest.approx(37.55), WHEN)


def test_a_redelivery_or_an_unknown_person_does_not_fail_the_rest_of_the_group(conn, db: Engine) -> None:
    assert store(conn, [row("old")]) == [STORED]
    outcomes = store(conn, [row("new-1"), row("old"), row("ghost", 999), row("new-2", 3), row("new-1")])
    assert outcomes == [STORED, DUPLICATE, UNKNOWN_PERSON, STORED, STORED]
    assert sorted(r[2] for r in stored(db)) == ["new-1", "new-2", "old"]


@pytest.mark.parametrize("awkward", ["tab\there", "new\nline", "back\\slash", "cr\rhere", "\\N", "ünï €"])
def test_values_copy_would_misread_are_stored_verbatim(conn, db: Engine, awkward: str) -> None:
    assert store(conn, [row(awkward, source=f"/devices/{awkward}")]) == [STORED]
    assert store(conn, [row(awkward, source=f"/devices/{awkward}"), row("x")]) == [DUPLICATE, STORED]
    assert [(r[1], r[2]) for r in stored(db)] == [(f"/devices/{awkward}", awkward), ("/devices/a", "x")]


def test_async_waiters_get_their_own_outcome_after_the_commit(db: Engine, settings) -> None:
    with db.begin() as c:
        c.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES ('P', 'N', 'C')"))
    writer = GroupCommitWriter(libpq(settings.database_url))

    async def deliver() -> list[str]:
        return await asyncio.gather(*(writer.write_async(row(f"e{i}", 1 if i % 4 else 77)) for i in range(200)))

    outcomes = asyncio.run(deliver())
    assert outcomes.count(STORED) == 150 and outcomes.count(UNKNOWN_PERSON) == 50
    assert len(stored(db)) == 150 and writer.batches < 100


def test_an_unreachable_database_is_an_infrastructure_error_for_async_waiters() -> None:
    from udaconnect.ports import free_port

    writer = GroupCommitWriter(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", connect_timeout=1)
    with pytest.raises(InfrastructureError):
        asyncio.run(writer.write_async(row("x")))
