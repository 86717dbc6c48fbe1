"""Who is calling, may they do this, and the audit record that says so.

With a registry (see :mod:`afinar.registry`), the caller is the user whose API key is in
``$AFINAR_API_KEY``; every authentication and every denial is audited. Without one, afinar runs
in single-user local mode (the OS user, everything allowed) and says so once per process; the
audit log is written either way.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from afinar.errors import AfinarError
from afinar.lineage import sha256_file
from afinar.registry import Caller, access_registry
from afinar.security.audit import audit_log, local_actor
from afinar.shards import dataset_files

__all__ = ["Actor", "authorize", "digests", "record"]

_noticed = False


@dataclass(frozen=True)
class Actor:
    name: str
    role: str | None
    """None in local mode."""


def _current():

    global _noticed
    registry = access_registry()
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
