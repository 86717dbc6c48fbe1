"""OpenAI's fine-tuning jobs API (:mod:`afinar.serve.fine_tuning`): ``POST /v1/fine_tuning/jobs``,
``GET /v1/fine_tuning/jobs[/{id}]``, ``POST .../{id}/cancel``, ``/pause``, ``/resume``,
``GET .../{id}/events`` and ``.../{id}/checkpoints``.

Every route needs the ``train`` permission; a job is its owner's (an admin sees all). Creating
one needs the ``train`` grant on its files' datasets, and is refused past the quotas. Each call
is one audit record (``fine_tuning.job.create``, ``.list``, ``.get``, ``.cancel``, ``.pause``,
``.resume``, ``.events``, ``.checkpoints``); a refusal is a ``deny``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query
from pydantic import Field

from afinar.errors import AfinarError
from afinar.jobstore import FINAL, event_json
from afinar.serve.auth import ApiError
from afinar.serve.deps import DeploymentDep, RecordDep, TrainerDep, audited_as
from afinar.serve.engine import BASE
from afinar.serve.fine_tuning import fine_tuned_id, job_json
from afinar.serve.routes.files import service
from afinar.serve.schemas import _Body

router = APIRouter()

Auto = Literal["auto"]


class Hyperparameters(_Body):
    n_epochs: Auto | Annotated[int, Field(ge=1, le=50)] = "auto"
    batch_size: Auto | Annotated[int, Field(ge=1, le=256)] = "auto"
    learning_rate_multiplier: Auto | Annotated[float, Field(gt=0, le=100)] = "auto"


class DpoHyperparameters(Hyperparameters):
    beta: Auto | Annotated[float, Field(gt=0, le=10)] = "auto"


class Supervised(_Body):
    hyperparameters: Hyperparameters | None = None


class Dpo(_Body):
    hyperparameters: DpoHyperparameters | None = None


class Method(_Body):
    type: Literal["supervised", "dpo"]
    supervised: Supervised | None = None
    dpo: Dpo | None = None


class CreateJob(_Body):
    model: str = Field(min_length=1, max_length=255)
    training_file: str = Field(min_length=1, max_length=64)
    validation_file: str | None = Field(None, max_length=64)
    suffix: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    hyperparameters: Hyperparameters | None = None
    """The older place for the supervised hyperparameters (``method`` wins)."""
    method: Method | None = None
    metadata: dict[str, str] | None = None
    integrations: list | None = None


def _method(body: CreateJob) -> dict:
    if body.method is None:
        hp = body.hyperparameters or Hyperparameters()
        return {"type": "supervised", "supervised": {"hyperparameters": hp.model_dump()}}
    kind = body.method.type
    section = getattr(body.method, kind)
    hp = section.hyperparameters if section and section.hyperparameters else None
    if hp is None:
        hp = body.hyperparameters if kind == "supervised" and body.hyperparameters else Hyperparameters()
    return {"type": kind, kind: {"hyperparameters": hp.model_dump()}}


def _base_of(dep, model: str) -> str:
    """The base spec the job trains on: ``model`` must be the base this server serves.

    Raises:
        ApiError: 400 for any other model (the message names the ones accepted).
    """
    names = [m for m, a in dep.models.items() if a == BASE]
    if dep.base is None or not hasattr(dep.engine, "add_adapter"):
        raise ApiError(400, "model_not_available", "this server cannot serve new adapters (a GGUF in llama.cpp, or "
                       "a full fine-tune): start it with --model BASE --fine-tuning")  # fmt: skip
    if model not in (*names, dep.base):
        accepted = ", ".join(sorted({*names, dep.base}))
        raise ApiError(400, "model_not_available", f"model '{model}': this server fine-tunes {accepted}")
    return dep.base


@router.post("/v1/fine_tuning/jobs", dependencies=audited_as("fine_tuning.job.create"))
async def create_job(body: CreateJob, dep: DeploymentDep, record: RecordDep, caller: TrainerDep) -> dict:
    ft = service(dep)
    record.details.update(training_file=body.training_file, validation_file=body.validation_file, model=body.model)
    if body.integrations:
        raise ApiError(400, "invalid_request", "integrations are not supported (afinar tracks runs with MLflow and "
                       "TensorBoard from the job recipe's tracking section)")  # fmt: skip
    base = _base_of(dep, body.model)

    def create():
        train = ft.readable_file(caller, body.training_file, "train")
        validation = ft.readable_file(caller, body.validation_file, "train") if body.validation_file else None
        ft.check_quota(caller)
        return ft.create_job(caller, body.model, base, (train, validation), _method(body), body.seed, body.suffix)

    job = await anyio.to_thread.run_sync(create)
    record.model = job.id
    record.details.update(job=job.id, method=job.method)
    return job_json(job)


@router.get("/v1/fine_tuning/jobs", dependencies=audited_as("fine_tuning.job.list"))
async def list_jobs(
    dep: DeploymentDep, caller: TrainerDep, after: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> dict:
    ft = service(dep)
    owner = None if caller.role in ("admin", "local") else caller.name
    try:
        page = await anyio.to_thread.run_sync(lambda: ft.store.jobs(owner, after, limit))
    except AfinarError as err:
        raise ApiError(400, "invalid_request", str(err)) from None
    return {"object": "list", "data": [job_json(j) for j in page.rows], "has_more": page.has_more}


@router.get("/v1/fine_tuning/jobs/{job_id}", dependencies=audited_as("fine_tuning.job.get"))
async def get_job(job_id: str, dep: DeploymentDep, record: RecordDep, caller: TrainerDep) -> dict:
    record.model = job_id
    return job_json(await anyio.to_thread.run_sync(service(dep).own_job, caller, job_id))


def _change(dep, caller, job_id: str, action: str):
    """Cancel, pause or resume: at once for a job no worker holds, else asked of its worker."""
    ft = service(dep)
    job = ft.own_job(caller, job_id)
    store = ft.store
    if action == "cancel":
        done = store.set(job_id, ("queued", "paused"), status="cancelled", finished_at=int(time.time()), request=None)
        if not done and not store.set(job_id, ("running",), request="cancel"):
            raise ApiError(409, "job_finished", f"{job_id} is {store.job(job_id).status}; nothing to cancel")
        store.event(job_id, "Job cancelled" if done else "Cancel requested: the job stops after its current step")
    elif action == "pause":
        done = store.set(job_id, ("queued",), status="paused")
        if not done and not store.set(job_id, ("running",), request="pause"):
            raise ApiError(409, "job_not_running", f"{job_id} is {job.status}; only a queued or running job pauses")
        store.event(job_id, "Job paused" if done else "Pause requested: the job checkpoints after its current step")
    else:
        if not store.set(job_id, ("paused",), status="queued", request=None):
            raise ApiError(409, "job_not_paused", f"{job_id} is {job.status}; only a paused job resumes")
        store.event(job_id, "Job resumed: queued to continue from its last checkpoint")
        ft.dispatch(job_id)
    return store.job(job_id)


def _changer(action: str):
    @router.post(f"/v1/fine_tuning/jobs/{{job_id}}/{action}", dependencies=audited_as(f"fine_tuning.job.{action}"))
    async def change(job_id: str, dep: DeploymentDep, record: RecordDep, caller: TrainerDep) -> dict:
        record.model = job_id
        return job_json(await anyio.to_thread.run_sync(_change, dep, caller, job_id, action))

    return change


cancel_job, pause_job, resume_job = (_changer(a) for a in ("cancel", "pause", "resume"))


@router.get("/v1/fine_tuning/jobs/{job_id}/events", dependencies=audited_as("fine_tuning.job.events"))
async def list_events(
    job_id: str,
    dep: DeploymentDep,
    record: RecordDep,
    caller: TrainerDep,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict:
    record.model = job_id
    ft = service(dep)

    def events():
        ft.own_job(caller, job_id)
        return ft.store.events(job_id, after, limit)

    try:
        page = await anyio.to_thread.run_sync(events)
    except AfinarError as err:
        raise ApiError(400, "invalid_request", str(err)) from None
    return {"object": "list", "data": [event_json(e) for e in page.rows], "has_more": page.has_more}


def _checkpoints(job) -> list[dict]:
    """The run's checkpoints (afinar keeps the newest), with the training loss at their step."""
    run = Path(job.run_dir or "")
    losses = {}
    if (run / "metrics.jsonl").is_file():
        for line in (run / "metrics.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if "loss" in entry:
                losses[entry["step"]] = entry["loss"]
    model = fine_tuned_id(job.model, job.suffix, job.id)
    out = []
    for folder in sorted((run / "checkpoints").glob("step-*"), reverse=True):
        step = int(folder.name.removeprefix("step-"))
        out.append({
            "id": f"ftckpt-{job.id.removeprefix('ftjob-')}-{step}",
            "object": "fine_tuning.job.checkpoint",
            "created_at": int(folder.stat().st_mtime),
            "fine_tuned_model_checkpoint": f"{model}:ckpt-step-{step}",
            "fine_tuning_job_id": job.id,
            "metrics": {"step": step, **({"train_loss": losses[step]} if step in losses else {})},
            "step_number": step,
        })  # fmt: skip
    return out


@router.get("/v1/fine_tuning/jobs/{job_id}/checkpoints", dependencies=audited_as("fine_tuning.job.checkpoints"))
async def list_checkpoints(job_id: str, dep: DeploymentDep, record: RecordDep, caller: TrainerDep) -> dict:
    record.model = job_id
    job = await anyio.to_thread.run_sync(service(dep).own_job, caller, job_id)
    if job.status in FINAL and job.status != "succeeded":
        data = []
    else:
        data = await anyio.to_thread.run_sync(_checkpoints, job)
    return {"object": "list", "data": data, "has_more": False}
