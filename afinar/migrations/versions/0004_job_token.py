"""A running job's token: the processes of a job trained on several (``afinar worker --nproc``)
act as its owner by it (afinar/security/access.py); only its sha256 is kept, while the job runs.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("ft_jobs") as table:  # batch: SQLite alters a table by copying it
        table.add_column(sa.Column("token_digest", sa.String(64), nullable=True))
        table.create_index("ix_ft_jobs_token_digest", ["token_digest"])
