"""Both plans of the connection search (probe and walk) against the geodesic oracle, and the estimate's choice
proved with EXPLAIN ANALYZE (issue 10, finding 1: wide searches were slow or never answered)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from geodesy import destination
from test_connections import DAY0, ORIGIN, Fix, load, oracle
from udaconnect.queries.connections import STATEMENTS, ConnectionSearch, ensure_prepared, search_json
from udaconnect.seed import seed
from udaconnect.synthetic import BoothGrid

PLANS = ("probe", "walk", "auto")


def search(db: Engine, person: int, start: date, end: date, meters: float, plan: str) -> list[tuple[int, int]]:
    import json

    lo = datetime.combine(start, datetime.min.time(), UTC)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
    raw = db.raw_connection()
    try:
        body = search_json(raw, raw.info, ConnectionSearch(person, lo, hi, meters, plan=plan))
        raw.commit()
    finally:
        raw.close()
    return [(c["person"]["id"], c["location"]["id"]) for c in json.loads(body)]


def scattered(rng: random.Random) -> list[Fix]:
    """Persons 1-10 within 40 m of the origin, 11-20 within 800 m, 21-30 within 8 km: every distance has hits."""
    fixes = []
    for person in range(1, 31):
        spread = (40, 800, 8000)[(person - 1) // 10]
        for _ in range(20):
            lon, lat = destination(*ORIGIN, rng.uniform(0, 360), spread * rng.random() ** 0.5)
            fixes.append((person, lon, lat, DAY0 + timedelta(seconds=rng.randrange(4 * 86400))))
    return fixes


@pytest.mark.parametrize("seed_value", [4, 5])
def test_both_plans_match_the_oracle_from_5_m_to_5_km(db, seed_value: int) -> None:
    rng = random.Random(seed_value)
    rows = load(db, 30, scattered(rng))
    for meters in (5, 50, 500, 5000):
        for _ in range(3):
            person = rng.choice([rng.randint(1, 10), rng.randint(11, 30)])
            start = DAY0.date() + timedelta(days=rng.randint(0, 2))
            end = start + timedelta(days=rng.randint(0, 2))
            expected = oracle(rows, person, start, end, meters)
            for plan in PLANS:
                assert search(db, person, start, end, meters, plan) == expected, (plan, person, meters)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("bearing", [0, 90, 180, 270])
def test_every_plan_keeps_the_boundary_to_the_millimetre(db, plan: str, bearing: int) -> None:
    t = DAY0 + timedelta(hours=12)
    load(db, 3, [(1, *ORIGIN, t), (2, *destination(*ORIGIN, bearing, 5 - 0.001), t),
                 (3, *destination(*ORIGIN, bearing, 5 + 0.001), t)])
    day = DAY0.date()
    assert [p for p, _ in search(db, 1, day, day, 5, plan)] == [2]
    assert [p for p, _ in search(db, 1, day, day, 5.002, plan)] == [2, 3]


@pytest.mark.parametrize("origin", [(179.99999, 10.0), (-179.99999, -10.0), (12.0, 89.5), (-70.0, -89.99)],
                         ids=["antimeridian-east", "antimeridian-west", "near-north-pole", "south-pole"])
@pytest.mark.parametrize("meters", [5, 5000])
def test_the_walk_wraps_at_the_antimeridian_and_the_poles(db, origin: tuple[float, float], meters: float) -> None:
    t = DAY0 + timedelta(hours=12)
    fixes = [(1, *origin, t)] + [(p, *destination(*origin, bearing, meters * 0.6), t + timedelta(minutes=p))
                                  for p, bearing in zip(range(2, 6), (0, 90, 180, 270), strict=True)]
    fixes.append((6, *destination(*origin, 45, meters * 1.4), t))
    rows = load(db, 6, fixes)
    day = DAY0.date()
    expected = oracle(rows, 1, day, day, meters)
    assert sorted(p for p, _ in expected) == [2, 3, 4, 5]
    assert search(db, 1, day, day, meters, "walk") == expected


def test_the_walk_gives_each_person_their_first_meeting_and_breaks_ties_by_id(db) -> None:
    t = DAY0 + timedelta(hours=9)
    far = destination(*ORIGIN, 0, 100)
    fixes = [(1, *ORIGIN, t), (2, *far, t - timedelta(hours=1)),  # person 2's earliest fix is too far
             (2, *ORIGIN, t + timedelta(hours=2)), (2, *ORIGIN, t + timedelta(hours=1)),
             (2, *ORIGIN, t + timedelta(hours=1))]  # two at the same instant: the lower id wins
    rows = load(db, 2, fixes)
    day = DAY0.date()
    assert search(db, 1, day, day, 5, "walk") == [(2, rows[3]["id"])] == oracle(rows, 1, day, day, 5)


def explain(db: Engine, query: ConnectionSearch) -> str:
    name, params = query.statement()
    raw = db.raw_connection()
    try:
        ensure_prepared(raw, raw.info)
        with raw.cursor() as cur:
            cur.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
            plan = "\n".join(row[0] for row in cur.fetchall())
        raw.rollback()
    finally:
        raw.close()
    return plan


def ran(plan: str, marker: str) -> bool:
    """Whether any plan node whose line holds `marker` was executed."""
    lines = [line for line in plan.splitlines() if marker in line]
    assert lines, f"no {marker!r} in\n{plan}"
    return any("never executed" not in line for line in lines)


@pytest.fixture
def conference(db: Engine) -> Engine:
    """400 persons x 50 fixes at 40 booths over 30 days (the EXPLAIN test of migration 0002's data)."""
    seed(db, BoothGrid(persons=400, fixes_per_person=50, booths=40), show_progress=False)
    return db


WEEK = (datetime(2020, 7, 3, tzinfo=UTC), datetime(2020, 7, 10, tzinfo=UTC))


def test_a_short_search_probes_the_grid_and_never_walks(conference) -> None:
    plan = explain(conference, ConnectionSearch(7, *WEEK, 5.0))
    assert ran(plan, "location_cell_time_idx on location o"), plan   # the probe plan's grid...
    assert not ran(plan, "on location w"), plan                       # ...and no walk
    assert "Seq Scan on location" not in plan, plan


def test_a_wide_search_walks_and_never_probes(conference) -> None:
    plan = explain(conference, ConnectionSearch(7, *WEEK, 500.0))
    assert ran(plan, "location_person_time_idx on location w"), plan  # each person's fixes in time order...
    assert not ran(plan, "on location o"), plan                       # ...and no probe at all
    walked = next(line for line in plan.splitlines() if "on location w" in line)
    assert "loops=399" in walked, plan                                # one walk per other person


def test_a_forced_plan_skips_the_estimate(conference) -> None:
    """The benchmark's "before" is today's probe plan alone: forcing it runs nothing of the estimate."""
    plan = explain(conference, ConnectionSearch(7, *WEEK, 500.0, plan="probe"))
    assert not ran(plan, "on location nearby"), plan
    assert not ran(plan, "on location w"), plan
    assert ran(plan, "on location o"), plan


def test_every_plan_name_is_a_prepared_statement_parameter() -> None:
    types, sql = STATEMENTS["udaconnect_connections"]
    assert types.endswith("text)") and "$6 <> 'auto'" in sql
    assert ConnectionSearch(1, *WEEK, 5.0, plan="walk").statement()[1][-1] == "walk"
