"""The registry as it was before migrations: users, datasets and their digests, grants, and the
evaluation history. Each table is created only where it is missing, so a registry that
``create_all`` made (perhaps before ``dataset_digests`` or ``eval_results`` existed) comes
through unchanged.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _missing(name: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("users"):
        op.create_table(
            "users",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(64), nullable=False, unique=True),
            sa.Column("role", sa.String(32), nullable=False),
            sa.Column("key_digest", sa.String(64), nullable=False, unique=True),
            sa.Column("created", sa.String(40), nullable=False),
            sa.Column("disabled", sa.Boolean, nullable=False),
        )
    if _missing("datasets"):
        op.create_table(
            "datasets",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(128), nullable=False, unique=True),
            sa.Column("path", sa.String(1024), nullable=False, unique=True),
            sa.Column("classification", sa.String(16), nullable=False),
            sa.Column("owner", sa.String(64), nullable=False),
            sa.Column("created", sa.String(40), nullable=False),
        )
    if _missing("dataset_digests"):
        op.create_table(
            "dataset_digests",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
            sa.Column("digest", sa.String(64), nullable=False, index=True),
            sa.UniqueConstraint("dataset_id", "digest"),
        )
    if _missing("grants"):
        op.create_table(
            "grants",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), nullable=False),
            sa.Column("principal", sa.String(80), nullable=False),
            sa.Column("permission", sa.String(16), nullable=False),
            sa.UniqueConstraint("dataset_id", "principal", "permission"),
        )
    if _missing("eval_results"):
        op.create_table(
            "eval_results",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("time", sa.String(40), nullable=False),
            sa.Column("run_dir", sa.String(1024), nullable=False),
            sa.Column("name", sa.String(128), nullable=False),
            sa.Column("lineage", sa.String(64), nullable=False),
            sa.Column("model", sa.String(16), nullable=False),
            sa.Column("metric", sa.String(64), nullable=False),
            sa.Column("value", sa.Double, nullable=False),
            sa.Column("decision", sa.String(16), nullable=True),
        )
