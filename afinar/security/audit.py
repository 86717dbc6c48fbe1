"""The tamper-evident audit log: an HMAC chain in append-only JSONL, with signed checkpoints.

Each line of ``$AFINAR_HOME/audit/log.jsonl`` is one record::

    {"seq": 7, "time": "2026-11-27T18:30:02.123456+00:00", "actor": "ana", "action": "train",
     "resource": "/data/train.jsonl.afe", "decision": "allow", "digests": {"...": "sha256"},
     "details": {...}, "prev": "<mac of record 6>", "mac": "<HMAC-SHA256>"}

``mac`` is HMAC-SHA256 under the audit key (``$AFINAR_HOME/keys/audit.key``, 0600) over the
record's canonical JSON without ``mac``; ``prev`` chains it to the record before. Editing a
field breaks that record's MAC; deleting, inserting or swapping records breaks ``seq`` and
``prev``. Deleting the newest records leaves a valid shorter chain, so ``checkpoint`` signs
(Ed25519, a second key) the chain head and record count into a separate file
(``$AFINAR_AUDIT_CHECKPOINTS``, default ``$AFINAR_HOME/audit/checkpoints.jsonl``; point it at
storage the log's writers cannot rewrite). ``verify`` replays the chain and every checkpoint.

Several servers behind one load balancer (replicas) each keep a chain of their own: a process
with ``$AFINAR_REPLICA`` set (``afinar serve --replica ID``) writes ``log.ID.jsonl``, every
record carrying ``"replica": "ID"`` under its MAC, and checkpoints to ``checkpoints.ID.jsonl``.
:func:`verify_all` replays every chain in the audit folder (copied there from the replicas'
machines, or on storage they share) and names the replica and record of any problem;
:func:`all_records` reads them all, in time order.

Records hold digests, never raw data: dataset and adapter sha256, prompt digests, masked text.
A record is bounded: a string in ``details`` over ``MAX_TEXT`` characters keeps an excerpt, its
length and its sha256; ``details`` whose JSON is still over ``MAX_DETAILS`` bytes is replaced by
its size, digest and an excerpt. One huge request can then neither bloat the log nor hide the
record before it. Writers take an exclusive ``flock`` for read-last-record + append + fsync, so
concurrent processes never fork or interleave the chain.
"""

from __future__ import annotations

import base64
import fcntl
import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from afinar.errors import AfinarError
from afinar.security.keys import afinar_home

__all__ = ["AuditLog", "Verification", "all_records", "audit_log", "chains", "local_actor", "verify_all"]

GENESIS = "0" * 64
MAX_TEXT = 4096
"""Characters of one string in ``details`` kept whole; a longer one keeps its first ``EXCERPT``."""
EXCERPT = 1024
MAX_DETAILS = 65536
"""Bytes of ``details`` (canonical JSON, after ``MAX_TEXT``) kept whole."""
_BLOCK = 65536
REPLICA = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
"""What a replica id may be (it names files: no dots, no slashes)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bounded_text(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    digest = _sha256(text.encode("utf-8", "surrogatepass"))
    return f"{text[:EXCERPT]}... [cut by the audit log: {len(text)} characters, sha256 {digest}]"


def _bounded(value):
    """``value`` with every string over ``MAX_TEXT`` characters cut to an excerpt and its digest."""
    if isinstance(value, str):
        return _bounded_text(value)
    if isinstance(value, dict):
        return {_bounded_text(str(k)): _bounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value]
    return value


def _bounded_details(details: dict) -> dict:
    """What a record keeps of ``details``: long strings cut (:func:`_bounded`), and the whole
    replaced by its size, sha256 and an excerpt when its JSON is still over ``MAX_DETAILS``."""
    kept = _bounded(details)
    raw = _canonical(kept)
    if len(raw) <= MAX_DETAILS:
        return kept
    return {
        "cut_by_audit_log": True,
        "bytes": len(raw),
        "sha256": _sha256(raw),
        "excerpt": raw[:EXCERPT].decode("utf-8", "ignore"),
    }


def local_actor() -> str:
    """The actor in single-user local mode: the OS user."""
    try:
        return f"local:{getpass.getuser()}"
    except (KeyError, OSError):
        return "local:unknown"


def _canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _secret_file(path: Path, make) -> bytes:
    """Read a 0600 key file, creating it if absent: written whole to a private temporary file
    (mode 0600 from the start), then linked into place, which fails if another process got
    there first. A concurrent reader sees no file or the whole key, never a half-written one
    (creating the key file itself and then writing let a second writer read an empty key and MAC
    its records with it)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(make())
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: its key is the one
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()


@dataclass
class Verification:
    ok: bool
    records: int
    checkpoints: int
    problems: list[str] = field(default_factory=list)
    first_bad: int | None = None
    """1-based line of the first bad record, if any."""
    chains: int = 1


def _of_replica(path: Path, replica: str | None) -> Path:
    """``log.jsonl`` -> ``log.ID.jsonl`` for replica ``ID``."""
    return path if replica is None else path.with_name(f"{path.stem}.{replica}{path.suffix}")


class AuditLog:
    def __init__(self, home: Path | None = None, checkpoints: Path | None = None, replica: str | None = None):
        """The chain of ``home`` (``replica``'s own, when given).

        Raises:
            AfinarError: a replica id that is not letters, digits, ``_`` and ``-`` (64 at most).
        """
        home = Path(home or afinar_home())
        if replica is not None and not REPLICA.match(replica):
            raise AfinarError(f"replica id '{replica}': accepted: letters, digits, '_' and '-', 64 at most")
        self.replica = replica
        self.path = _of_replica(home / "audit" / "log.jsonl", replica)
        env = os.environ.get("AFINAR_AUDIT_CHECKPOINTS")
        self.checkpoints = _of_replica(Path(checkpoints or env or home / "audit" / "checkpoints.jsonl"), replica)
        self.key_path = home / "keys" / "audit.key"
        self.signing_path = home / "keys" / "audit-signing.key"
        self.public_path = home / "keys" / "audit-signing.pub"

    # ---------------------------------------------------------------- keys

    def _key(self) -> bytes:
        return _secret_file(self.key_path, lambda: secrets.token_bytes(32))

    def _signer(self) -> Ed25519PrivateKey:
        raw = _secret_file(
            self.signing_path,
            lambda: Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            ),
        )
        key = Ed25519PrivateKey.from_private_bytes(raw)
        if not self.public_path.exists():
            pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.public_path.write_text(base64.b64encode(pub).decode() + "\n")
        return key

    # ---------------------------------------------------------------- writing

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _last(self) -> tuple[int, str]:
        """``(seq, mac)`` of the newest record, or ``(0, GENESIS)`` for an empty log."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return 0, GENESIS
        with self.path.open("rb") as f:
            last = _last_line(f, self.path.stat().st_size)
        try:
            rec = json.loads(last)
            return int(rec["seq"]), str(rec["mac"])
        except (ValueError, KeyError, TypeError):
            raise AfinarError(f"{self.path}: the last record is damaged; run 'afinar audit verify'") from None

    def append(
        self,
        action: str,
        resource: str,
        decision: str,
        actor: str | None = None,
        digests: dict | None = None,
        details: dict | None = None,
    ) -> dict:
        """Append one record (under the file lock) and return it."""
        key = self._key()
        with self._locked():
            seq, prev = self._last()
            record = {
                "seq": seq + 1,
                "time": datetime.now(UTC).isoformat(),
                "actor": actor or local_actor(),
                "action": action,
                "resource": resource,
                "decision": decision,
                "digests": digests or {},
                "details": _bounded_details(details or {}),
                "prev": prev,
            }
            if self.replica is not None:
                record["replica"] = self.replica
            record["mac"] = hmac.new(key, _canonical(record), hashlib.sha256).hexdigest()
            with self.path.open("ab") as f:
                f.write(_canonical(record) + b"\n")
                f.flush()
                os.fsync(f.fileno())
        return record

    def checkpoint(self) -> dict:
        """Sign ``(count, head mac, time)`` with the Ed25519 key into the checkpoints file."""
        signer = self._signer()
        with self._locked():
            count, head = self._last()
            body = {"count": count, "head": head, "time": datetime.now(UTC).isoformat()}
            body["signature"] = base64.b64encode(signer.sign(_canonical(body))).decode()
            self.checkpoints.parent.mkdir(parents=True, exist_ok=True)
            with self.checkpoints.open("a") as f:
                f.write(json.dumps(body) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return body

    # ---------------------------------------------------------------- reading

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").split("\n") if x.strip()]

    def verify(self) -> Verification:
        """Replay the chain and every checkpoint; name the first bad record and what is wrong."""
        if not self.path.exists():
            return Verification(True, 0, 0)
        if not self.key_path.exists():
            return Verification(False, 0, 0, [f"{self.key_path}: the audit key is missing"])
        key = self.key_path.read_bytes()
        lines = [x for x in self.path.read_text(encoding="utf-8").split("\n") if x]
        found: list[tuple[int, str]] = []  # (line, problem) for every bad line
        macs: list[str] = []
        good_macs = 0
        seqs = Counter(_seq_of(line) for line in lines)
        last_seq, prev = 0, GENESIS
        for n, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                body = {k: v for k, v in rec.items() if k != "mac"}
                mac_ok = hmac.compare_digest(hmac.new(key, _canonical(body), hashlib.sha256).hexdigest(), rec["mac"])
                seq = int(rec["seq"])
            except (ValueError, KeyError, TypeError):
                found.append((n, f"line {n}: not a valid record (damaged or hand-edited)"))
                macs.append("")
                continue
            good_macs += mac_ok
            macs.append(rec["mac"])
            missing = range(last_seq + 1, seq)
            if not mac_ok:
                kind = f"inserted (a second record with seq {seq})" if seqs[seq] > 1 else "a field was edited"
                found.append((n, f"line {n} (seq {seq}): {kind}; its MAC does not match"))
            elif seq <= last_seq or (missing and any(seqs[m] for m in missing)):
                found.append((n, f"line {n} (seq {seq}): out of order after seq {last_seq} (records swapped or moved)"))
            elif missing:
                found.append((n, f"line {n}: record(s) seq {last_seq + 1}..{seq - 1} were deleted before seq {seq}"))
            elif rec["prev"] != prev:
                found.append((n, f"line {n} (seq {seq}): does not chain to the record before it (inserted)"))
            elif rec.get("replica") != self.replica:
                found.append((n, f"line {n} (seq {seq}): a record of replica {rec.get('replica')} in this chain"))
            last_seq, prev = seq, rec["mac"]
        problems = []
        if found:
            more = f" (and {len(found) - 1} later line(s) affected)" if len(found) > 1 else ""
            problems.append(found[0][1] + more)
        first_bad = found[0][0] if found else None
        if lines and good_macs == 0:
            problems = [f"{self.key_path}: wrong audit key: no record's MAC matches it"]
            first_bad = 1
        checkpoints = self._verify_checkpoints(macs, problems)
        return Verification(not problems, len(lines), checkpoints, problems, first_bad)

    def _verify_checkpoints(self, macs: list[str], problems: list[str]) -> int:
        if not self.checkpoints.exists():
            return 0
        if not self.public_path.exists():
            problems.append(f"{self.public_path}: the checkpoint public key is missing")
            return 0
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.public_path.read_text()))
        entries = [json.loads(x) for x in self.checkpoints.read_text().splitlines() if x.strip()]
        for i, cp in enumerate(entries, 1):
            body = {k: cp[k] for k in ("count", "head", "time")}
            try:
                public.verify(base64.b64decode(cp["signature"]), _canonical(body))
            except (InvalidSignature, KeyError, ValueError):
                problems.append(f"{self.checkpoints}: checkpoint {i} has a bad signature")
                continue
            count = cp["count"]
            if count > len(macs):
                problems.append(
                    f"the log was truncated: checkpoint {i} ({cp['time']}) signed {count} records, "
                    f"the log has {len(macs)}"
                )
            elif count and macs[count - 1] != cp["head"]:
                problems.append(f"record {count} differs from the one signed by checkpoint {i} ({cp['time']})")
        return len(entries)


def _last_line(f, size: int) -> bytes:
    """The last non-empty line of the binary file ``f`` of ``size`` bytes, read backwards in blocks
    until a newline before it shows where it starts: any length of record, no whole-file read."""
    end, tail = size, b""
    while end > 0:
        start = max(0, end - _BLOCK)
        f.seek(start)
        tail = f.read(end - start) + tail
        end = start
        body = tail.rstrip(b"\n")
        if b"\n" in body:
            return body.rsplit(b"\n", 1)[-1]
    return tail.rstrip(b"\n")


def _seq_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["seq"])
    except (ValueError, KeyError, TypeError):
        return None


def audit_log() -> AuditLog:
    """This process's chain: its replica's (``$AFINAR_REPLICA``), or the one chain."""
    return AuditLog(replica=os.environ.get("AFINAR_REPLICA") or None)


def chains(home: Path | None = None) -> list[AuditLog]:
    """Every chain in the audit folder: the one chain, then each replica's by id."""
    home = Path(home or afinar_home())
    replicas = sorted(p.name[len("log.") : -len(".jsonl")] for p in (home / "audit").glob("log.*.jsonl"))
    return [AuditLog(home), *(AuditLog(home, replica=r) for r in replicas if REPLICA.match(r))]


def verify_all(home: Path | None = None) -> Verification:
    """:meth:`AuditLog.verify` on every chain; a replica's problems are prefixed with its id."""
    problems, records, checkpoints, first_bad = [], 0, 0, None
    logs = chains(home)
    for log in logs:
        result = log.verify()
        problems += [f"replica {log.replica}: {p}" if log.replica else p for p in result.problems]
        records, checkpoints = records + result.records, checkpoints + result.checkpoints
        first_bad = first_bad if first_bad is not None else result.first_bad
    present = sum(log.path.exists() for log in logs)
    return Verification(not problems, records, checkpoints, problems, first_bad, max(present, 1))


def all_records(home: Path | None = None) -> list[dict]:
    """The records of every chain, oldest first."""
    return sorted((r for log in chains(home) for r in log.records()), key=lambda r: r["time"])
