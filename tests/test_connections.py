"""The connection search against a brute-force oracle (geodesics computed in Python) on random data."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from geodesy import destination, distance
from udaconnect.storage import bulk
from udaconnect.storage.tables import location

ORIGIN = (-106.5719, 35.0585)  # Albuquerque, as in the original seed
DAY0 = datetime(2020, 7, 1, tzinfo=UTC)
Fix = tuple[int, float, float, datetime]


def load(db: Engine, persons: int, fixes: list[Fix]) -> list[dict]:
    raw = db.raw_connection()
    try:
        bulk.copy_persons(raw, [(p, f"First{p}", f"Last{p}", f"Company{p % 3}") for p in range(1, persons + 1)])
        bulk.copy_locations(raw, fixes)
        raw.commit()
    finally:
        raw.close()
    with db.connect() as conn:
        rows = conn.execute(location.select().order_by(location.c.id)).mappings().all()
    return [{"id": r["id"], "person_id": r["person_id"], "fix": fixes[r["id"] - 1]} for r in rows]


def oracle(rows: list[dict], person: int, start: date, end: date, meters: float,
           window: float | None = None) -> list[tuple[int, int]]:
    """(person_id, location_id) of each other person's first fix near any of `person`'s fixes, by time."""
    lo = datetime.combine(start, datetime.min.time(), UTC)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    inside = [r for r in rows if lo <= r["fix"][3] < hi]
    own = [r for r in inside if r["person_id"] == person]
    first: dict[int, dict] = {}
    for other in inside:
        if other["person_id"] == person:
            continue
        _, lon, lat, t = other["fix"]
        for mine in own:
            _, mlon, mlat, mt = mine["fix"]
            if window is not None and abs((t - mt).total_seconds()) > window * 60:
                continue
            if distance(lon, lat, mlon, mlat) <= meters:
                best = first.get(other["person_id"])
                if best is None or (t, other["id"]) < (best["fix"][3], best["id"]):
                    first[other["person_id"]] = other
                break
    ordered = sorted(first.values(), key=lambda r: (r["fix"][3], r["person_id"]))
    return [(r["person_id"], r["id"]) for r in ordered]


def ask(client, person: int, start: date, end: date, meters: float, window: float | None = None) -> list[tuple]:
    url = f"/api/persons/{person}/connection?start_date={start}&end_date={end}&distance={meters}"
    if window is not None:
        url += f"&window={window}"
    reply = client.get(url)
    assert reply.status_code == 200, reply.data
    return [(c["person"]["id"], c["location"]["id"]) for c in reply.get_json()]


def random_fixes(rng: random.Random, persons: int, per_person: int, spread_m: float, days: int) -> list[Fix]:
    fixes = []
    for person in range(1, persons + 1):
        for _ in range(per_person):
            lon, lat = destination(*ORIGIN, rng.uniform(0, 360), spread_m * rng.random() ** 0.5)
            fixes.append((person, lon, lat, DAY0 + timedelta(seconds=rng.randrange(days * 86400))))
    return fixes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_conference_matches_the_oracle(db, connections_client, seed: int) -> None:
    rng = random.Random(seed)
    rows = load(db, 40, random_fixes(rng, 40, 25, spread_m=40, days=6))
    for _ in range(12):
        person = rng.randint(1, 40)
        start = DAY0.date() + timedelta(days=rng.randint(0, 3))
        end = start + timedelta(days=rng.randint(0, 3))
        meters = rng.choice([1.5, 3, 5, 10, 25, 60])  # 60 m: too many cells, the GiST path
        window = rng.choice([None, None, 30, 240])
        expected = oracle(rows, person, start, end, meters, window)
        assert ask(connections_client, person, start, end, meters, window) == expected


@pytest.mark.parametrize("bearing", [0, 90, 180, 270])
def test_distance_boundary_is_inclusive_to_the_millimetre(db, connections_client, bearing: int) -> None:
    """On the spheroid, as the oracle: a sphere is off by ~1 cm in 5 m north-south or east-west."""
    t = DAY0 + timedelta(hours=12)
    near = destination(*ORIGIN, bearing, 5 - 0.001)
    far = destination(*ORIGIN, bearing, 5 + 0.001)
    load(db, 3, [(1, *ORIGIN, t), (2, *near, t), (3, *far, t)])
    day = DAY0.date()
    assert [p for p, _ in ask(connections_client, 1, day, day, 5)] == [2]
    assert [p for p, _ in ask(connections_client, 1, day, day, 5.002)] == [2, 3]


def test_first_and_last_day_are_inclusive(db, connections_client) -> None:
    start, end = date(2020, 7, 2), date(2020, 7, 4)
    first_instant = datetime(2020, 7, 2, tzinfo=UTC)
    last_instant = datetime(2020, 7, 4, 23, 59, 59, 999999, tzinfo=UTC)
    fixes = [
        (1, *ORIGIN, first_instant),
        (1, *ORIGIN, last_instant),
        (2, *ORIGIN, first_instant),                          # first instant of the first day: in
        (3, *ORIGIN, last_instant),                           # last instant of the last day: in
        (4, *ORIGIN, first_instant - timedelta(microseconds=1)),  # the day before: out
        (5, *ORIGIN, last_instant + timedelta(microseconds=1)),   # the day after: out
    ]
    load(db, 5, fixes)
    assert [p for p, _ in ask(connections_client, 1, start, end, 1)] == [2, 3]


def test_window_keeps_only_people_there_at_the_same_time(db, connections_client) -> None:
    t = DAY0 + timedelta(hours=10)
    load(db, 3, [(1, *ORIGIN, t), (2, *ORIGIN, t + timedelta(minutes=15)), (3, *ORIGIN, t + timedelta(minutes=16))])
    day = DAY0.date()
    assert [p for p, _ in ask(connections_client, 1, day, day, 5, window=15)] == [2]
    assert [p for p, _ in ask(connections_client, 1, day, day, 5)] == [2, 3]


def test_each_person_appears_once_at_their_first_meeting(db, connections_client) -> None:
    t = DAY0 + timedelta(hours=9)
    fixes = [(1, *ORIGIN, t), (1, *ORIGIN, t + timedelta(hours=5)),
             (2, *ORIGIN, t + timedelta(hours=4)), (2, *ORIGIN, t + timedelta(hours=1)), (2, *ORIGIN, t)]
    rows = load(db, 2, fixes)
    day = DAY0.date()
    (met,) = ask(connections_client, 1, day, day, 5)
    assert met == (2, rows[4]["id"])


def test_limit_keeps_the_earliest(db, connections_client) -> None:
    t = DAY0 + timedelta(hours=9)
    load(db, 5, [(1, *ORIGIN, t)] + [(p, *ORIGIN, t + timedelta(minutes=10 - p)) for p in range(2, 6)])
    reply = connections_client.get(
        f"/api/persons/1/connection?start_date={DAY0.date()}&end_date={DAY0.date()}&limit=2")
    assert [c["person"]["id"] for c in reply.get_json()] == [5, 4]


@pytest.mark.parametrize("origin", [(179.99999, 10.0), (-179.99999, -10.0), (12.0, 89.5), (-70.0, -89.99)],
                         ids=["antimeridian-east", "antimeridian-west", "near-north-pole", "south-pole"])
def test_grid_edges_wrap_and_fall_back(db, connections_client, origin: tuple[float, float]) -> None:
    """Across the antimeridian the grid wraps; near the poles the search falls back to the GiST."""
    t = DAY0 + timedelta(hours=12)
    fixes = [(1, *origin, t)] + [(p, *destination(*origin, bearing, 3.0), t)
                                  for p, bearing in zip(range(2, 6), (0, 90, 180, 270), strict=True)]
    fixes.append((6, *destination(*origin, 45, 7.0), t))
    rows = load(db, 6, fixes)
    day = DAY0.date()
    assert sorted(p for p, _ in ask(connections_client, 1, day, day, 5)) == [2, 3, 4, 5]
    assert ask(connections_client, 1, day, day, 5) == oracle(rows, 1, day, day, 5)
