"""The COPY text encoder against a real COPY: awkward text comes back as it went in."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from udaconnect.storage import copy_text

AWKWARD = ["tab\there", "new\nline", "carriage\rreturn", "crlf\r\n", "back\\slash", "\\N", "\\.", "é ü 東京 🚀",
           "trailing\\", "", " spaced ", "mixed\t\\\r\n\\t"]


def test_awkward_text_round_trips_through_a_real_copy(settings) -> None:  # type: ignore[no-untyped-def]
    from udaconnect.storage import database

    engine: Engine = database.engine(settings)
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE copy_text_probe (n integer, value text, at timestamptz, x float8)")
            at = datetime(2020, 7, 1, 12, 30, 15, 123456, tzinfo=UTC)
            rows = [(n, value, at, 0.1 + n) for n, value in enumerate(AWKWARD)] + [(len(AWKWARD), None, None, None)]
            lines = "".join(copy_text.line(*row) for row in rows)
            cursor.copy_expert("COPY copy_text_probe FROM STDIN", io.StringIO(lines))
            cursor.execute("SELECT n, value, at, x FROM copy_text_probe ORDER BY n")
            assert cursor.fetchall() == rows
    finally:
        connection.rollback()
        connection.close()


def test_nul_is_refused_before_the_database_sees_it() -> None:
    with pytest.raises(ValueError, match="NUL"):
        copy_text.line(1, "a\x00b")


def test_fields() -> None:
    assert copy_text.line(1, None, "a\tb", 0.1) == "1\t\\N\ta\\tb\t0.1\n"
    assert copy_text.text("\r") == "\\r"
