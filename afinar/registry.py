"""Users, roles, API keys and datasets with their access lists: SQLite by default, any
SQLAlchemy URL (PostgreSQL) through ``$AFINAR_REGISTRY``.

Roles and what they may do (fixed; a grant on a dataset narrows ``dataset:read`` and ``train``):

==============  =======================================================================
admin           everything, on every dataset
data_steward    dataset:read, dataset:write, dataset:grant, audit:read
ml_engineer     dataset:read, train, export, serve, deploy
auditor         audit:read
viewer          nothing but reading the registry's own listings
==============  =======================================================================

Datasets are registered with a classification. ``public`` and ``internal`` data may be read and
trained on by any role that has the permission; ``confidential`` and ``restricted`` data only by
users holding a grant for that dataset (``read``, or ``train`` which implies read), given to the
user by name or to a role as ``role:NAME``.

A dataset is known by its path and by the sha256 of its bytes (taken at registration and each
time the registered file is used, so edits are followed): a copy at another path is that
dataset. A copy of ``public`` or ``internal`` data follows the original's rules; a copy of
``confidential`` or ``restricted`` data is refused (the grants name the registered file, and a
copy would escape its shredding and rotation).

API keys are shown once at creation and stored as SHA-256 digests: they are 256-bit random
tokens, so a slow password hash would add nothing.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from afinar.database import engine_for
from afinar.errors import AfinarError
from afinar.lineage import sha256_file
from afinar.security.keys import afinar_home

__all__ = [
    "CLASSIFICATIONS",
    "PERMISSIONS",
    "ROLES",
    "Registry",
    "access_registry",
    "registry_url",
]

PERMISSIONS = ("dataset:read", "dataset:write", "dataset:grant", "train", "export", "serve", "deploy", "audit:read")
ROLES = {
    "admin": set(PERMISSIONS),
    "data_steward": {"dataset:read", "dataset:write", "dataset:grant", "audit:read"},
    "ml_engineer": {"dataset:read", "train", "export", "serve", "deploy"},
    "auditor": {"audit:read"},
    "viewer": set(),
}
CLASSIFICATIONS = ("public", "internal", "confidential", "restricted")
GRANTS = ("read", "train")
_GRANTED = {"dataset:read": {"read", "train"}, "train": {"train"}}


class _Base(DeclarativeBase):
    pass


class User(_Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[str] = mapped_column(String(40))
    disabled: Mapped[bool] = mapped_column(default=False)


class Dataset(_Base):
    __tablename__ = "datasets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    classification: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64))
    created: Mapped[str] = mapped_column(String(40))


class DatasetDigest(_Base):
    """A sha256 a registered dataset's file has had."""

    __tablename__ = "dataset_digests"
    __table_args__ = (UniqueConstraint("dataset_id", "digest"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    digest: Mapped[str] = mapped_column(String(64), index=True)


class Grant(_Base):
    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("dataset_id", "principal", "permission"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    principal: Mapped[str] = mapped_column(String(80))
    permission: Mapped[str] = mapped_column(String(16))


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


def registry_url() -> str | None:
    """``$AFINAR_REGISTRY`` (a path or SQLAlchemy URL), else ``$AFINAR_HOME/registry.db`` if it
    exists; None means single-user local mode."""
    env = os.environ.get("AFINAR_REGISTRY")
    if env:
        return env if "://" in env else f"sqlite:///{Path(env).resolve()}"
    default = afinar_home() / "registry.db"
    return f"sqlite:///{default}" if default.exists() else None


def access_registry() -> Registry | None:
    """The registry that turns access control on: one that has users. None means single-user
    local mode (a registry file may still exist, holding only the evaluation history)."""
    url = registry_url()
    if url is None:
        return None
    registry = Registry(url)
    return registry if registry.has_users() else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_api_key() -> str:
    return "afk_" + secrets.token_urlsafe(32)


class Registry:
    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url)

    @classmethod
    def default_location(cls) -> Registry:
        """The registry for ``afinar users init``: ``$AFINAR_REGISTRY`` or ``$AFINAR_HOME/registry.db``."""
        url = registry_url()
        if url is None:
            path = afinar_home() / "registry.db"
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            url = f"sqlite:///{path}"
        return cls(url)

    # ---------------------------------------------------------------- users

    def has_users(self) -> bool:
        with Session(self.engine) as s:
            return s.scalar(select(User.id).limit(1)) is not None

    def add_user(self, name: str, role: str) -> str:
        """Create a user; returns the API key (shown once; only its digest is stored)."""
        if role not in ROLES:
            raise AfinarError(f"role '{role}' is not one of {', '.join(ROLES)}")
        key = new_api_key()
        with Session(self.engine) as s:
            s.add(User(name=name, role=role, key_digest=_digest(key), created=_now()))
            try:
                s.commit()
            except IntegrityError:
                raise AfinarError(f"user '{name}' exists already") from None
        return key

    def users(self) -> list[dict]:
        with Session(self.engine) as s:
            return [
                {"name": u.name, "role": u.role, "created": u.created, "disabled": u.disabled}
                for u in s.scalars(select(User).order_by(User.id))
            ]

    def disable_user(self, name: str) -> None:
        with Session(self.engine) as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None:
                raise AfinarError(f"no user '{name}'")
            user.disabled = True
            s.commit()

    def authenticate(self, api_key: str | None) -> Caller:
        """The caller holding ``api_key``.

        Raises:
            AfinarError: no key given, an unknown key, or a disabled user.
        """
        if not api_key:
            raise AfinarError("this installation has a registry: set AFINAR_API_KEY to your API key")
        with Session(self.engine) as s:
            user = s.scalar(select(User).where(User.key_digest == _digest(api_key)))
            if user is None or user.disabled:
                raise AfinarError("AFINAR_API_KEY is not a valid key (unknown, or its user is disabled)")
            return Caller(user.name, user.role)

    def caller_named(self, name: str) -> Caller:
        """The active user ``name`` (a service acting for them: a worker running their job).

        Raises:
            AfinarError: no such user, or the user is disabled.
        """
        with Session(self.engine) as s:
            user = s.scalar(select(User).where(User.name == name))
            if user is None or user.disabled:
                raise AfinarError(f"user '{name}' is unknown or disabled")
            return Caller(user.name, user.role)

    # ---------------------------------------------------------------- datasets

    def register(self, path: Path, name: str, classification: str, owner: str, digest: str) -> None:
        """Register the file at ``path`` whose sha256 is ``digest`` (the caller has it already)."""
        if classification not in CLASSIFICATIONS:
            raise AfinarError(f"classification '{classification}' is not one of {', '.join(CLASSIFICATIONS)}")
        with Session(self.engine) as s:
            copy_of = self._by_digest(s, digest)
            if copy_of is not None:
                raise AfinarError(f"{path}: the same bytes as registered dataset '{copy_of.name}' ({copy_of.path})")
            dataset = Dataset(
                name=name, path=str(Path(path).resolve()), classification=classification, owner=owner, created=_now()
            )
            s.add(dataset)
            try:
                s.flush()
                s.add(DatasetDigest(dataset_id=dataset.id, digest=digest))
                s.commit()
            except IntegrityError:
                raise AfinarError(f"a dataset named '{name}' or at {path} is registered already") from None

    @staticmethod
    def _by_digest(s: Session, digest: str) -> Dataset | None:
        known = s.scalar(select(DatasetDigest).where(DatasetDigest.digest == digest).limit(1))
        return None if known is None else s.get(Dataset, known.dataset_id)

    def _identify(self, s: Session, path: Path) -> tuple[Dataset | None, bool]:
        """``(dataset, is_copy)`` for the file at ``path``: the dataset registered there (whose
        current digest is then remembered), or the one whose bytes it has, or ``(None, False)``."""
        d = s.scalar(select(Dataset).where(Dataset.path == str(Path(path).resolve())))
        if not Path(path).is_file():
            return d, False
        digest = sha256_file(path)
        if d is not None:
            seen = select(DatasetDigest).where(DatasetDigest.dataset_id == d.id, DatasetDigest.digest == digest)
            if s.scalar(seen) is None:
                s.add(DatasetDigest(dataset_id=d.id, digest=digest))
                s.commit()
            return d, False
        d = self._by_digest(s, digest)
        return d, d is not None

    def dataset_for(self, path: Path) -> dict | None:
        with Session(self.engine) as s:
            d = s.scalar(select(Dataset).where(Dataset.path == str(Path(path).resolve())))
            return None if d is None else {"name": d.name, "classification": d.classification, "path": d.path}

    def _dataset(self, s: Session, name: str) -> Dataset:
        d = s.scalar(select(Dataset).where(Dataset.name == name))
        if d is None:
            raise AfinarError(f"no registered dataset '{name}'")
        return d

    def grant(self, dataset: str, principal: str, permission: str) -> None:
        if permission not in GRANTS:
            raise AfinarError(f"grant '{permission}' is not one of {', '.join(GRANTS)}")
        with Session(self.engine) as s:
            d = self._dataset(s, dataset)
            s.add(Grant(dataset_id=d.id, principal=principal, permission=permission))
            try:
                s.commit()
            except IntegrityError:
                pass  # granted already

    def revoke(self, dataset: str, principal: str, permission: str) -> bool:
        with Session(self.engine) as s:
            d = self._dataset(s, dataset)
            g = s.scalar(
                select(Grant).where(
                    Grant.dataset_id == d.id, Grant.principal == principal, Grant.permission == permission
                )
            )
            if g is None:
                return False
            s.delete(g)
            s.commit()
            return True

    def datasets(self) -> list[dict]:
        with Session(self.engine) as s:
            out = []
            for d in s.scalars(select(Dataset).order_by(Dataset.id)):
                grants = s.scalars(select(Grant).where(Grant.dataset_id == d.id)).all()
                out.append(
                    {
                        "name": d.name,
                        "classification": d.classification,
                        "path": d.path,
                        "owner": d.owner,
                        "grants": sorted(f"{g.principal}:{g.permission}" for g in grants),
                    }
                )
            return out

    def allowed(self, caller: Caller, permission: str, path: Path | None = None) -> tuple[bool, str]:
        """``(allowed, reason)`` for ``caller`` doing ``permission`` (on the dataset at ``path``)."""
        if permission not in ROLES[caller.role]:
            return False, f"role '{caller.role}' lacks '{permission}'"
        if path is None or caller.role == "admin":
            return True, "role"
        with Session(self.engine) as s:
            d, is_copy = self._identify(s, path)
            if d is None:
                return True, "unregistered dataset"
            if is_copy and d.classification in ("confidential", "restricted"):
                return False, (f"{path} is a copy of the {d.classification} dataset '{d.name}' (same sha256); "
                               f"use the registered file {d.path}")  # fmt: skip
            if d.classification in ("public", "internal") or permission not in _GRANTED:
                return True, f"{d.classification} dataset"
            principals = (caller.name, f"role:{caller.role}")
            grants = s.scalars(select(Grant).where(Grant.dataset_id == d.id, Grant.principal.in_(principals))).all()
            if any(g.permission in _GRANTED[permission] for g in grants):
                return True, "grant"
            return False, f"'{d.name}' is {d.classification} and '{caller.name}' holds no grant for '{permission}'"
