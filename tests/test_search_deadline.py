"""Every search has a deadline that reaches the database (issue 10, finding 1 and "every request has a deadline"):
past settings.search_timeout PostgreSQL cancels it, the API answers 504 problem+json, nothing keeps running."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, text

from udaconnect.problems import PROBLEM, SEARCH_TIMEOUT_TITLE, SEARCH_TIMEOUT_TYPE
from udaconnect.seed import seed
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.synthetic import BoothGrid

SEARCH = "/api/persons/7/connection?start_date=2020-07-01&end_date=2020-07-30&distance=5000"


@pytest.fixture
def slow_client(db: Engine, app_env: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The connections target with a 1 ms budget over 20,000 fixes: a 30-day, 5 km search cannot make it."""
    from functions_framework import create_app

    seed(db, BoothGrid(persons=400, fixes_per_person=50, booths=40), show_progress=False)
    monkeypatch.setenv("UDACONNECT_SEARCH_TIMEOUT", "0.001")
    from conftest import _as_organizer

    return _as_organizer(create_app("connections", str(PROJECT_ROOT / "functions" / "main.py")).test_client())


def running_searches(db: Engine) -> list[str]:
    with db.connect() as conn:
        return list(conn.execute(text(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state <> 'idle' AND query LIKE '%udaconnect_connections%'")).scalars())


def test_a_search_past_its_budget_is_cancelled_and_answers_504(db, slow_client) -> None:
    reply = slow_client.get(SEARCH)
    assert reply.status_code == 504, reply.data
    assert reply.headers["Content-Type"].startswith(PROBLEM)
    body = reply.get_json()
    assert body["type"] == SEARCH_TIMEOUT_TYPE and body["title"] == SEARCH_TIMEOUT_TITLE and body["status"] == 504
    assert "0.001 s" in body["detail"] and "shorter date range" in body["detail"]
    assert running_searches(db) == []  # cancelled in PostgreSQL, not merely abandoned


def test_the_connection_stays_usable_after_a_cancelled_search(db, slow_client, monkeypatch) -> None:
    assert slow_client.get(SEARCH).status_code == 504
    from udaconnect import bootstrap

    monkeypatch.setenv("UDACONNECT_SEARCH_TIMEOUT", "30")
    bootstrap.context.cache_clear()
    reply = slow_client.get(SEARCH)
    assert reply.status_code == 200 and len(reply.get_json()) > 300


def test_the_default_budget_is_ten_seconds_and_read_from_the_environment() -> None:
    assert Settings().search_timeout == 10.0
    assert Settings.from_env({"UDACONNECT_SEARCH_TIMEOUT": "2.5"}).search_timeout == 2.5


@pytest.fixture
def bounded_client(db: Engine, app_env: Settings, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The connections target with a 0.3 s budget, and a person with one location: (client, person, location)."""
    from functions_framework import create_app

    from conftest import _as_organizer

    with db.begin() as conn:
        person = conn.execute(text("INSERT INTO person (first_name, last_name, company_name) VALUES "
                                   "('Ada', 'Deadline', 'Budget') RETURNING id")).scalar_one()
        location = conn.execute(text(
            "INSERT INTO location (person_id, coordinate, creation_time) VALUES "
            "(:p, ST_SetSRID(ST_MakePoint(-122.29, 37.55), 4326)::geography, now()) RETURNING id"),
            {"p": person}).scalar_one()
    monkeypatch.setenv("UDACONNECT_SEARCH_TIMEOUT", "0.3")
    client = _as_organizer(create_app("connections", str(PROJECT_ROOT / "functions" / "main.py")).test_client())
    return client, person, location


@pytest.mark.parametrize("read", ["track", "location"])
def test_a_read_that_is_not_the_search_is_cancelled_at_the_same_budget_and_answers_504(
        db: Engine, bounded_client, read: str) -> None:  # type: ignore[no-untyped-def]
    """A track or a location read waits on a lock another transaction holds on the location table, longer than
    its budget: PostgreSQL cancels it (SQLSTATE 57014) and the API answers 504, never 503 or 500, with no
    Retry-After (asking the same again will not help); once the lock is gone the same read answers 200."""
    client, person, location = bounded_client
    today = date.today().isoformat()
    path = {"track": f"/api/persons/{person}/locations?start_date={today}&end_date={today}",
            "location": f"/api/locations/{location}"}[read]
    with db.connect() as holder:
        holder.execute(text("LOCK TABLE location IN ACCESS EXCLUSIVE MODE"))
        reply = client.get(path)
        holder.rollback()
    assert reply.status_code == 504, reply.data
    body = reply.get_json()
    assert (body["type"], body["title"], body["status"]) == (SEARCH_TIMEOUT_TYPE, SEARCH_TIMEOUT_TITLE, 504)
    assert "Retry-After" not in reply.headers
    assert client.get(path).status_code == 200
