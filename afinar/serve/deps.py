"""What a route handler is given: the deployment it serves with, the audit record of its
request, and the authenticated caller (FastAPI dependencies, as ``Annotated`` aliases). Routes
import these; the app (:mod:`afinar.serve.app`) imports the routes."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated

import anyio
from fastapi import Depends, Header, Request

from afinar.registry import Caller
from afinar.security.audit import AuditLog
from afinar.serve.auth import ApiError, Gatekeeper
from afinar.serve.guard import Guard, Sanitizer

__all__ = ["CallerDep", "DeployerDep", "Deployment", "DeploymentDep", "Record", "RecordDep", "TrainerDep", "audited_as"]


@dataclass
class Deployment:
    """Everything one running server serves with; built by :func:`afinar.serve.server.build`."""

    engine: object
    tokenizer: object
    models: dict[str, str]
    """Served model id -> adapter name (``engine.BASE`` for the base model)."""
    guard: Guard
    sanitizer: Sanitizer
    gate: Gatekeeper
    audit: AuditLog
    system_prompt: str | None = None
    """Added to chats that bring no system turn (the run's, as in training); never revealed."""
    max_body_bytes: int = 1 << 20
    max_prompt_tokens: int = 2048
    max_tokens: int = 512
    """Cap on (and default for) ``max_tokens``."""
    context: int = 2048
    started: int = field(default_factory=lambda: int(time.time()))
    runs: dict[str, str] = field(default_factory=dict)
    """Served model id -> the run directory it comes from (recorded with each answer)."""
    base: str | None = None
    """The base model spec the PyTorch engine serves (adapters added later must share it)."""
    note: str | None = None
    """Which engine serves and why, said when the server starts."""
    fine_tuning: object | None = None
    """The fine-tuning service (:class:`afinar.serve.fine_tuning.FineTuning`) when it is on."""
    max_upload_bytes: int = 512 << 20
    """Largest ``POST /v1/files`` body (the fine-tuning service's uploads)."""
    runs_dirs: list = field(default_factory=list)
    """Folders of run folders the pages under ``/ui`` list (with the fine-tuning jobs' runs)."""
    answered: OrderedDict = field(default_factory=OrderedDict)
    """Completion id -> the caller it answered, for the last :data:`KEEP_ANSWERED` answers (feedback)."""

    def remember(self, completion_id: str, caller: str) -> None:
        """Keep ``completion_id`` rateable by ``caller`` (the oldest forgotten past the bound)."""
        self.answered[completion_id] = caller
        while len(self.answered) > KEEP_ANSWERED:
            self.answered.popitem(last=False)


KEEP_ANSWERED = 100_000
"""Answers a server keeps rateable (the ids only: 100,000 take a few MiB)."""


@dataclass
class Record:
    """What one request's audit record will say; routes fill it in."""

    actor: str = "unknown"
    action: str | None = None
    """The audit action; by default ``serve`` + the route (``serve.chat.completions``)."""
    model: str = ""
    decision: str | None = None
    details: dict = field(default_factory=dict)
    digests: dict = field(default_factory=dict)

    def digest(self, prompt: str, response: str | None = None) -> None:
        """sha256 of the raw prompt and answer: the audit log can match a text without holding it."""
        self.digests["prompt"] = hashlib.sha256(prompt.encode()).hexdigest()
        if response is not None:
            self.digests["response"] = hashlib.sha256(response.encode()).hexdigest()


def _deployment(request: Request) -> Deployment:
    return request.app.state.deployment


def _record(request: Request) -> Record:
    return request.scope["state"]["record"]


DeploymentDep = Annotated[Deployment, Depends(_deployment)]
RecordDep = Annotated[Record, Depends(_record)]


def audited_as(action: str) -> list:
    """A route's ``dependencies`` naming its request's audit action; it runs first, so a refused
    or malformed request is recorded under it too."""

    def name(record: RecordDep) -> None:
        record.action = action

    return [Depends(name)]


async def _authenticated(dep: Deployment, record: Record, authorization: str | None, permission: str) -> Caller:
    """The authenticated caller with ``permission``, after spending one request from their rate bucket."""
    try:
        who = await anyio.to_thread.run_sync(dep.gate.who, authorization, permission)
    except ApiError as err:
        record.actor = err.actor or "unknown"
        raise
    record.actor = who.name
    dep.gate.take(who.name)
    return who


Authorization = Annotated[str | None, Header()]


async def _caller(dep: DeploymentDep, record: RecordDep, authorization: Authorization = None) -> str:
    return (await _authenticated(dep, record, authorization, "serve")).name


async def _deployer(dep: DeploymentDep, record: RecordDep, authorization: Authorization = None) -> str:
    return (await _authenticated(dep, record, authorization, "deploy")).name


async def _trainer(dep: DeploymentDep, record: RecordDep, authorization: Authorization = None) -> Caller:
    return await _authenticated(dep, record, authorization, "train")


CallerDep = Annotated[str, Depends(_caller)]
"""A caller allowed to be served."""
DeployerDep = Annotated[str, Depends(_deployer)]
"""A caller allowed to change what is served (``deploy``)."""
TrainerDep = Annotated[Caller, Depends(_trainer)]
"""A caller allowed to fine-tune (``train``), with their role: the files and jobs routes check
their grants on each dataset."""
