"""The database engine (created lazily, once per process) and migrations."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from udaconnect.settings import Settings
from udaconnect.storage.urls import database_url

__all__ = ["database_url", "dispose", "downgrade", "engine", "engine_for", "upgrade"]


_ENGINES: list[Engine] = []


@lru_cache(maxsize=8)
def _engine(url: str, pool_size: int) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5, "application_name": "udaconnect"},
    )

    @event.listens_for(engine, "connect")
    def _utc(dbapi_connection, _record):
        with dbapi_connection.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")

    _ENGINES.append(engine)
    return engine


def engine(settings: Settings) -> Engine:
    """The process-wide engine for these settings."""
    return _engine(database_url(settings), settings.pool_size)


def engine_for(url: str, pool_size: int) -> Engine:
    """The process-wide engine for a SQLAlchemy URL (a read replica's)."""
    return _engine(url, pool_size)


def dispose() -> None:
    """Close every engine's connections and forget the engines (before stopping the server they talk to)."""
    while _ENGINES:
        _ENGINES.pop().dispose()
    _engine.cache_clear()


def _alembic_config(settings: Settings, url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(settings.schema_dir)))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply the migrations in schema/ up to `revision`."""
    from alembic import command

    eng = engine(settings)
    config = _alembic_config(settings, eng.url.render_as_string(hide_password=False))
    with eng.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(settings: Settings, revision: str) -> None:
    from alembic import command

    eng = engine(settings)
    config = _alembic_config(settings, eng.url.render_as_string(hide_password=False))
    with eng.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
