"""The fine-tuning service: uploaded files, jobs and their events (afinar/jobstore.py).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "ft_files",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )
    op.create_table(
        "ft_jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("role", sa.String(32), nullable=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("training_file", sa.String(40), nullable=False),
        sa.Column("validation_file", sa.String(40), nullable=True),
        sa.Column("suffix", sa.String(64), nullable=True),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("method", sa.JSON, nullable=False),
        sa.Column("recipe", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request", sa.String(16), nullable=True),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Integer, nullable=True),
        sa.Column("finished_at", sa.Integer, nullable=True),
        sa.Column("run_dir", sa.String(1024), nullable=True),
        sa.Column("fine_tuned_model", sa.String(255), nullable=True),
        sa.Column("trained_tokens", sa.Integer, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
    )
    op.create_index("ix_ft_jobs_status_created", "ft_jobs", ["status", "created_at"])
    op.create_table(
        "ft_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(40), sa.ForeignKey("ft_jobs.id"), nullable=False, index=True),
        sa.Column("created_at", sa.Integer, nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("message", sa.String(2000), nullable=False),
        sa.Column("data", sa.JSON, nullable=True),
    )
