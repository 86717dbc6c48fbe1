"""The registry's database: one SQLAlchemy engine per URL and process, its schema brought to the
newest revision by Alembic migrations (``afinar/migrations/``) the first time a process opens it.

SQLite (``$AFINAR_HOME/registry.db``) is the single-machine default; PostgreSQL is given as a
``postgresql+psycopg://`` URL in ``$AFINAR_REGISTRY``. Processes that open one database at the
same moment (a server and the workers it starts) migrate it one at a time: a PostgreSQL advisory
lock, or a file lock beside a SQLite file. A registry made before migrations existed (its tables
made by ``create_all``) is brought up to date by the same migrations: the first one creates only
the tables that are missing.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from afinar.atomic import locked

__all__ = ["MIGRATIONS", "engine_for", "forget", "upgrade"]

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATE_LOCK = 7_270_190  # the advisory lock key migrations take on PostgreSQL
_engines: dict[str, Engine] = {}
_guard = threading.Lock()


def engine_for(url: str) -> Engine:
    """The engine of the database at ``url``, migrated to the newest schema (once per process)."""
    with _guard:
        if url not in _engines:
            engine = create_engine(url)
            upgrade(engine)
            _engines[url] = engine
        return _engines[url]


def forget(url: str) -> None:
    """Close this process's engine of ``url`` (its next use opens and checks it again)."""
    with _guard:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of ``engine`` to ``revision``."""
    url = make_url(engine.url)
    path = url.database if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") else None
    with locked(Path(path)) if path else nullcontext(), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATE_LOCK})
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
