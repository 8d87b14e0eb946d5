"""`udaconnect seed --demo` builds the demo's encounters and `udaconnect encounters rebuild [--since]` recomputes
the same ones (real processes, real PostGIS)."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text


def encounters(db) -> list[tuple]:  # noqa: ANN001 - an Engine
    with db.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT person_a, person_b, first_seen, last_seen, contacts FROM encounter ORDER BY 1, 2, 3"))]


def test_the_demo_seed_builds_encounters_and_rebuild_recomputes_them(settings, db) -> None:
    env = {"DATABASE_URL": settings.database_url, "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "udaconnect.cli"]
    subprocess.run([*cli, "seed", "--demo", "--persons", "40", "--days", "2", "--quiet"], env=env, check=True,
                   capture_output=True)
    seeded = encounters(db)
    assert len(seeded) > 20
    with db.connect() as conn:
        unscanned = conn.execute(text("SELECT count(*) FROM location l WHERE NOT EXISTS "
                                      "(SELECT 1 FROM encounter_scan s WHERE s.location_id = l.id)")).scalar()
    assert unscanned == 0, "a later delivery of a seeded fix must not count its contacts again"
    done = subprocess.run([*cli, "encounters", "rebuild"], env=env, check=True, capture_output=True, text=True)
    assert "encounters (5 m, 5 min) rebuilt from every fix" in done.stderr
    assert encounters(db) == seeded
    middle = seeded[len(seeded) // 2][2].date().isoformat()
    subprocess.run([*cli, "encounters", "rebuild", "--since", middle], env=env, check=True, capture_output=True)
    assert encounters(db) == seeded
    wider = subprocess.run([*cli, "encounters", "rebuild"], env={**env, "UDACONNECT_ENCOUNTER_DISTANCE": "10"},
                           check=True, capture_output=True, text=True)
    assert "(10 m, 5 min)" in wider.stderr
    assert sum(r[4] for r in encounters(db)) > sum(r[4] for r in seeded)  # more contacts at 10 m
    bad = subprocess.run([*cli, "encounters", "rebuild", "--since", "yesterday"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
