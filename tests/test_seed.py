"""Demo and benchmark conferences: realistic, deterministic, inside the venue, loaded by the CLI."""

from __future__ import annotations

import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from geodesy import distance
from udaconnect.seed import seed
from udaconnect.synthetic import BoothGrid, Conference, DemoConference, distribution, met_per_day


def test_the_booth_grid_has_the_reference_shape() -> None:
    conference = BoothGrid(persons=50, fixes_per_person=100, booths=300)
    fixes = list(conference.fixes())
    assert len(fixes) == 5000 and len(conference.booth_positions()) == 300
    times = [t for *_, t in fixes]
    assert min(times) >= conference.start and (max(times) - conference.start).days < conference.days
    corner = (conference.longitude, conference.latitude)
    far = conference.offset(conference.width_m, conference.height_m)
    diagonal = distance(*corner, *far)
    assert 570 < diagonal < 590  # a 500 m x 300 m venue
    assert all(distance(*corner, lon, lat) < diagonal + 10 for _, lon, lat, _ in fixes[:500])
    assert fixes == list(BoothGrid(persons=50, fixes_per_person=100, booths=300).fixes())  # deterministic


def test_demo_conference_has_talks_where_many_meet_at_once() -> None:
    demo = DemoConference(persons=60, days=1)
    fixes = list(demo.fixes())
    venue = demo._venue()
    rooms = venue["stage"] + venue["room"]
    in_rooms = [f for f in fixes if any(a <= f[1] <= c and b <= f[2] <= d for a, b, c, d in rooms)]
    assert len(in_rooms) > len(fixes) * 0.1
    local = ZoneInfo(demo.time_zone)
    assert all(8 <= f.at.astimezone(local).hour < 19 for f in fixes)  # the venue's day, in its time zone
    assert len({p for p, *_ in fixes}) > 30


def test_a_demo_attendee_meets_tens_of_people_a_day_not_everyone() -> None:
    demo = DemoConference(days=1)
    met = met_per_day(demo.fixes(), 5.0, 15.0, demo.time_zone)
    median, p90 = statistics.median(met), met[int(len(met) * 0.9)]
    print(f"people met per attendee-day at 5 m / 15 min: median {median}, p90 {p90} ({len(met)} attendee-days)")
    assert 20 <= median <= 250 and p90 < demo.persons * 0.6


#: Who met whom at 5 m within 15 minutes, by PostGIS on the seeded rows: geodesic distances, nothing of the
#: search's SQL or of met_per_day's grid.
CO_PRESENT = """
SELECT a.person_id, count(DISTINCT b.person_id), array_agg(DISTINCT b.person_id)
  FROM location a JOIN location b ON b.person_id <> a.person_id AND ST_DWithin(a.coordinate, b.coordinate, 5)
   AND b.creation_time BETWEEN a.creation_time - interval '15 minutes' AND a.creation_time + interval '15 minutes'
 GROUP BY 1
"""


def test_the_conference_makes_realistic_crowds_and_its_groups_meet(db) -> None:
    """Hundreds at once in talks, yet an attendee meets tens to a few hundred people a day, not everyone; the
    groups that walk together meet. Counted by PostGIS on the seeded fixes; the model's own count agrees."""
    conference = Conference(persons=400, days=1, report_every_s=(120, 180))
    seed(db, conference, show_progress=False, encounters=False)
    with db.connect() as conn:
        rows = conn.execute(text(CO_PRESENT)).all()
    windowed = sorted(r[1] for r in rows) + [0] * (conference.persons - len(rows))  # one day: attendee-days
    stated = distribution(windowed)
    whole_day = distribution(met_per_day(conference.fixes(), 5.0, None, conference.time_zone))
    print(f"met per attendee-day at 5 m: within 15 min {stated}, the same day {whole_day}")
    assert 10 <= stated["median"] <= 300
    assert stated["p95"] < conference.persons * 0.75  # not everyone
    assert whole_day["median"] >= stated["median"]
    ours = distribution(met_per_day(conference.fixes(), 5.0, 15.0, conference.time_zone))
    assert abs(ours["median"] - stated["median"]) <= 2  # the model states what PostGIS counts
    met = {r[0]: set(r[2]) for r in rows}
    groups = [g for g in conference.groups() if len(g) > 1]
    assert len(groups) > 20
    assert all(set(g) - {p} <= met.get(p, set()) for g in groups for p in g)  # known true meetings


def test_the_demo_up_to_today_ends_at_the_seeds_moment() -> None:
    """The demo's last day is today: its fixes stop at `ends`, the rest of today has not happened."""
    from udaconnect.cli import conference, parser

    before = datetime.now(UTC)
    demo = conference(parser().parse_args(["seed", "--demo", "--persons", "40", "--days", "1"]))
    assert demo.ends is not None and before <= demo.ends <= datetime.now(UTC)
    whole = DemoConference(persons=40, days=1, start=demo.start, time_zone=demo.time_zone)
    cut = datetime(demo.start.year, demo.start.month, demo.start.day, 12, tzinfo=ZoneInfo(demo.time_zone))
    morning = DemoConference(persons=40, days=1, start=demo.start, time_zone=demo.time_zone, ends=cut)
    times = [f.at for f in morning.fixes()]
    assert times and max(times) < cut  # the morning, and nothing after it
    assert [f for f in whole.fixes() if f[3] < cut] == list(morning.fixes())  # the same morning, cut
    assert all(f.at <= demo.ends for f in demo.fixes())


def test_demo_dates_come_from_the_flag_or_end_today(settings) -> None:
    from datetime import date

    from udaconnect.cli import conference, parser

    args = parser().parse_args(["seed", "--demo", "--start", "2020-07-06"])
    assert conference(args).start.date() == date(2020, 7, 6)
    before = datetime.now(UTC)
    latest = conference(parser().parse_args(["seed", "--demo", "--days", "3"]))
    # today at the venue, read on both sides of the call: a run across the venue's midnight sees either day
    today = {moment.astimezone(ZoneInfo(latest.time_zone)).date() for moment in (before, datetime.now(UTC))}
    assert latest.start.date() + timedelta(days=2) in today


def test_seed_command_loads_and_refuses_to_seed_twice(settings, db) -> None:
    env = {"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    # two days up to today: yesterday whole, today until the seed's moment (early in the venue's morning: nothing)
    command = [sys.executable, "-m", "udaconnect.cli", "seed", "--demo", "--persons", "12", "--days", "2"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    seeded = datetime.now(UTC)
    assert first.returncode == 0, first.stderr
    assert "seeded 12 persons" in first.stdout and "100%" in first.stderr
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM person")).scalar() == 12
        assert conn.execute(text("SELECT count(*) FROM location")).scalar() > 12 * 50
        assert conn.execute(text("SELECT count(*) FROM place WHERE kind = 'booth'")).scalar() == 60  # its venue
        latest = conn.execute(text("SELECT max(creation_time) FROM location")).scalar()
        assert latest is not None and latest <= seeded  # a conference that happened
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 1 and "--force" in again.stderr
    idempotent = subprocess.run([*command, "--if-empty"], capture_output=True, text=True, env=env, timeout=120)
    assert idempotent.returncode == 0 and "nothing to seed" in idempotent.stdout
