"""The database URL, worked out in one place: DATABASE_URL (or the embedded cluster) in each form a client takes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from udaconnect.settings import Settings

_SCHEMES = ("postgres", "postgresql")


def normalised(url: str, driver: str | None = "psycopg2") -> str:
    """`url` as SQLAlchemy takes it (postgresql+<driver>://...), or as libpq does (postgresql://...) when `driver`
    is None. Accepts libpq's postgres:// and postgresql:// and SQLAlchemy's postgresql+<any driver>://; anything
    else (a libpq keyword string, another database) is returned as it is."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in _SCHEMES:
        return url
    return ("postgresql" if driver is None else f"postgresql+{driver}") + sep + rest


def libpq(url: str) -> str:
    """`url` for psycopg2.connect (libpq takes no +driver)."""
    return normalised(url, None)


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL of DATABASE_URL when set, otherwise of the embedded cluster (started when needed)."""
    if settings.database_url:
        return normalised(settings.database_url)
    from udaconnect.storage.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.data_dir / "postgres").start()
