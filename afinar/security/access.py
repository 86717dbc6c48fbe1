"""Who is calling, may they do this, and the audit record that says so.

With a registry (see :mod:`afinar.registry`), the caller is the user whose API key is in
``$AFINAR_API_KEY``; every authentication and every denial is audited. Without one, afinar runs
in single-user local mode (the OS user, everything allowed) and says so once per process; the
audit log is written either way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from afinar.errors import AfinarError
from afinar.jobstore import JobStore
from afinar.lineage import sha256_file
from afinar.registry import Caller, access_registry
from afinar.security.audit import audit_log, local_actor
from afinar.shards import dataset_files

__all__ = ["JOB_TOKEN_ENV", "Actor", "acting_as", "authorize", "digests", "record"]

_noticed = False
_acting: ContextVar[Caller | None] = ContextVar("afinar_acting_as", default=None)
JOB_TOKEN_ENV = "AFINAR_JOB_TOKEN"


@dataclass(frozen=True)
class Actor:
    name: str
    role: str | None
    """None in local mode."""


def _current():

    global _noticed
    registry = access_registry()
    acting = _acting.get()
    if registry is not None and acting is None and os.environ.get(JOB_TOKEN_ENV):
        acting = _job_owner(registry)
    if registry is not None and acting is not None:
        return Actor(acting.name, acting.role), registry
    if registry is None:
        if not _noticed:
            notice = "afinar: single-user local mode (no registry; 'afinar users init' turns on access control)"
            print(notice, file=sys.stderr)
            _noticed = True
        return Actor(local_actor(), None), None
    try:
        caller = registry.authenticate(os.environ.get("AFINAR_API_KEY"))
    except AfinarError as err:
        audit_log().append("login", registry.url, "deny", actor="unknown", details={"reason": str(err)})
        raise
    audit_log().append("login", registry.url, "allow", actor=caller.name, details={"role": caller.role})
    return Actor(caller.name, caller.role), registry


def _job_owner(registry) -> Caller:
    """The owner of the running fine-tuning job whose token is ``$AFINAR_JOB_TOKEN``: how the
    processes of a job trained on several (torchrun) act as its owner.

    Raises:
        AfinarError: a token of no running job (after a ``deny`` audit record).
    """
    owner = JobStore(registry.url).owner_of_token(os.environ[JOB_TOKEN_ENV])
    if owner is None:
        reason = f"${JOB_TOKEN_ENV} is not the token of a running fine-tuning job"
        audit_log().append("login", registry.url, "deny", actor="unknown", details={"reason": reason})
        raise AfinarError(reason)
    return registry.caller_named(owner)


@contextmanager
def acting_as(name: str) -> Iterator[Actor]:
    """Within the block, the caller is the registry's user ``name`` (not ``$AFINAR_API_KEY``'s):
    a fine-tuning worker runs a job with its owner's rights, and its records name the owner.
    Without a registry, the OS user as always.

    Raises:
        AfinarError: ``name`` is unknown or disabled (after a ``deny`` audit record).
    """
    registry = access_registry()
    if registry is None:
        yield Actor(local_actor(), None)
        return
    try:
        caller = registry.caller_named(name)
    except AfinarError as err:
        audit_log().append("login", registry.url, "deny", actor=name, details={"reason": str(err), "as": "job owner"})
        raise
    token = _acting.set(caller)
    try:
        yield Actor(caller.name, caller.role)
    finally:
        _acting.reset(token)


def authorize(action: str, permission: str, paths: list[Path] | tuple = ()) -> Actor:
    """The caller, if they may do ``permission`` (on each dataset in ``paths``).

    Raises:
        AfinarError: permission denied (after writing a ``deny`` audit record), or no valid key.
    """
    actor, registry = _current()
    if registry is None:
        return actor

    for path in list(paths) or [None]:
        allowed, reason = registry.allowed(Caller(actor.name, actor.role), permission, path)
        if not allowed:
            resource = str(path) if path is not None else action
            details = {"permission": permission, "reason": reason}
            audit_log().append(action, resource, "deny", actor=actor.name, details=details)
            raise AfinarError(f"permission denied: {reason} ({action} {resource})")
    return actor


def permitted(actor: Actor, permission: str, paths: list[Path] | tuple) -> bool:
    """Whether ``actor`` (as :func:`authorize` returned it) may do ``permission`` on every dataset
    in ``paths``: a question, not a refusal (nothing is audited); always in local mode."""
    registry = access_registry()
    if registry is None or actor.role is None:
        return True
    return all(registry.allowed(Caller(actor.name, actor.role), permission, Path(p))[0] for p in paths)


def digests(paths) -> dict[str, str]:
    """sha256 of each existing file, a data folder's of each shard, keyed by path (what the audit
    log records instead of data)."""
    files = [f for p in paths if p is not None and Path(p).exists() for f in dataset_files(p)]
    return {str(f): sha256_file(f) for f in files}


def record(action: str, resource: str, actor: Actor, decision: str = "allow", **kw) -> dict:
    return audit_log().append(action, resource, decision, actor=actor.name, **kw)
