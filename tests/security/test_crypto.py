"""The .afe format: round trips, wrong keys, damaged headers, every chunk attack, rotation,
crypto-shredding, key-file permissions and bounded memory."""

import io
import os
import tracemalloc
from pathlib import Path

import pytest

from afinar.errors import AfinarError
from afinar.security import crypto
from afinar.security.keys import EnvProvider, KeyringProvider, WrongKey

CHUNK = 1024  # small chunks so a few KiB make several of them


@pytest.fixture
def ring(tmp_path) -> KeyringProvider:
    return KeyringProvider.create(tmp_path / "keys" / "keyring.json")


def encrypt(tmp_path: Path, ring, data: bytes, name: str = "f") -> Path:
    src = tmp_path / name
    src.write_bytes(data)
    dst = tmp_path / f"{name}.afe"
    crypto.encrypt_file(src, dst, ring, chunk_size=CHUNK)
    return dst


def decrypt(path: Path, provider) -> bytes:
    return b"".join(crypto.decrypt_chunks(path, provider))


def layout(path: Path) -> tuple[bytes, list[bytes]]:
    """(header bytes, [chunk bytes...]) parsed independently of the reader: fixed header 58 bytes,
    u16 slot length, slot, then chunks of CHUNK + 16 bytes, the last one shorter."""
    raw = path.read_bytes()
    slot_len = int.from_bytes(raw[58:60], "big")
    head, body = raw[: 60 + slot_len], raw[60 + slot_len :]
    size = CHUNK + 16
    return head, [body[i : i + size] for i in range(0, len(body), size)]


@pytest.mark.parametrize("n", [0, 1, CHUNK - 1, CHUNK, 3 * CHUNK, 3 * CHUNK + 7])
def test_round_trip_of_every_size(tmp_path, ring, n):
    data = os.urandom(n)
    path = encrypt(tmp_path, ring, data)
    assert decrypt(path, ring) == data
    # ceil(n / CHUNK) chunks, at least one (an empty file still carries one authenticated chunk)
    assert len(layout(path)[1]) == max(1, -(-n // CHUNK))


def test_the_ciphertext_holds_no_plaintext_and_a_fresh_key_each_time(tmp_path, ring):
    data = b"CANARY-" * 500
    a, b = encrypt(tmp_path, ring, data, "a"), encrypt(tmp_path, ring, data, "b")
    assert b"CANARY" not in a.read_bytes()
    assert layout(a)[1][0] != layout(b)[1][0]  # same plaintext, different data keys


def test_wrong_key_is_named_before_any_chunk_is_read(tmp_path, ring):
    path = encrypt(tmp_path, ring, b"secret rows")
    other = KeyringProvider.create(tmp_path / "other" / "keyring.json")
    with pytest.raises(WrongKey, match=f"wrapped under '{ring.current_id()}', which is not in"):
        decrypt(path, other)
    env = EnvProvider("00" * 32)
    with pytest.raises(WrongKey, match=r"\$AFINAR_KEK holds 'env-"):
        decrypt(path, env)


def test_a_key_with_the_right_id_but_wrong_bytes_fails_to_unwrap(tmp_path):
    right, wrong = EnvProvider("11" * 32), EnvProvider("22" * 32)
    wrong._id = right.current_id()  # same name, different key: GCM on the wrapped key catches it
    path = encrypt(tmp_path, right, b"rows")
    with pytest.raises(WrongKey, match="does not open this file's data key"):
        decrypt(path, wrong)


@pytest.mark.parametrize(
    ("offset", "message"),
    [
        (0, "bad magic bytes"),
        (4, "version 2 / algorithm 1 is not supported"),
        (10, "does not open this file's data key"),  # a byte of the file id: the wrapped key's AAD
        (30, "does not open this file's data key"),  # a byte of the key commitment
    ],
)
def test_a_damaged_header_is_refused(tmp_path, ring, offset, message):
    path = encrypt(tmp_path, ring, b"x" * 3000)
    raw = bytearray(path.read_bytes())
    raw[offset] = raw[offset] + 1 if offset == 4 else raw[offset] ^ 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(AfinarError, match=message):
        decrypt(path, ring)


def _attack(path: Path, chunks_of) -> None:
    head, chunks = layout(path)
    path.write_bytes(head + b"".join(chunks_of(chunks)))


def flip(c: list[bytes]) -> list[bytes]:
    return [c[0], bytes([c[1][0] ^ 1]) + c[1][1:], *c[2:]]


@pytest.mark.parametrize(
    ("attack", "message"),
    [
        (flip, "chunk 1 fails authentication"),
        (lambda c: [c[1], c[0], *c[2:]], "chunk 0 fails authentication"),  # reordered
        (lambda c: [c[0], *c[2:]], "chunk 1 fails authentication"),  # dropped
        (lambda c: [c[0], c[1], c[1], *c[2:]], "chunk 2 fails authentication"),  # duplicated
        (lambda c: c[:-1], r"chunk 2 fails authentication \(the file ends early"),  # truncated at a boundary
        (lambda c: [*c[:-1], c[-1][:-5]], "chunk 3 fails authentication"),  # truncated mid-chunk
        (lambda c: [*c, b"appended"], "chunk 3 fails authentication"),  # appended bytes
    ],
    ids=["modified", "reordered", "dropped", "duplicated", "truncated", "cut", "appended"],
)
def test_every_chunk_attack_is_detected(tmp_path, ring, attack, message):
    path = encrypt(tmp_path, ring, os.urandom(3 * CHUNK + 100))  # 4 chunks
    _attack(path, attack)
    with pytest.raises(AfinarError, match=message):
        decrypt(path, ring)


def test_rotation_rewraps_the_key_and_keeps_the_payload(tmp_path, ring):
    data = os.urandom(5000)
    path = encrypt(tmp_path, ring, data)
    stale = encrypt(tmp_path, ring, b"never rotated", "stale")
    old_id = ring.current_id()
    _, before = layout(path)
    new_id = ring.rotate()
    assert crypto.rotate(path, ring) == (old_id, new_id)
    head, after = layout(path)
    assert after == before  # not one payload byte re-encrypted
    assert crypto.read_header(io.BytesIO(head), "x").kek_id == new_id
    ring.retire(old_id)
    assert decrypt(path, ring) == data
    with pytest.raises(WrongKey, match=f"wrapped under '{old_id}', which is not in"):
        decrypt(stale, ring)  # its KEK is gone: retiring a KEK crypto-shreds what was not rotated
    with pytest.raises(AfinarError, match="is the current key"):
        ring.retire(new_id)


def test_crypto_shredding_makes_a_file_unrecoverable(tmp_path, ring):
    path = encrypt(tmp_path, ring, b"delete me")
    crypto.shred(path)
    with pytest.raises(WrongKey, match="data key was destroyed"):
        decrypt(path, ring)


def test_keyring_is_0600_and_a_readable_one_is_refused(tmp_path, ring):
    assert ring.path.stat().st_mode & 0o777 == 0o600
    ring.path.chmod(0o644)
    with pytest.raises(AfinarError, match=r"readable by others \(mode 644\); run: chmod 600"):
        KeyringProvider(ring.path)


def test_memory_stays_bounded_whatever_the_file_size(tmp_path, ring):
    src = tmp_path / "big"
    with src.open("wb") as f:
        for _ in range(48):
            f.write(os.urandom(1 << 20))  # 48 MiB
    tracemalloc.start()
    crypto.encrypt_file(src, tmp_path / "big.afe", ring)
    total = sum(len(c) for c in crypto.decrypt_chunks(tmp_path / "big.afe", ring))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == 48 << 20
    assert peak < 8 << 20  # a few 1 MiB chunks in flight, not the 48 MiB file
