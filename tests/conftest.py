"""Session fixtures: a real PostgreSQL + PostGIS started by the test session, databases migrated per purpose."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from bearer import ISSUER_ENV, headers, keyed
from udaconnect.settings import PROJECT_ROOT, Settings
from udaconnect.storage import database
from udaconnect.storage.embedded import EmbeddedPostgres

SHARED_REFERENCE = PROJECT_ROOT.parent / "shared" / "reference"
#: Most tests replay fixes dated in 2020 (the original project's data): they would all be "late" (kept apart,
#: untrusted) at UDACONNECT_MAX_FIX_AGE's default. The session lets them count; the tests of plausibility
#: (tests/persist/test_plausibility.py) set the real default themselves. Stacks the session starts inherit it.
os.environ.setdefault("UDACONNECT_MAX_FIX_AGE", str(100 * 366 * 24 * 60))
#: Tests enrol devices for the same few person ids all session long, each test a fresh database but one process:
#: the per-person enrolment pace would refuse them. tests/ingest/test_devices.py checks it at the real default.
os.environ.setdefault("UDACONNECT_ENROL_RATE", "1000000")
#: Likewise a stack shared by a module enrols a fresh phone per person in each test.
os.environ.setdefault("UDACONNECT_MAX_DEVICES", "1000000")


@pytest.fixture(scope="session", autouse=True)
def _the_developers_stack_is_not_touched() -> Iterator[None]:
    """The address file of a `udaconnect dev` running beside the tests is its stack's alone: no stack of this
    session may have written it (a stack writes its own process id there)."""
    import json

    from udaconnect.stackfile import stack_file

    path = stack_file(Settings().data_dir)
    yield
    try:
        owner = json.loads(path.read_text()).get("pid")
    except (OSError, ValueError):
        return
    assert owner != os.getpid(), f"a stack of the test session wrote {path}"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server's base URL (no database): UDACONNECT_TEST_DATABASE_URL's server, or an embedded cluster."""
    external = os.environ.get("UDACONNECT_TEST_DATABASE_URL")
    if external:
        yield external.rsplit("/", 1)[0]
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("postgres"), fsync=False)
    url = server.start()
    yield url.rsplit("/", 1)[0]
    server.stop(mode="immediate")


def create_database(server: str, name: str) -> Settings:
    """A fresh database `name` on the test server, migrated to head."""
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    # its own data directory: a stack started on these settings never touches the repository's .udaconnect/
    settings = keyed(Settings(database_url=f"{server}/{name}", pool_size=4,
                              data_dir=Path(tempfile.mkdtemp(prefix=f"udaconnect-{name}-"))))
    database.upgrade(settings)
    return settings


@pytest.fixture(scope="session")
def settings(postgres_server: str) -> Settings:
    """Settings of the shared, migrated test database (tests that write use `db` to start clean)."""
    return create_database(postgres_server, "udaconnect_test")


@pytest.fixture
def db(settings: Settings) -> Engine:
    """The test database's engine, emptied before the test."""
    engine = database.engine(settings)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE person, location, event_outbox, place, audit_log, person_erasure, device_ended "
                          "RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
def app_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Point function targets run in-process (create_app) at the test database, with a fresh context."""
    from udaconnect import bootstrap

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    for name, value in ISSUER_ENV.items():  # persons, in-process, enrols devices: the issuer
        monkeypatch.setenv(name, value)
    bootstrap.reset()
    yield settings
    bootstrap.reset()


@pytest.fixture
def persons_client(app_env: Settings):  # type: ignore[no-untyped-def]
    from functions_framework import create_app

    from udaconnect.events import outbox

    yield _as_organizer(create_app("persons", str(PROJECT_ROOT / "functions" / "main.py")).test_client())
    outbox.settle()  # persons publishes after its answers: let that finish before the next test empties tables


@pytest.fixture
def connections_client(app_env: Settings):  # type: ignore[no-untyped-def]
    from functions_framework import create_app

    return _as_organizer(create_app("connections", str(PROJECT_ROOT / "functions" / "main.py")).test_client())


def _as_organizer(client):  # type: ignore[no-untyped-def]
    """A test client whose requests carry an organizer's token unless they send their own Authorization."""
    client.environ_base["HTTP_AUTHORIZATION"] = headers()["Authorization"]
    return client


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"{SHARED_REFERENCE} is absent (a fresh clone has no ../shared): reference data unavailable")
    return SHARED_REFERENCE
