"""The security verbs: each checks permission, does one thing, and writes its audit record.

``afinar keys init|rotate|retire|list``, ``afinar data encrypt|decrypt|rotate|shred``,
``afinar users init|add|list|disable``, ``afinar data register|grant|revoke|list``,
``afinar audit show|verify|checkpoint``. The CLI maps each verb to one function here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from afinar.errors import AfinarError
from afinar.registry import Registry, access_registry
from afinar.security import crypto
from afinar.security.access import authorize, digests, record
from afinar.security.audit import Verification, all_records, audit_log, chains, verify_all
from afinar.security.keys import KeyringProvider, default_provider, keyring_path
from afinar.shards import is_encrypted, write_folder

__all__ = [
    "audit_checkpoint",
    "audit_show",
    "audit_verify",
    "data_decrypt",
    "data_encrypt",
    "data_grant",
    "data_list",
    "data_register",
    "data_revoke",
    "data_rotate",
    "data_shred",
    "keys_init",
    "keys_list",
    "keys_retire",
    "keys_rotate",
    "users_add",
    "users_disable",
    "users_init",
    "users_list",
]

# ---------------------------------------------------------------- keys


def keys_init() -> tuple[Path, str]:
    actor = authorize("keys.init", "dataset:write")
    ring = KeyringProvider.create(keyring_path())
    record("keys.init", str(ring.path), actor, details={"kek": ring.current_id()})
    return ring.path, ring.current_id()


def keys_rotate() -> tuple[str, str]:
    actor = authorize("keys.rotate", "dataset:write")
    ring = KeyringProvider(keyring_path())
    old = ring.current_id()
    new = ring.rotate()
    record("keys.rotate", str(ring.path), actor, details={"from": old, "to": new})
    return old, new


def keys_retire(kek_id: str) -> None:
    actor = authorize("keys.retire", "dataset:write")
    ring = KeyringProvider(keyring_path())
    ring.retire(kek_id)
    record("keys.retire", str(ring.path), actor, details={"kek": kek_id})


def keys_list() -> list[dict]:
    ring = KeyringProvider(keyring_path())
    return [{"id": k, "created": v["created"], "current": k == ring.current_id()} for k, v in ring.data["keys"].items()]


# ---------------------------------------------------------------- encrypted files


def data_encrypt(src: Path, dst: Path | None, remove_plaintext: bool = False) -> tuple[Path, int]:
    """Encrypt ``src`` to ``dst`` (default ``src`` + ``.afe``); optionally delete the plaintext.
    A dataset folder becomes a new folder of ``.afe`` shards (a saved ``datasets`` folder keeps its
    ``state.json`` and ``dataset_info.json``, which hold no rows)."""
    src = Path(src)
    dst = Path(dst) if dst else src.with_name(src.name + ".afe")
    actor = authorize("data.encrypt", "dataset:write", [src])
    provider = default_provider()
    if src.is_dir():
        if is_encrypted(src):
            raise AfinarError(f"{src}: its shards are encrypted already")
        n = write_folder(src, dst, lambda shard, out: crypto.encrypt_file(shard, out, provider), suffix=".afe")
    else:
        n = crypto.encrypt_file(src, dst, provider)
    if remove_plaintext and src.is_dir():
        shutil.rmtree(src)
    elif remove_plaintext:
        src.unlink()
    record(
        "data.encrypt",
        str(dst),
        actor,
        digests=digests([dst]),
        details={"bytes": n, "kek": provider.current_id(), "plaintext_removed": remove_plaintext},
    )
    return dst, n


def data_decrypt(src: Path, dst: Path) -> int:
    """Write the plaintext of ``src`` to ``dst``: a deliberate, audited export."""
    if Path(src).is_dir():
        raise AfinarError(
            f"{src}: a folder; decrypt one shard at a time (afinar data decrypt SHARD.afe -o OUT); "
            "training, masking and the data check read an encrypted folder as it is"
        )
    actor = authorize("data.decrypt", "dataset:read", [src])
    n = crypto.decrypt_file(src, dst)
    record("data.decrypt", str(src), actor, digests=digests([src]), details={"to": str(dst), "bytes": n})
    return n


def data_rotate(paths: list[Path]) -> list[tuple[Path, str, str]]:
    """Re-wrap each file's data key under the current KEK (payload untouched)."""
    actor = authorize("data.rotate", "dataset:write", paths)
    provider = default_provider()
    out = []
    for path in paths:
        old, new = crypto.rotate(path, provider)
        record("data.rotate", str(path), actor, details={"from": old, "to": new})
        out.append((Path(path), old, new))
    return out


def data_shred(path: Path) -> None:
    """Crypto-shred: destroy the file's wrapped data key; the ciphertext stays, unreadable."""
    actor = authorize("data.shred", "dataset:write", [path])
    crypto.shred(path)
    record("data.shred", str(path), actor, digests=digests([path]))


# ---------------------------------------------------------------- users and datasets


def users_init(admin: str) -> str:
    """Create the registry with its first admin; returns the admin's API key (shown once)."""
    registry = Registry.default_location()
    if registry.has_users():
        raise AfinarError(f"{registry.url}: the registry has users already; an admin adds more with 'afinar users add'")
    key = registry.add_user(admin, "admin")
    audit_log().append("users.init", registry.url, "allow", actor=admin, details={"admin": admin})
    return key


def _registry_for(action: str, permission: str, paths=()):

    registry = access_registry()
    if registry is None:
        raise AfinarError("no registry: create one with 'afinar users init --admin NAME'")
    actor = authorize(action, permission, paths)
    return registry, actor


def users_add(name: str, role: str) -> str:
    registry, actor = _registry_for("users.add", "dataset:grant")
    if actor.role != "admin":
        raise AfinarError("permission denied: only an admin adds users")
    key = registry.add_user(name, role)
    record("users.add", name, actor, details={"role": role})
    return key


def users_list() -> list[dict]:
    registry, _ = _registry_for("users.list", "audit:read")
    return registry.users()


def users_disable(name: str) -> None:
    registry, actor = _registry_for("users.disable", "dataset:grant")
    if actor.role != "admin":
        raise AfinarError("permission denied: only an admin disables users")
    registry.disable_user(name)
    record("users.disable", name, actor)


def data_register(path: Path, name: str, classification: str) -> None:
    registry, actor = _registry_for("data.register", "dataset:write", [path])
    if not Path(path).is_file():
        raise AfinarError(f"{path}: file not found")
    digest = digests([path])  # once: the registry keeps it, the audit record names it
    registry.register(Path(path), name, classification, actor.name, digest[str(path)])
    record("data.register", str(path), actor, digests=digest, details={"name": name, "class": classification})


def data_grant(dataset: str, principal: str, permission: str) -> None:
    registry, actor = _registry_for("data.grant", "dataset:grant")
    registry.grant(dataset, principal, permission)
    record("data.grant", dataset, actor, details={"to": principal, "permission": permission})


def data_revoke(dataset: str, principal: str, permission: str) -> bool:
    registry, actor = _registry_for("data.revoke", "dataset:grant")
    removed = registry.revoke(dataset, principal, permission)
    record("data.revoke", dataset, actor, details={"from": principal, "permission": permission, "removed": removed})
    return removed


def data_list() -> list[dict]:
    registry, _ = _registry_for("data.list", "dataset:read")
    return registry.datasets()


# ---------------------------------------------------------------- audit


def audit_show(last: int = 20) -> list[dict]:
    authorize("audit.show", "audit:read")
    return all_records()[-last:]


def audit_verify() -> Verification:
    actor = authorize("audit.verify", "audit:read")
    result = verify_all()
    # recorded after verifying, so the check never changes what it checked; a log whose last
    # line is damaged cannot be appended to, and verify has just said why
    try:
        details = {"records": result.records, "problems": len(result.problems)}
        record("audit.verify", str(audit_log().path.parent), actor, "allow" if result.ok else "fail", details=details)
    except AfinarError:
        pass
    return result


def audit_checkpoint() -> list[dict]:
    """Sign the head of every chain (the one chain, each replica's): the signed records, each
    with its replica (None for the one chain)."""
    actor = authorize("audit.checkpoint", "audit:read")
    logs = [log for log in chains() if log.replica is None or log.path.exists()]
    signed = [log.checkpoint() for log in logs]
    for log, cp in zip(logs, signed, strict=True):
        record("audit.checkpoint", str(log.checkpoints), actor, details={"count": cp["count"], "replica": log.replica})
    return [{**cp, "replica": log.replica} for log, cp in zip(logs, signed, strict=True)]
