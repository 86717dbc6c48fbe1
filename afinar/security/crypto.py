"""The ``.afe`` file: envelope encryption, AES-256-GCM in authenticated chunks.

Layout (integers big-endian)::

    fixed header, 58 bytes   magic "AFE\\x01" | version u8 = 1 | algorithm u8 = 1 | chunk_size u32
                             | file_id 16 random bytes | commitment 32
    key slot                 slot_len u16 | kek_id_len u8 | kek_id | wrapped data key
    chunks                   AES-256-GCM(data key, nonce_i, chunk_i, aad_i) = ciphertext || 16-byte tag

- Each file gets a fresh 256-bit data key (DEK), wrapped by a key-encryption key (see
  :mod:`afinar.security.keys`) with the fixed header as associated data.
- The commitment, HMAC-SHA256(DEK, "afinar-afe-commit" || fixed header before it), binds the file
  to one DEK: GCM alone is not key-committing, so a wrong key is caught here, before any chunk.
- Chunk i (``chunk_size`` bytes of plaintext, the last one shorter, possibly empty) uses nonce
  ``i (11 bytes) || final (1 byte)`` and associated data ``SHA-256(fixed header) || i (8 bytes) ||
  final``: a reordered, dropped, duplicated, truncated or appended chunk fails its tag (the
  STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár, CRYPTO 2015). Nonces never repeat
  because each DEK encrypts one file only.
- The key slot is outside what the chunks authenticate, so ``rotate`` re-wraps the DEK under a new
  KEK without touching the payload, and ``shred`` overwrites it so that nobody can open the file.

Memory is one chunk (1 MiB by default) whatever the file size.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from afinar.atomic import atomic_write
from afinar.errors import AfinarError
from afinar.security.keys import KeyProvider, WrongKey, default_provider

__all__ = [
    "CHUNK",
    "Header",
    "decrypt_chunks",
    "decrypt_file",
    "encrypt_file",
    "encrypt_stream",
    "open_decrypted",
    "read_header",
    "rotate",
    "shred",
    "write_data",
]

MAGIC = b"AFE\x01"
VERSION, ALG_AES256GCM_STREAM = 1, 1
CHUNK = 1 << 20
_FIXED = struct.Struct(">4sBBI16s32s")  # 58 bytes
_TAG = 16
_COMMIT_LABEL = b"afinar-afe-commit"


@dataclass
class Header:
    chunk_size: int
    file_id: bytes
    commitment: bytes
    kek_id: str
    wrapped: bytes
    fixed: bytes
    """The 58 fixed bytes, as read (what the chunks and the wrapped key authenticate)."""
    slot_offset: int
    payload_offset: int


def _fixed_bytes(chunk_size: int, file_id: bytes, commitment: bytes) -> bytes:
    return _FIXED.pack(MAGIC, VERSION, ALG_AES256GCM_STREAM, chunk_size, file_id, commitment)


def _commitment(dek: bytes, chunk_size: int, file_id: bytes) -> bytes:
    before = _FIXED.pack(MAGIC, VERSION, ALG_AES256GCM_STREAM, chunk_size, file_id, b"\0" * 32)[:-32]
    return hmac.new(dek, _COMMIT_LABEL + before, hashlib.sha256).digest()


def _slot(kek_id: str, wrapped: bytes) -> bytes:
    kid = kek_id.encode()
    body = bytes([len(kid)]) + kid + wrapped
    return struct.pack(">H", len(body)) + body


def _nonce_aad(header_hash: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    flag = b"\x01" if final else b"\x00"
    return index.to_bytes(11, "big") + flag, header_hash + index.to_bytes(8, "big") + flag


def read_header(f: BinaryIO, where: str) -> Header:
    """Parse the header at the start of ``f``.

    Raises:
        AfinarError: not an .afe file, an unknown version or algorithm, or a damaged header.
    """
    fixed = f.read(_FIXED.size)
    if len(fixed) < _FIXED.size or fixed[:4] != MAGIC:
        raise AfinarError(f"{where}: not an afinar encrypted file (.afe): bad magic bytes")
    _, version, alg, chunk_size, file_id, commitment = _FIXED.unpack(fixed)
    if version != VERSION or alg != ALG_AES256GCM_STREAM:
        raise AfinarError(f"{where}: .afe version {version} / algorithm {alg} is not supported (expected 1 / 1)")
    if not 1024 <= chunk_size <= 1 << 30:
        raise AfinarError(f"{where}: corrupted header (chunk size {chunk_size})")
    raw_len = f.read(2)
    slot_len = struct.unpack(">H", raw_len)[0] if len(raw_len) == 2 else 0
    body = f.read(slot_len)
    if slot_len < 2 or len(body) != slot_len or body[0] + 1 > slot_len:
        raise AfinarError(f"{where}: corrupted header (key slot)")
    kid_len = body[0]
    try:
        kek_id = body[1 : 1 + kid_len].decode()
    except UnicodeDecodeError:
        raise AfinarError(f"{where}: corrupted header (key id)") from None
    return Header(
        chunk_size=chunk_size,
        file_id=file_id,
        commitment=commitment,
        kek_id=kek_id,
        wrapped=body[1 + kid_len :],
        fixed=fixed,
        slot_offset=_FIXED.size,
        payload_offset=_FIXED.size + 2 + slot_len,
    )


def _data_key(header: Header, provider: KeyProvider, where: str) -> bytes:
    if not any(header.wrapped):
        raise WrongKey(f"{where}: the data key was destroyed (crypto-shredded); the file cannot be opened")
    try:
        dek = provider.unwrap(header.kek_id, header.wrapped, header.fixed)
    except WrongKey as err:
        raise WrongKey(f"{where}: {err}") from None
    if not hmac.compare_digest(_commitment(dek, header.chunk_size, header.file_id), header.commitment):
        raise WrongKey(f"{where}: the data key does not match the file's key commitment (corrupted header)")
    return dek


class _Plaintext(io.RawIOBase):
    """A read-only binary stream over :func:`decrypt_chunks`: holds one chunk in memory."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._buf = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
            if not self._buf:  # an empty final chunk
                continue
        n = min(len(b), len(self._buf))
        b[:n], self._buf = self._buf[:n], self._buf[n:]
        return n


def open_decrypted(path: Path, provider: KeyProvider | None = None) -> BinaryIO:
    """``path`` decrypted, as a buffered binary stream: plaintext lives in memory only."""
    return io.BufferedReader(_Plaintext(decrypt_chunks(path, provider)), buffer_size=CHUNK)


def encrypt_stream(src: BinaryIO, dst: BinaryIO, provider: KeyProvider, chunk_size: int = CHUNK) -> int:
    """Encrypt everything ``src`` yields into ``dst``; returns plaintext bytes written."""
    dek = AESGCM.generate_key(bit_length=256)
    file_id = secrets.token_bytes(16)
    fixed = _fixed_bytes(chunk_size, file_id, _commitment(dek, chunk_size, file_id))
    kek_id, wrapped = provider.wrap(dek, fixed)
    dst.write(fixed + _slot(kek_id, wrapped))
    header_hash = hashlib.sha256(fixed).digest()
    aead, total, index = AESGCM(dek), 0, 0
    chunk = src.read(chunk_size)
    while True:
        following = src.read(chunk_size) if len(chunk) == chunk_size else b""
        final = not following
        nonce, aad = _nonce_aad(header_hash, index, final)
        dst.write(aead.encrypt(nonce, chunk, aad))
        total += len(chunk)
        if final:
            return total
        chunk, index = following, index + 1


def decrypt_chunks(path: Path, provider: KeyProvider | None = None) -> Iterator[bytes]:
    """Yield the plaintext of ``path`` chunk by chunk, each verified before it is yielded.

    Raises:
        AfinarError: bad header; :class:`WrongKey` for a wrong, retired or destroyed key; a
        chunk that fails authentication names its index and what that means.
    """
    path = Path(path)
    where = str(path)
    with path.open("rb") as f:
        header = read_header(f, where)
        dek = _data_key(header, provider or default_provider(), where)
        header_hash = hashlib.sha256(header.fixed).digest()
        aead = AESGCM(dek)
        size = header.chunk_size + _TAG
        index = 0
        block = f.read(size)
        while True:
            following = f.read(size) if len(block) == size else b""
            final = not following
            if len(block) < _TAG:
                raise AfinarError(f"{where}: truncated (chunk {index} is incomplete)")
            nonce, aad = _nonce_aad(header_hash, index, final)
            try:
                yield aead.decrypt(nonce, block, aad)
            except InvalidTag:
                what = "the file ends early or has data appended" if final else "modified, reordered or dropped"
                raise AfinarError(f"{where}: chunk {index} fails authentication ({what}); refusing to use it") from None
            if final:
                return
            block, index = following, index + 1


def write_data(dst: Path, data: bytes, provider: KeyProvider | None = None) -> None:
    """Write ``data`` to ``dst`` atomically, encrypted when ``dst`` ends in ``.afe``."""
    with atomic_write(Path(dst)) as out:
        if Path(dst).suffix == ".afe":
            encrypt_stream(io.BytesIO(data), out, provider or default_provider())
        else:
            out.write(data)


def encrypt_file(src: Path, dst: Path, provider: KeyProvider | None = None, chunk_size: int = CHUNK) -> int:
    """Encrypt ``src`` into ``dst`` (.afe); returns plaintext bytes. ``dst`` appears only when complete."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise AfinarError(f"{src}: file not found")
    if dst.suffix != ".afe":
        raise AfinarError(f"{dst}: encrypted files end in .afe (e.g. {src.name}.afe)")
    provider = provider or default_provider()
    with src.open("rb") as f, atomic_write(dst) as out:
        return encrypt_stream(f, out, provider, chunk_size)


def decrypt_file(src: Path, dst: Path, provider: KeyProvider | None = None) -> int:
    """Decrypt ``src`` into ``dst``; a failure anywhere leaves no ``dst`` (nor a partial one)."""
    total = 0
    with atomic_write(Path(dst)) as out:
        for chunk in decrypt_chunks(src, provider):
            out.write(chunk)
            total += len(chunk)
    return total


def rotate(path: Path, provider: KeyProvider | None = None) -> tuple[str, str]:
    """Re-wrap ``path``'s data key under the provider's current KEK; the payload is copied as is.

    Returns ``(old_kek_id, new_kek_id)``.
    """
    path = Path(path)
    provider = provider or default_provider()
    with path.open("rb") as f:
        header = read_header(f, str(path))
        dek = _data_key(header, provider, str(path))
        kek_id, wrapped = provider.wrap(dek, header.fixed)
        f.seek(header.payload_offset)
        with atomic_write(path) as out:
            out.write(header.fixed + _slot(kek_id, wrapped))
            while block := f.read(CHUNK):
                out.write(block)
    return header.kek_id, kek_id


def shred(path: Path) -> None:
    """Crypto-shred: overwrite the wrapped data key in place. No key can open the file afterwards."""
    path = Path(path)
    with path.open("r+b") as f:
        header = read_header(f, str(path))
        f.seek(header.slot_offset + 2 + 1 + len(header.kek_id.encode()))
        f.write(b"\0" * len(header.wrapped))
        f.flush()
        os.fsync(f.fileno())
