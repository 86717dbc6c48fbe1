"""The fine-tuning service's state: uploaded files, jobs and their events, in the registry's
database (SQLite by default, PostgreSQL through ``$AFINAR_REGISTRY``).

A job walks ``queued -> running -> succeeded | failed | cancelled``; ``running`` may also go to
``paused`` (and back to ``queued`` when resumed), and a job whose worker stopped mid-run goes back
to ``queued`` to be resumed from its last checkpoint by the next worker. A request to cancel or
pause a running job is written to the job (``request``) and acted on by the worker that runs it,
after the current training step and its checkpoint.

Ids are OpenAI-shaped: ``file-...``, ``ftjob-...``, ``ftevent-N``; times are Unix seconds.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import JSON, ForeignKey, Index, String, or_, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from afinar.database import engine_for
from afinar.errors import AfinarError

__all__ = ["ACTIVE", "FINAL", "JOB_STATES", "FileRow", "JobRow", "JobStore", "new_id"]

JOB_STATES = ("queued", "running", "paused", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running", "paused")
"""States that count against a quota."""
FINAL = ("succeeded", "failed", "cancelled")


class _Base(DeclarativeBase):
    pass


class FileRow(_Base):
    __tablename__ = "ft_files"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int]
    created_at: Mapped[int]
    path: Mapped[str] = mapped_column(String(1024))
    """The stored file: encrypted (``.afe``) under ``$AFINAR_HOME/files/``."""
    status: Mapped[str] = mapped_column(String(16), default="processed")
    """``processed``, or ``deleted`` (crypto-shredded)."""
    report: Mapped[dict] = mapped_column(JSON, default=dict)
    """The data check's summary: rows, warnings, personal data found (counts, never values)."""


class JobRow(_Base):
    __tablename__ = "ft_jobs"
    __table_args__ = (Index("ix_ft_jobs_status_created", "status", "created_at"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(255))
    training_file: Mapped[str] = mapped_column(String(40))
    validation_file: Mapped[str | None] = mapped_column(String(40))
    suffix: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[int]
    method: Mapped[dict] = mapped_column(JSON)
    """OpenAI's ``method``: ``{"type": "supervised" | "dpo", TYPE: {"hyperparameters": {...}}}``,
    every hyperparameter resolved (no ``auto`` left)."""
    recipe: Mapped[dict] = mapped_column(JSON)
    """The recipe the job trains with, whole: a worker needs nothing else."""
    status: Mapped[str] = mapped_column(String(16), default="queued")
    request: Mapped[str | None] = mapped_column(String(16))
    """``cancel`` or ``pause``, asked of the worker running the job."""
    created_at: Mapped[int]
    started_at: Mapped[int | None]
    finished_at: Mapped[int | None]
    run_dir: Mapped[str | None] = mapped_column(String(1024))
    fine_tuned_model: Mapped[str | None] = mapped_column(String(255))
    trained_tokens: Mapped[int | None]
    error: Mapped[dict | None] = mapped_column(JSON)
    worker: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    """Times a worker has started (or resumed) the job."""
    token_digest: Mapped[str | None] = mapped_column(String(64), index=True)
    """sha256 of the token the job's processes act as its owner by (while it runs on several)."""


class EventRow(_Base):
    __tablename__ = "ft_events"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("ft_jobs.id"), index=True)
    created_at: Mapped[int]
    level: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(String(2000))
    data: Mapped[dict | None] = mapped_column(JSON)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class Page:
    rows: list
    has_more: bool


class JobStore:
    """Files, jobs and events in the database at ``url`` (a SQLAlchemy URL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url)  # the tables come from the migrations (afinar/migrations/)

    # ---------------------------------------------------------------- files

    def add_file(self, row: FileRow) -> FileRow:
        with Session(self.engine, expire_on_commit=False) as s:
            s.add(row)
            s.commit()
            return row

    def file(self, file_id: str) -> FileRow | None:
        with Session(self.engine) as s:
            return s.get(FileRow, file_id)

    def files(self, purpose: str | None = None) -> list[FileRow]:
        """Every file not deleted, newest first."""
        with Session(self.engine) as s:
            query = select(FileRow).where(FileRow.status != "deleted")
            if purpose is not None:
                query = query.where(FileRow.purpose == purpose)
            return list(s.scalars(query.order_by(FileRow.created_at.desc(), FileRow.id)))

    def mark_deleted(self, file_id: str) -> None:
        with Session(self.engine) as s:
            s.execute(update(FileRow).where(FileRow.id == file_id).values(status="deleted"))
            s.commit()

    # ---------------------------------------------------------------- jobs

    def add_job(self, row: JobRow) -> JobRow:
        with Session(self.engine, expire_on_commit=False) as s:
            s.add(row)
            s.commit()
        self.event(row.id, f"Created fine-tuning job: {row.id}")
        return row

    def job(self, job_id: str) -> JobRow | None:
        with Session(self.engine) as s:
            return s.get(JobRow, job_id)

    def jobs(self, owner: str | None = None, after: str | None = None, limit: int = 20) -> Page:
        """Jobs newest first (``owner``'s only, when given), the page after the job ``after``."""
        with Session(self.engine) as s:
            query = select(JobRow)
            if owner is not None:
                query = query.where(JobRow.owner == owner)
            if after is not None:
                cursor = s.get(JobRow, after)
                if cursor is None:
                    raise AfinarError(f"after: no fine-tuning job '{after}'")
                query = query.where(
                    or_(
                        JobRow.created_at < cursor.created_at,
                        (JobRow.created_at == cursor.created_at) & (JobRow.id > cursor.id),
                    )
                )
            rows = list(s.scalars(query.order_by(JobRow.created_at.desc(), JobRow.id).limit(limit + 1)))
            return Page(rows[:limit], len(rows) > limit)

    def active(self, owner: str | None = None, role: str | None = None) -> int:
        """Jobs queued, running or paused, of ``owner`` or of every user of ``role``."""
        with Session(self.engine) as s:
            query = select(JobRow.id).where(JobRow.status.in_(ACTIVE))
            if owner is not None:
                query = query.where(JobRow.owner == owner)
            if role is not None:
                query = query.where(JobRow.role == role)
            return len(s.scalars(query).all())

    def running(self) -> list[JobRow]:
        with Session(self.engine) as s:
            return list(s.scalars(select(JobRow).where(JobRow.status == "running")))

    def owner_of_token(self, token: str) -> str | None:
        """The owner of the running job whose token is ``token``; None for any other token."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        with Session(self.engine) as s:
            query = select(JobRow.owner).where(JobRow.token_digest == digest, JobRow.status == "running")
            return s.scalar(query)

    def succeeded(self) -> list[JobRow]:
        """Every succeeded job with a model to serve, oldest first."""
        with Session(self.engine) as s:
            query = select(JobRow).where(JobRow.status == "succeeded", JobRow.fine_tuned_model.is_not(None))
            return list(s.scalars(query.order_by(JobRow.finished_at, JobRow.id)))

    def set(self, job_id: str, when: tuple[str, ...] | None = None, **values) -> bool:
        """Update the job's ``values`` (only if its status is one of ``when``); whether it did."""
        with Session(self.engine) as s:
            query = update(JobRow).where(JobRow.id == job_id)
            if when is not None:
                query = query.where(JobRow.status.in_(when))
            done = s.execute(query.values(**values)).rowcount == 1
            s.commit()
            return done

    def take(self, job_id: str, worker: str) -> JobRow | None:
        """The job ``job_id``, now ``running`` on ``worker``, if it is queued, or running on a
        worker the queue has given up on (it dispatched the job again); None otherwise (cancelled
        or paused meanwhile, or over)."""
        values = {"status": "running", "worker": worker, "started_at": _now(), "attempts": JobRow.attempts + 1}
        return self.job(job_id) if self.set(job_id, ("queued", "running"), **values) else None

    def claim(self, worker: str) -> JobRow | None:
        """The oldest queued job, now ``running`` on ``worker``; None when none is queued. Two
        workers never claim the same job (the update checks the status it read)."""
        while True:
            with Session(self.engine) as s:
                job_id = s.scalar(
                    select(JobRow.id).where(JobRow.status == "queued").order_by(JobRow.created_at, JobRow.id).limit(1)
                )
            if job_id is None:
                return None
            values = {"status": "running", "worker": worker, "started_at": _now(), "attempts": JobRow.attempts + 1}
            if self.set(job_id, ("queued",), **values):
                return self.job(job_id)

    # ---------------------------------------------------------------- events

    def event(self, job_id: str, message: str, level: str = "info", data: dict | None = None) -> None:
        kind = "metrics" if data is not None else "message"
        with Session(self.engine) as s:
            row = EventRow(job_id=job_id, created_at=_now(), level=level, type=kind, message=message[:2000], data=data)
            s.add(row)
            s.commit()

    def events(self, job_id: str, after: str | None = None, limit: int = 20) -> Page:
        """The job's events newest first, the page after the event ``after`` (``ftevent-N``)."""
        with Session(self.engine) as s:
            query = select(EventRow).where(EventRow.job_id == job_id)
            if after is not None:
                try:
                    query = query.where(EventRow.id < int(after.removeprefix("ftevent-")))
                except ValueError:
                    raise AfinarError(f"after: '{after}' is not an event id (ftevent-N)") from None
            rows = list(s.scalars(query.order_by(EventRow.id.desc()).limit(limit + 1)))
            return Page(rows[:limit], len(rows) > limit)


def event_json(row: EventRow) -> dict:
    out = {
        "id": f"ftevent-{row.id}",
        "object": "fine_tuning.job.event",
        "created_at": row.created_at,
        "level": row.level,
        "message": row.message,
        "type": row.type,
    }
    if row.data is not None:
        out["data"] = json.loads(json.dumps(row.data))
    return out
