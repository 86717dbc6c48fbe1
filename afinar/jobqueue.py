"""Dispatching fine-tuning jobs to workers: through procrastinate, a PostgreSQL task queue, when
the registry is PostgreSQL; on SQLite (one machine) workers take queued jobs from the jobs table
themselves (:meth:`afinar.jobstore.JobStore.claim`).

On PostgreSQL each job is one procrastinate task, locked by the job's id (never two workers on
one job) and queued once (``queueing_lock``). The task runs the job in a child process
(``afinar worker --job ID``: training needs a main thread of its own, for its signals, and a
process frees its memory when it ends) that dies with its worker. Every worker sends
procrastinate's heartbeat; each also looks for the tasks of workers whose heartbeat stopped (a
worker killed, a machine gone) and puts them back in the queue, where another worker resumes
the job from its last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
import time

import procrastinate
from sqlalchemy.engine import make_url

from afinar.jobstore import JobStore

__all__ = ["QUEUE", "REQUEUE", "dispatch", "is_postgres", "run_workers"]

QUEUE = "fine-tuning"
TASK = "afinar.fine_tune"
REQUEUE = 75
"""The exit status of ``afinar worker --job`` when the job went back to the queue (its worker
was asked to stop); the task then queues it again."""


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def _conninfo(url: str) -> str:
    """A libpq URL for ``url`` (a SQLAlchemy ``postgresql+psycopg://`` URL)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _die_with_parent() -> None:
    """In the child, before it runs: SIGKILL it when its parent (the worker) dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _app(url: str, child_name: str | None = None, nproc: int = 1) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_conninfo(url)))
    children: set = set()
    app.children = children  # the running jobs' processes, for a stop to reach them

    @app.task(name=TASK, queue=QUEUE)
    async def fine_tune(job_id: str) -> None:
        named = ["--name", child_name] if child_name else []
        cmd = [sys.executable, "-m", "afinar", "worker", "--job", job_id, "--nproc", str(nproc), *named]
        child = await asyncio.create_subprocess_exec(*cmd, preexec_fn=_die_with_parent)
        children.add(child)
        try:
            status = await child.wait()
        finally:
            children.discard(child)
        if status == REQUEUE:
            await _defer_async(app, job_id)
        elif status != 0:  # it crashed (a signal, a second Ctrl-C): a job it left running has failed
            message = f"the job's process ended with status {status} (the worker's output says why)"
            await asyncio.to_thread(_fail_if_running, url, job_id, message)
            raise RuntimeError(f"afinar worker --job {job_id}: {message}")

    return app


def _fail_if_running(url: str, job_id: str, message: str) -> None:
    store = JobStore(url)
    error = {"code": "internal_error", "message": message, "param": None}
    if store.set(job_id, ("running",), status="failed", finished_at=int(time.time()), request=None, error=error):
        store.event(job_id, message, "error")


def _configured(app: procrastinate.App, job_id: str):
    return app.configure_task(TASK, lock=job_id, queueing_lock=job_id)


async def _defer_async(app: procrastinate.App, job_id: str) -> None:
    with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
        await _configured(app, job_id).defer_async(job_id=job_id)


def dispatch(url: str, job_id: str) -> None:
    """Queue the job ``job_id`` for the workers of the PostgreSQL database at ``url`` (once: a
    job queued already is not queued twice)."""
    app = _app(url)
    with app.open(), contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
        _configured(app, job_id).defer(job_id=job_id)


async def _recover(app: procrastinate.App, stalled_after: float, every: float, say) -> None:
    """Put back in the queue the tasks of workers whose heartbeat stopped ``stalled_after`` s ago."""
    while True:
        await asyncio.sleep(every)
        stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after)
        for job in stalled:
            say(f"afinar worker: {job.task_kwargs.get('job_id')}: its worker stopped sending a heartbeat; queued again")
            await app.job_manager.retry_job(job)


async def _work(url: str, name: str, child_name: str | None, heartbeat: float, stalled_after: float, say, nproc):
    app = _app(url, child_name, nproc)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                queues=[QUEUE], name=name, concurrency=1, install_signal_handlers=False,
                update_heartbeat_interval=heartbeat, stalled_worker_timeout=stalled_after,
                fetch_job_polling_interval=2.0,
            )
        )  # fmt: skip
        recovery = asyncio.create_task(_recover(app, stalled_after, max(1.0, heartbeat), say))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({worker, stopped}, return_when=asyncio.FIRST_COMPLETED)
        recovery.cancel()
        for child in list(app.children):  # training checkpoints, the job goes back to the queue
            child.send_signal(signal.SIGTERM)
        if not worker.done():
            worker.cancel()  # procrastinate waits for the running task (its child) to end
        with contextlib.suppress(asyncio.CancelledError):
            await worker


def run_workers(
    url: str,
    name: str,
    child_name: str | None = None,
    heartbeat: float = 10.0,
    stalled_after: float = 30.0,
    say=print,
    nproc: int = 1,
) -> None:
    """``afinar worker`` on PostgreSQL, named ``name``: take jobs from the queue until SIGINT or
    SIGTERM (a running job checkpoints and goes back to the queue); each job's process is named
    ``child_name`` after its host and pid, and trains on ``nproc`` processes."""
    asyncio.run(_work(url, name, child_name, heartbeat, stalled_after, say, nproc))
