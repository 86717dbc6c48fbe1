"""The registry's schema comes from its Alembic migrations, on SQLite and on PostgreSQL: it is
the schema the code's tables describe, an old registry made by ``create_all`` is brought up to
date without losing a row, and processes opening a new database at once migrate it once."""

from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, text

from afinar.database import MIGRATIONS, engine_for, forget


def _code_metadata() -> MetaData:
    from afinar.eval.history import _Table
    from afinar.jobstore import _Base as JobTables
    from afinar.registry import _Base as RegistryTables

    merged = MetaData()
    for meta in (RegistryTables.metadata, _Table.metadata, JobTables.metadata):
        for table in meta.tables.values():
            table.to_metadata(merged)
    return merged


def _head() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_the_migrated_schema_is_the_one_the_code_describes(registry_url):
    engine = engine_for(registry_url)
    with engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), _code_metadata())
        diff = [d for d in diff if "procrastinate" not in repr(d)]  # the queue's own tables (0003, PostgreSQL)
        version = c.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert diff == []
    assert version == _head() == "0004"
    queue = inspect(engine).has_table("procrastinate_jobs")
    assert queue == (engine.dialect.name == "postgresql")  # the job queue lives in PostgreSQL only


def test_a_registry_made_before_migrations_is_upgraded_and_keeps_its_rows(tmp_path):
    from afinar.registry import Registry

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as c:  # the tables create_all made before dataset_digests and eval_results existed
        c.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(64) UNIQUE NOT NULL, "
                       "role VARCHAR(32) NOT NULL, key_digest VARCHAR(64) UNIQUE NOT NULL, created VARCHAR(40) NOT "
                       "NULL, disabled BOOLEAN NOT NULL)"))  # fmt: skip
        c.execute(text("CREATE TABLE datasets (id INTEGER PRIMARY KEY, name VARCHAR(128) UNIQUE NOT NULL, path "
                       "VARCHAR(1024) UNIQUE NOT NULL, classification VARCHAR(16) NOT NULL, owner VARCHAR(64) NOT "
                       "NULL, created VARCHAR(40) NOT NULL)"))  # fmt: skip
        c.execute(text("CREATE TABLE grants (id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES "
                       "datasets(id), principal VARCHAR(80) NOT NULL, permission VARCHAR(16) NOT NULL, "
                       "UNIQUE (dataset_id, principal, permission))"))  # fmt: skip
        c.execute(text("INSERT INTO users VALUES (1, 'root', 'admin', :d, '2026-01-01', 0)"), {"d": "ab" * 32})
    old.dispose()
    registry = Registry(url)
    assert [u["name"] for u in registry.users()] == ["root"]
    tables = set(inspect(registry.engine).get_table_names())
    assert {"dataset_digests", "eval_results", "ft_jobs", "ft_files", "ft_events", "alembic_version"} <= tables
    forget(url)


def test_processes_opening_a_new_database_at_once_migrate_it_once(postgres_database):
    code = "import sys; from afinar.jobstore import JobStore; JobStore(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, postgres_database]) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    engine = create_engine(postgres_database)
    with engine.connect() as c:
        assert c.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [_head()]
    engine.dispose()
