"""Only what could have happened is believed: the attacks of issue 21 against persist's transaction on real
PostGIS (the default rules, not the session's relaxed fix age), each fix kept apart with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from sqlalchemy import Engine, text

from udaconnect.persist.store import DUPLICATE, STORED, UNTRUSTED, Row, prepare, store
from udaconnect.plausibility import Rules
from udaconnect.storage.urls import libpq

RULES = Rules()  # the defaults: 30 minutes, 2.5 m/s, 50 m
NOW = datetime.now(UTC).replace(microsecond=0)
HALL = (-122.4010, 37.7840)
#: 300 m east of the hall at this latitude
FAR = (HALL[0] + 300 / (111_320 * 0.7907), HALL[1])


@pytest.fixture
def conn(db: Engine, settings):  # type: ignore[no-untyped-def]
    with db.begin() as c:
        c.execute(text("INSERT INTO person (first_name, last_name, company_name) "
                       "SELECT 'P', 'N' || g, 'C' FROM generate_series(1, 3) g"))
    connection = psycopg2.connect(libpq(settings.database_url))
    prepare(connection)
    yield connection
    connection.close()


def fix(key: str, at: datetime, where: tuple[float, float] = HALL, person: int = 1, accuracy: float | None = 5.0,
        source: str = "/devices/a") -> Row:
    return Row(person, where[0], where[1], at, accuracy, source, key, 0, NOW, imported=True)


def reasons(db: Engine) -> dict[str, str]:
    with db.connect() as c:
        return dict(c.execute(text("SELECT event_id, reason FROM location_untrusted")).all())


def trusted(db: Engine) -> set[str]:
    with db.connect() as c:
        return set(c.execute(text("SELECT event_id FROM location")).scalars())


def test_a_backdated_fix_and_one_from_2001_are_kept_late_and_never_in_location(conn, db: Engine) -> None:
    two_days = fix("backdated", NOW - timedelta(days=2))
    old = fix("2001", datetime(2001, 1, 1, tzinfo=UTC))
    recent = fix("recent", NOW - timedelta(minutes=20))
    assert store(conn, [two_days, old, recent], rules=RULES) == [UNTRUSTED, UNTRUSTED, STORED]
    assert reasons(db) == {"backdated": "late", "2001": "late"} and trusted(db) == {"recent"}


def test_a_teleport_of_300_m_in_one_second_is_not_believed(conn, db: Engine) -> None:
    assert store(conn, [fix("here", NOW - timedelta(seconds=60))], rules=RULES) == [STORED]
    assert store(conn, [fix("there", NOW - timedelta(seconds=59), FAR)], rules=RULES) == [UNTRUSTED]
    # a walk of 300 m in four minutes is believed
    assert store(conn, [fix("walked", NOW + timedelta(seconds=180), FAR)], rules=RULES) == [STORED]
    assert reasons(db) == {"there": "speed"} and trusted(db) == {"here", "walked"}


def test_a_spray_of_400_fixes_at_one_instant_yields_at_most_one(conn, db: Engine) -> None:
    at = NOW - timedelta(minutes=1)
    spray = [fix(f"s{i}", at, (HALL[0] + (i % 20) * 7e-5, HALL[1] + (i // 20) * 6e-5), accuracy=50.0)
             for i in range(400)]
    outcomes = store(conn, spray, rules=RULES)
    assert outcomes.count(STORED) == 1 and outcomes.count(UNTRUSTED) == 399
    assert set(reasons(db).values()) == {"burst"}
    # nor does a spray with instants a millisecond apart
    later = [fix(f"m{i}", at + timedelta(seconds=30, milliseconds=i), (HALL[0] + i * 7e-5, HALL[1]), accuracy=50.0)
             for i in range(50)]
    assert store(conn, later, rules=RULES).count(STORED) == 1


def test_two_devices_of_one_person_300_m_apart_cannot_both_be_believed(conn, db: Engine) -> None:
    at = NOW - timedelta(minutes=5)
    phone = [fix(f"p{i}", at + timedelta(seconds=10 * i), source="/devices/phone") for i in range(6)]
    other = [fix(f"o{i}", at + timedelta(seconds=10 * i + 5), FAR, source="/devices/other") for i in range(6)]
    store(conn, phone, rules=RULES)
    assert store(conn, other, rules=RULES) == [UNTRUSTED] * 6
    assert set(reasons(db).values()) == {"speed"}


def test_poor_accuracy_is_kept_imprecise_and_redelivery_is_stored_once_whichever_way_judged(conn, db: Engine) -> None:
    blur = fix("blur", NOW - timedelta(minutes=2), accuracy=120.0)
    assert store(conn, [blur], rules=RULES) == [UNTRUSTED]
    assert store(conn, [blur], rules=RULES) == [DUPLICATE]
    assert store(conn, [fix("blur", NOW - timedelta(minutes=2), accuracy=5.0)], rules=RULES) == [DUPLICATE]
    with db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM location WHERE event_id = 'blur'")).scalar_one() == 0
    assert reasons(db) == {"blur": "imprecise"}


def test_a_devices_fix_without_accuracy_is_kept_imprecise_an_organizers_import_is_believed(conn, db: Engine) -> None:
    """A phone that says nothing of its accuracy could be anywhere within the venue: it never proves a 5 m
    meeting. The original's data (an organizer's import) has no accuracy at all and stays trusted."""
    at = NOW - timedelta(minutes=3)
    device = Row(1, *HALL, at, None, "/devices/a", "silent", 0, NOW)  # what ingest proves a device reported
    imported = Row(2, *HALL, at, None, "/import", "legacy", 0, NOW, imported=True)
    assert store(conn, [device, imported], devices_checked=False, rules=RULES) == [UNTRUSTED, STORED]
    assert reasons(db) == {"silent": "imprecise"} and trusted(db) == {"legacy"}


def test_a_person_walking_with_gps_jitter_is_believed(conn, db: Engine) -> None:
    import random

    rng = random.Random(7)
    at, lon, lat, rows = NOW - timedelta(minutes=25), HALL[0], HALL[1], []
    for i in range(120):  # a fix every 10 s, walking 1.2 m/s east, 3-15 m of jitter with matching accuracy
        accuracy = rng.uniform(3, 15)
        lon += 12 / (111_320 * 0.7907)
        jitter = rng.gauss(0, accuracy / 2) / 111_320
        rows.append(fix(f"w{i}", at + timedelta(seconds=10 * i), (lon + jitter, lat + jitter), accuracy=accuracy))
    assert store(conn, rows, rules=RULES).count(STORED) == 120
