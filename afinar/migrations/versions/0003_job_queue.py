"""The job queue on PostgreSQL: procrastinate's tables and functions (afinar/jobqueue.py).
SQLite needs none: its workers take jobs from ft_jobs.

Revision ID: 0003
Revises: 0002
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # on the DB-API cursor, without parameters: the SQL is run as written (its '%' are not placeholders)
        op.get_bind().connection.cursor().execute(SchemaManager.get_schema())
