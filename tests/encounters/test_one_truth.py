"""One truth: encounters detected fix by fix (late, out of order, redelivered) equal the batch rebuild, and the
persons a person has encounters with are exactly those the connection search finds with window = the encounter
window and distance = the encounter distance, over the same fixes (real PostGIS)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from udaconnect.encounters import store
from udaconnect.encounters.rule import Contact, Run, by_pair, merged, runs
from udaconnect.queries.connections import ConnectionSearch, search_json

DISTANCE, WINDOW = 5.0, timedelta(minutes=5)
START = datetime(2026, 3, 2, 8, tzinfo=UTC)
PERSONS, DAYS = 24, 3


def conference(rng: random.Random) -> list[tuple[int, float, float, datetime, str]]:
    """Fixes at 8 booths 6-12 m apart (jitter 2.5 m) over 3 days of 8 to 13 h: many contacts, some at the
    distance's edge; nights keep runs apart between days."""
    booths = [(-122.4 + (i % 4) * 0.00011, 37.78 + (i // 4) * 0.00008) for i in range(8)]
    fixes = []
    for person in range(1, PERSONS + 1):
        for day in range(DAYS):
            t = START + timedelta(days=day, minutes=rng.uniform(0, 60))
            end = START + timedelta(days=day, hours=5)
            booth = rng.randrange(len(booths))
            while t < end:
                if rng.random() < 0.15:
                    booth = rng.randrange(len(booths))
                lon, lat = booths[booth]
                fixes.append((person, lon + rng.gauss(0, 2.5) / 88_000, lat + rng.gauss(0, 2.5) / 111_000, t,
                              f"fix-{person}-{len(fixes)}"))
                t += timedelta(seconds=rng.expovariate(1 / 150))
    return fixes


def insert(engine: Engine, fixes: list[tuple[int, float, float, datetime, str]]) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO location (person_id, coordinate, creation_time, event_source, event_id) "
                          "VALUES (:p, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :t, '/devices/t', :id)"),
                     [{"p": p, "lon": lon, "lat": lat, "t": t, "id": i} for p, lon, lat, t, i in fixes])


def encounters(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT person_a, person_b, first_seen, last_seen, contacts, longitude, latitude FROM encounter "
            "ORDER BY person_a, person_b, first_seen"))]


def met_by_search(engine: Engine, person: int, start: datetime, end: datetime) -> set[int]:
    import json

    raw = engine.raw_connection()
    try:
        found = json.loads(search_json(raw.driver_connection, raw.info, ConnectionSearch(person, start, end, DISTANCE,
                                                                                 WINDOW)))
        raw.commit()
    finally:
        raw.close()
    return {c["person"]["id"] for c in found}


def met_by_encounters(engine: Engine, person: int, start: datetime, end: datetime) -> set[int]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text(
            "SELECT CASE WHEN person_a = :p THEN person_b ELSE person_a END FROM encounter "
            "WHERE (person_a = :p OR person_b = :p) AND first_seen < :end AND last_seen >= :start"),
            {"p": person, "start": start, "end": end})}


@pytest.fixture
def people(db: Engine) -> Engine:
    with db.begin() as conn:
        conn.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                          f"SELECT 'P', 'N' || g, 'C' FROM generate_series(1, {PERSONS}) g"))
    return db


@pytest.mark.parametrize("seed", [1, 2])
def test_live_detection_with_late_and_duplicated_fixes_equals_the_rebuild_and_the_search(people: Engine,
                                                                                       seed: int) -> None:
    rng = random.Random(seed)
    fixes = conference(rng)
    arriving = sorted(fixes, key=lambda f: f[3] + timedelta(seconds=rng.expovariate(1 / 20)))  # jitter
    for _ in range(len(arriving) // 20):  # and some very late: minutes to hours
        i = rng.randrange(len(arriving))
        arriving.insert(min(len(arriving), i + rng.randrange(50, 800)), arriving.pop(i))
    stored: list[str] = []
    position = 0
    while position < len(arriving):
        chunk = arriving[position:position + rng.randrange(1, 60)]
        position += len(chunk)
        insert(people, chunk)
        stored += [f[4] for f in chunk]
        # deliveries lag the commits, in any order; a fifth are delivered again (redelivery)
        ready = [key for key in stored if rng.random() < 0.7]
        ready += rng.sample(stored, min(len(stored), len(ready) // 5))
        rng.shuffle(ready)
        with people.begin() as conn:
            store.detect(conn, [("/devices/t", key) for key in ready], DISTANCE, WINDOW)
        delivered = set(ready)
        stored = [key for key in stored if key not in delivered]
    with people.begin() as conn:
        store.detect(conn, [("/devices/t", f[4]) for f in fixes], DISTANCE, WINDOW)  # all of them, once more
    live = encounters(people)
    assert len(live) > 50, "the data should make many encounters"
    with people.begin() as conn:
        total = store.rebuild(conn, DISTANCE, WINDOW)
    assert total == len(live)
    rebuilt = encounters(people)
    assert [r[:5] for r in live] == [r[:5] for r in rebuilt]
    for mine, theirs in zip(live, rebuilt, strict=True):  # centres: the same mean, added in another order
        assert mine[5:] == pytest.approx(theirs[5:], abs=1e-8)
    whole = (START - timedelta(days=1), START + timedelta(days=DAYS + 1))
    days = [(START + timedelta(days=d, hours=-8), START + timedelta(days=d, hours=16)) for d in range(DAYS)]
    for person in range(1, PERSONS + 1):
        for start, end in [whole, *days]:
            assert met_by_encounters(people, person, start, end) == met_by_search(people, person, start, end), (
                person, start)


def test_rebuild_since_a_date_keeps_earlier_runs_and_recomputes_the_rest(people: Engine) -> None:
    fixes = conference(random.Random(3))
    insert(people, fixes)
    with people.begin() as conn:
        store.rebuild(conn, DISTANCE, WINDOW)
    before = encounters(people)
    with people.begin() as conn:  # mid-afternoon of day 2: runs going on then are recomputed whole
        store.rebuild(conn, DISTANCE, WINDOW, since=START + timedelta(days=1, hours=5))
    after = encounters(people)
    assert [r[:5] for r in after] == [r[:5] for r in before]


def test_redelivered_fixes_change_nothing_and_announce_nothing(people: Engine) -> None:
    at = START
    insert(people, [(1, -122.4, 37.78, at, "a"), (2, -122.4, 37.78001, at + timedelta(minutes=1), "b")])
    with people.begin() as conn:
        created = store.detect(conn, [("/devices/t", "a"), ("/devices/t", "b")], DISTANCE, WINDOW)
    assert [(s.person_a, s.person_b, s.run.contacts) for s in created] == [(1, 2, 1)]
    for _ in range(3):
        with people.begin() as conn:
            assert store.detect(conn, [("/devices/t", "b"), ("/devices/t", "a")], DISTANCE, WINDOW) == []
    assert [r[:5] for r in encounters(people)] == [(1, 2, at, at + timedelta(minutes=1), 1)]


def test_a_late_fix_bridging_two_runs_joins_them_into_the_older_one(people: Engine) -> None:
    at = START
    insert(people, [(1, -122.4, 37.78, at, "a1"), (2, -122.4, 37.78, at, "b1"),
                    (1, -122.4, 37.78, at + timedelta(minutes=12), "a2"),
                    (2, -122.4, 37.78, at + timedelta(minutes=12), "b2")])
    with people.begin() as conn:
        first = store.detect(conn, [("/devices/t", k) for k in ("a1", "b1", "a2", "b2")], DISTANCE, WINDOW)
    assert len(first) == 2
    # late fixes at 4 and 8 minutes: contacts 0-4, 4-8 and 8-12 close the gap
    insert(people, [(1, -122.4, 37.78, at + timedelta(minutes=4), "late-a"),
                    (2, -122.4, 37.78, at + timedelta(minutes=8), "late-b")])
    for key in ("late-b", "late-a"):
        with people.begin() as conn:
            assert store.detect(conn, [("/devices/t", key)], DISTANCE, WINDOW) == []
    rows = encounters(people)
    assert [r[:5] for r in rows] == [(1, 2, at, at + timedelta(minutes=12), 5)]


def test_the_rule_is_order_free() -> None:
    rng = random.Random(7)
    contacts = []
    for _ in range(300):
        lo = START + timedelta(seconds=rng.uniform(0, 7200))
        contacts.append(Contact(1, 2, lo, lo + timedelta(seconds=rng.uniform(0, 300)), rng.random(), rng.random()))
    expected = runs(contacts, WINDOW)
    for _ in range(20):
        rng.shuffle(contacts)
        folded: list[Run] = []
        for contact in contacts:  # one contact at a time, as the detector sees them
            run = runs([contact], WINDOW)[0]
            touching = [r for r in folded if r.touches(run, WINDOW)]
            folded = [r for r in folded if r not in touching] + [merged([*touching, run])]
        folded.sort(key=lambda r: r.first_seen)
        assert [(r.first_seen, r.last_seen, r.contacts) for r in folded] == [
            (r.first_seen, r.last_seen, r.contacts) for r in expected]
    assert all(b.first_seen - a.last_seen > WINDOW for a, b in zip(expected, expected[1:], strict=False))
    assert by_pair(contacts, WINDOW) == {(1, 2): expected}


def test_one_fix_of_a_multi_fix_report_is_taken_alone(people: Engine) -> None:
    """Each of a report's N announcements scans its own fix: scanning the whole report each time read N x N rows."""
    with people.begin() as conn:
        conn.execute(text(
            "INSERT INTO location (person_id, coordinate, creation_time, event_source, event_id, event_index) "
            "SELECT 1, ST_SetSRID(ST_MakePoint(-122.4, 37.78), 4326)::geography, "
            "       timestamptz '2020-07-06 10:00Z' + g * interval '1 minute', '/devices/m', 'r1', g "
            "FROM generate_series(0, 4) g"))
        store.detect(conn, [("/devices/m", "r1", 2)], DISTANCE, WINDOW)
        scanned = conn.execute(text("SELECT l.event_index FROM encounter_scan s JOIN location l "
                                    "ON l.id = s.location_id WHERE l.event_id = 'r1'")).scalars().all()
        assert scanned == [2]
        store.detect(conn, [("/devices/m", "r1")], DISTANCE, WINDOW)  # no index: the whole report
        assert conn.execute(text("SELECT count(*) FROM encounter_scan")).scalar() == 5
