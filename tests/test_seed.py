"""Demo and benchmark conferences: realistic, deterministic, inside the venue, loaded by the CLI."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

from geodesy import distance
from udaconnect.synthetic import Conference, DemoConference


def test_benchmark_conference_has_the_reference_shape() -> None:
    conference = Conference(persons=50, fixes_per_person=100, booths=300)
    fixes = list(conference.fixes())
    assert len(fixes) == 5000 and len(conference.booth_positions()) == 300
    times = [t for *_, t in fixes]
    assert min(times) >= conference.start and (max(times) - conference.start).days < conference.days
    corner = (conference.longitude, conference.latitude)
    far = conference.offset(conference.width_m, conference.height_m)
    diagonal = distance(*corner, *far)
    assert 570 < diagonal < 590  # a 500 m x 300 m venue
    assert all(distance(*corner, lon, lat) < diagonal + 10 for _, lon, lat, _ in fixes[:500])
    assert fixes == list(Conference(persons=50, fixes_per_person=100, booths=300).fixes())  # deterministic


def test_demo_conference_has_talks_where_many_meet_at_once() -> None:
    demo = DemoConference(persons=60, days=1)
    fixes = list(demo.fixes())
    rooms = demo.room_positions()
    in_rooms = [f for f in fixes if min(distance(f[1], f[2], *room) for room in rooms) < 5]
    assert len(in_rooms) > len(fixes) * 0.1
    assert all(8 <= t.hour < 19 for *_, t in fixes)
    assert {p for p, *_ in fixes} == set(range(1, 61)) or len({p for p, *_ in fixes}) > 45


def test_seed_command_loads_and_refuses_to_seed_twice(settings, db) -> None:
    env = {"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "udaconnect.cli", "seed", "--demo", "--persons", "12", "--days", "1"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "seeded 12 persons" in first.stdout and "100%" in first.stderr
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM person")).scalar() == 12
        assert conn.execute(text("SELECT count(*) FROM location")).scalar() > 12 * 50
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 1 and "--force" in again.stderr
    idempotent = subprocess.run([*command, "--if-empty"], capture_output=True, text=True, env=env, timeout=120)
    assert idempotent.returncode == 0 and "nothing to seed" in idempotent.stdout
