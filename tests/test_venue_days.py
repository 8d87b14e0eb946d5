"""A whole day in the API is the venue's day (issue 23): midnight to midnight in /api/places' time_zone once a venue is
imported, UTC without one; the search and the encounters list agree on it; an instant range is unchanged. Every
expected instant below is written by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from bearer import headers
from udaconnect.contracts.api import day_range
from udaconnect.places import DEMO_VENUE, read_venue
from udaconnect.places.store import import_venue
from udaconnect.storage import bulk

MAIN = "functions/main.py"


def test_a_day_is_midnight_to_midnight_in_the_zone() -> None:
    assert day_range(date(2026, 12, 6), date(2026, 12, 6), "America/Los_Angeles") == (
        datetime(2026, 12, 6, 8, tzinfo=UTC), datetime(2026, 12, 7, 8, tzinfo=UTC))
    assert day_range(date(2026, 12, 6), date(2026, 12, 6)) == (
        datetime(2026, 12, 6, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC))
    # the day clocks go forward (23 hours) and the day they go back (25 hours), in Los Angeles
    assert day_range(date(2026, 3, 8), date(2026, 3, 8), "America/Los_Angeles") == (
        datetime(2026, 3, 8, 8, tzinfo=UTC), datetime(2026, 3, 9, 7, tzinfo=UTC))
    assert day_range(date(2026, 11, 1), date(2026, 11, 1), "America/Los_Angeles") == (
        datetime(2026, 11, 1, 7, tzinfo=UTC), datetime(2026, 11, 2, 8, tzinfo=UTC))
    # east of UTC: Kiritimati's day starts at 10:00 UTC the day before
    assert day_range(date(2026, 12, 6), date(2026, 12, 7), "Pacific/Kiritimati") == (
        datetime(2026, 12, 5, 10, tzinfo=UTC), datetime(2026, 12, 7, 10, tzinfo=UTC))
    at = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    assert day_range(at, at, "America/Los_Angeles") == (at, at + timedelta(microseconds=1))  # instants as they are
    with pytest.raises(ValueError):
        day_range(date(2026, 12, 7), date(2026, 12, 6), "America/Los_Angeles")


@pytest.fixture
def late_meetings(db):  # type: ignore[no-untyped-def]
    """Persons 1 and 2 meet at a booth at 23:30 and again at 00:30 (Los Angeles time), across the venue's midnight
    of 6 to 7 December 2026: 07:30 and 08:30 UTC on the 7th, one UTC day."""
    raw = db.raw_connection()
    bulk.copy_persons(raw, [(1, "Ada", "Lovelace", "Acme"), (2, "Alan", "Turing", "Bletchley")])
    booth = (-122.2908, 37.5536)
    late, early = datetime(2026, 12, 7, 7, 30, tzinfo=UTC), datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    bulk.copy_locations(raw, [(1, *booth, late), (2, *booth, late + timedelta(seconds=20)),
                              (1, *booth, early), (2, *booth, early + timedelta(seconds=20))])
    raw.commit()
    raw.close()
    from udaconnect.encounters import store

    with db.begin() as conn:
        store.rebuild(conn, 5.0, timedelta(minutes=5))
    yield db
    with db.begin() as conn:
        conn.execute(text("DELETE FROM place"))


def _met_at(client, day: str, window: str = "15") -> list[str]:  # type: ignore[no-untyped-def]
    reply = client.get(f"/api/persons/1/connection?start_date={day}&end_date={day}&distance=5&window={window}")
    assert reply.status_code == 200, reply.data
    return sorted(c["location"]["creation_time"] for c in reply.get_json())


def _encounters_on(client, day: str) -> list[str]:  # type: ignore[no-untyped-def]
    reply = client.get(f"/api/persons/1/encounters?start_date={day}&end_date={day}")
    assert reply.status_code == 200, reply.text
    return sorted(e["first_seen"] for e in reply.json())


def test_the_search_and_the_encounters_take_the_venues_days(late_meetings, app_env, connections_client) -> None:
    from functions_framework import create_app
    from starlette.testclient import TestClient

    encounters = TestClient(create_app("encounters", MAIN), headers=headers())
    # no venue: UTC days, both meetings on the 7th
    assert _met_at(connections_client, "2026-12-07") == ["2026-12-07T07:30:20+00:00"]  # the first within the range
    assert _met_at(connections_client, "2026-12-06") == []
    assert _encounters_on(encounters, "2026-12-07") == ["2026-12-07T07:30:00+00:00", "2026-12-07T08:30:00+00:00"]
    assert _encounters_on(encounters, "2026-12-06") == []
    assert connections_client.get("/api/places").get_json()["time_zone"] == "UTC"

    with late_meetings.begin() as conn:
        import_venue(conn, read_venue(DEMO_VENUE))
    assert connections_client.get("/api/places").get_json()["time_zone"] == "America/Los_Angeles"
    # the venue's days: 23:30 is the 6th, 00:30 the 7th
    assert _met_at(connections_client, "2026-12-06") == ["2026-12-07T07:30:20+00:00"]
    assert _met_at(connections_client, "2026-12-07") == ["2026-12-07T08:30:20+00:00"]
    assert _met_at(connections_client, "2026-12-08") == []
    # two encounters (60 minutes apart, the window is 5), one on each of the venue's days
    six, seven = _encounters_on(encounters, "2026-12-06"), _encounters_on(encounters, "2026-12-07")
    assert six == ["2026-12-07T07:30:00+00:00"] and seven == ["2026-12-07T08:30:00+00:00"], (six, seven)
    # an instant range is the same with or without a venue
    instant = connections_client.get("/api/persons/1/connection?start_date=2026-12-07T08:00:00Z"
                                     "&end_date=2026-12-07T09:00:00Z&distance=5&window=15").get_json()
    assert [c["location"]["creation_time"] for c in instant] == ["2026-12-07T08:30:20+00:00"]


def test_the_web_clients_default_days_are_the_last_three_up_to_today_at_the_venue() -> None:
    from udaconnect.settings import Settings
    from udaconnect.web.function import default_days

    settings = Settings.from_env({"UDACONNECT_VENUE_TIME_ZONE": "America/Los_Angeles"})
    # 05:00 UTC on 7 Dec is 21:00 on 6 Dec in Los Angeles: "today" is the venue's
    assert default_days(settings, datetime(2026, 12, 7, 5, tzinfo=UTC)) == {
        "defaultStartDate": "2026-12-04", "defaultEndDate": "2026-12-06"}
    fixed = Settings.from_env({"UDACONNECT_WEB_START_DATE": "2020-07-06", "UDACONNECT_WEB_END_DATE": "2020-07-08"})
    assert default_days(fixed) == {"defaultStartDate": "2020-07-06", "defaultEndDate": "2020-07-08"}
    with pytest.raises(ValueError, match="UDACONNECT_WEB_END_DATE"):
        Settings.from_env({"UDACONNECT_WEB_END_DATE": "July 8"})


def test_a_person_shows_the_span_of_their_record_to_themselves(late_meetings, persons_client) -> None:
    reply = persons_client.get("/api/persons/1")
    assert reply.status_code == 200, reply.data
    assert reply.get_json() == {"id": 1, "first_name": "Ada", "last_name": "Lovelace", "company_name": "Acme",
                                "first_seen": "2026-12-07T07:30:00+00:00", "last_seen": "2026-12-07T08:30:00+00:00"}
    with late_meetings.begin() as conn:
        conn.execute(text("DELETE FROM location WHERE person_id = 1"))
    assert persons_client.get("/api/persons/1").get_json()["last_seen"] is None
