"""Key-encryption keys (KEKs): where they live and the small interface that wraps data keys.

A provider wraps and unwraps 256-bit data keys; it never hands out the KEK itself, so a KMS
(AWS KMS, Vault transit, ...) can implement the same three methods without the key leaving it.

- :class:`KeyringProvider`: a JSON keyring file, mode 0600, made by ``afinar keys init``
  (``$AFINAR_HOME/keys/keyring.json``). It holds several KEKs, one of them current: new files
  and ``afinar data rotate`` use the current one; old ones stay until retired.
- :class:`EnvProvider`: one KEK from ``$AFINAR_KEK`` (64 hex digits or base64 of 32 bytes), for
  CI and containers where a secret store injects it.

``$AFINAR_KEK`` wins when set. Wrapping is AES-256-GCM under the KEK with the file's identity as
associated data, so a wrapped key copied into another file's header does not open it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from afinar.atomic import locked, write_json
from afinar.errors import AfinarError

__all__ = [
    "KEK_ENV",
    "EnvProvider",
    "KeyProvider",
    "KeyringProvider",
    "WrongKey",
    "afinar_home",
    "default_provider",
    "keyring_path",
]

KEK_ENV = "AFINAR_KEK"


class WrongKey(AfinarError):
    """The key at hand does not open this data key (wrong, retired or destroyed KEK)."""


def afinar_home() -> Path:
    """``$AFINAR_HOME`` (default ``~/.afinar``): keys, audit log, registry."""
    return Path(os.environ.get("AFINAR_HOME", Path.home() / ".afinar"))


def keyring_path() -> Path:
    return afinar_home() / "keys" / "keyring.json"


class KeyProvider(Protocol):
    def current_id(self) -> str: ...

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        """Wrap ``dek`` under the current KEK: ``(kek_id, blob)``."""
        ...

    def unwrap(self, kek_id: str, blob: bytes, aad: bytes) -> bytes:
        """The data key, or :class:`WrongKey`."""
        ...


def _wrap(kek: bytes, dek: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(kek).encrypt(nonce, dek, aad)


def _unwrap(kek: bytes, blob: bytes, aad: bytes, kek_id: str) -> bytes:
    try:
        return AESGCM(kek).decrypt(blob[:12], blob[12:], aad)
    except InvalidTag:
        raise WrongKey(
            f"key-encryption key '{kek_id}' does not open this file's data key (a wrong key, or a modified header)"
        ) from None


def _decode_key(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32:
        raise AfinarError(f"{source}: a key-encryption key is 32 bytes, as 64 hex digits or base64")
    return raw


class EnvProvider:
    """One KEK from ``$AFINAR_KEK``; its id is ``env-`` and the first 8 hex of its SHA-256."""

    def __init__(self, value: str):
        self._kek = _decode_key(value, f"${KEK_ENV}")
        self._id = "env-" + hashlib.sha256(self._kek).hexdigest()[:8]

    def current_id(self) -> str:
        return self._id

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        return self._id, _wrap(self._kek, dek, aad)

    def unwrap(self, kek_id: str, blob: bytes, aad: bytes) -> bytes:
        if kek_id != self._id:
            raise WrongKey(f"this file's data key is wrapped under '{kek_id}'; ${KEK_ENV} holds '{self._id}'")
        return _unwrap(self._kek, blob, aad, kek_id)


class KeyringProvider:
    """KEKs in a 0600 JSON file: ``{"current": id, "keys": {id: {"key": b64, "created": iso}}}``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise AfinarError(f"{self.path}: no keyring; create one with 'afinar keys init' or set ${KEK_ENV}")
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AfinarError(f"{self.path}: keyring is readable by others (mode {mode:o}); run: chmod 600 {self.path}")
        self._load()

    def _load(self) -> None:
        try:
            self.data = json.loads(self.path.read_text())
            self._decode()
        except (ValueError, KeyError, TypeError) as err:
            raise AfinarError(f"{self.path}: not an afinar keyring ({err})") from None

    @classmethod
    def create(cls, path: Path) -> KeyringProvider:
        """A new keyring holding one fresh KEK, written with mode 0600 from the first byte."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locked(path):
            if path.exists():
                raise AfinarError(f"{path}: a keyring exists already; 'afinar keys rotate' adds a new key to it")
            kek_id = _new_id()
            write_json(path, {"version": 1, "current": kek_id, "keys": {kek_id: _entry()}}, mode=0o600)
        return cls(path)

    @contextmanager
    def _update(self):
        """Read the keyring afresh under its lock, let the caller change ``self.data``, write it.

        Another process may have rotated since this one loaded the file: changing the copy read
        at start would drop its key, and with it every file wrapped under it.
        """
        with locked(self.path):
            self._load()
            yield
            write_json(self.path, self.data, mode=0o600)
            self._decode()

    def _decode(self) -> None:
        self._keys = {k: base64.b64decode(v["key"]) for k, v in self.data["keys"].items()}

    def ids(self) -> list[str]:
        return list(self.data["keys"])

    def current_id(self) -> str:
        return self.data["current"]

    def rotate(self) -> str:
        """Add a fresh KEK and make it current; returns its id. Old KEKs stay until retired."""
        kek_id = _new_id()
        with self._update():
            self.data["keys"][kek_id] = _entry()
            self.data["current"] = kek_id
        return kek_id

    def retire(self, kek_id: str) -> None:
        """Delete a KEK: files still wrapped under it can never be opened again."""
        with self._update():
            if kek_id not in self.data["keys"]:
                raise AfinarError(f"{self.path}: no key '{kek_id}'; keys: {', '.join(self.ids())}")
            if kek_id == self.current_id():
                raise AfinarError(f"'{kek_id}' is the current key; rotate first, then retire it")
            del self.data["keys"][kek_id]

    def wrap(self, dek: bytes, aad: bytes) -> tuple[str, bytes]:
        kek_id = self.current_id()
        return kek_id, _wrap(self._keys[kek_id], dek, aad)

    def unwrap(self, kek_id: str, blob: bytes, aad: bytes) -> bytes:
        if kek_id not in self._keys:
            raise WrongKey(
                f"this file's data key is wrapped under '{kek_id}', which is not in {self.path} "
                f"(retired, or another keyring); keys here: {', '.join(self.ids())}"
            )
        return _unwrap(self._keys[kek_id], blob, aad, kek_id)


def _new_id() -> str:
    return f"kek-{datetime.now(UTC).strftime('%Y%m%d')}-{secrets.token_hex(4)}"


def _entry() -> dict:
    return {"key": base64.b64encode(secrets.token_bytes(32)).decode(), "created": datetime.now(UTC).isoformat()}


def default_provider() -> KeyProvider:
    """``$AFINAR_KEK`` if set, else the keyring under ``$AFINAR_HOME``."""
    value = os.environ.get(KEK_ENV)
    if value:
        return EnvProvider(value)
    return KeyringProvider(keyring_path())
