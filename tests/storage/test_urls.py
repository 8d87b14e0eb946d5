"""The database URL's forms, worked out in one place."""

from __future__ import annotations

import pytest

from udaconnect.settings import Settings
from udaconnect.storage.urls import database_url, libpq, normalised


@pytest.mark.parametrize("given", ["postgres://u:p@h:5/db", "postgresql://u:p@h:5/db",
                                   "postgresql+psycopg2://u:p@h:5/db", "postgres+asyncpg://u:p@h:5/db"])
def test_every_postgres_form_gives_both_clients_their_own(given: str) -> None:
    assert normalised(given) == "postgresql+psycopg2://u:p@h:5/db"
    assert libpq(given) == "postgresql://u:p@h:5/db"
    assert database_url(Settings(database_url=given)) == "postgresql+psycopg2://u:p@h:5/db"


@pytest.mark.parametrize("given", ["host=h dbname=db", "sqlite:///x.db", ""])
def test_anything_else_is_left_as_it_is(given: str) -> None:
    assert normalised(given) == libpq(given) == given
