"""Alembic's environment for the registry's migrations: run on the connection that
:func:`afinar.database.upgrade` opens (there is no alembic.ini)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
