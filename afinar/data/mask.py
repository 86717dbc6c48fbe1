"""Replace the entities that :mod:`afinar.data.pii` finds, one operator per entity type.

Operators:

- ``redact``: ``[EMAIL]``, ``[IBAN]``...
- ``mask``: every letter and digit but the last four becomes ``*`` (``************1111``).
- ``hash``: ``[EMAIL:7c1f0a9d52e3]``, the first 12 hex digits of HMAC-SHA256(key, type + value).
  Keyed, not salted per call: the same value gets the same pseudonym across the whole dataset
  (and across datasets masked with the same key), so joins and repeated mentions survive, while
  nobody without the key can test a guess.
- ``surrogate``: a realistic fake of the same format, checksum-valid where the type has one
  (Luhn, mod-97, DNI letter), chosen by the same HMAC so a value always maps to the same fake.
  Training text stays natural. See :mod:`afinar.data.surrogate`.

The key comes from ``$AFINAR_PII_KEY``; without it a random key is made per process, so
pseudonyms are consistent within one run only (the report says which).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from afinar.data.pii import SECRET_TYPES, TYPES, Span, detect
from afinar.data.read import TABLES, Example, dataset_kind, read_rows, table_schema
from afinar.data.surrogate import surrogate
from afinar.errors import AfinarError
from afinar.security.crypto import write_data
from afinar.shards import DOCUMENTS, open_dataset, write_folder

__all__ = [
    "KEY_ENV",
    "OPERATORS",
    "MaskPolicy",
    "Masker",
    "load_policy",
    "map_strings",
    "mask_examples",
    "mask_file",
    "replace_spans",
]

OPERATORS = ("redact", "mask", "hash", "surrogate")
KEY_ENV = "AFINAR_PII_KEY"


@dataclass
class MaskPolicy:
    """Which operator each entity type gets. Secrets are redacted by default: a fake key that
    looks real teaches nothing useful and may trip secret scanners downstream."""

    default: str = "surrogate"
    secrets: str = "redact"
    operators: dict[str, str] = field(default_factory=dict)

    def operator(self, kind: str) -> str:
        if kind in self.operators:
            return self.operators[kind]
        return self.secrets if kind in SECRET_TYPES else self.default


def _check_operator(op: object, at: str) -> str:
    if op not in OPERATORS:
        raise AfinarError(f"{at}: operator {op!r} is not one of {', '.join(OPERATORS)}")
    return op


def load_policy(spec: str | Path | None) -> MaskPolicy:
    """A policy from an operator name (for every type) or a YAML file.

    The YAML file has ``default`` (operator for PII types), ``secrets`` (operator for secret
    types) and ``operators`` (type -> operator); every key is optional.

    Raises:
        AfinarError: unknown operator or type, or a file that is not such a mapping.
    """
    if spec is None:
        return MaskPolicy()
    if str(spec) in OPERATORS:
        return MaskPolicy(default=str(spec), secrets=str(spec))
    path = Path(spec)
    if not path.is_file():
        raise AfinarError(f"--policy {spec}: neither an operator ({', '.join(OPERATORS)}) nor a policy file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise AfinarError(f"{path}: not a YAML policy file ({err})") from None
    if not isinstance(raw, dict) or set(raw) - {"default", "secrets", "operators"}:
        raise AfinarError(f"{path}: a policy is a mapping with keys default, secrets, operators")
    ops = raw.get("operators") or {}
    if not isinstance(ops, dict):
        raise AfinarError(f"{path}: field 'operators' must map entity types to operators")
    for kind, op in ops.items():
        if kind not in TYPES:
            raise AfinarError(f"{path}: field 'operators.{kind}' is not an entity type; accepted: {', '.join(TYPES)}")
        _check_operator(op, f"{path}: field 'operators.{kind}'")
    return MaskPolicy(
        default=_check_operator(raw.get("default", "surrogate"), f"{path}: field 'default'"),
        secrets=_check_operator(raw.get("secrets", "redact"), f"{path}: field 'secrets'"),
        operators=dict(ops),
    )


def _normal(kind: str, value: str) -> str:
    """The form under which two writings of one value are the same value (for hash/surrogate)."""
    if kind in ("EMAIL", "PERSON"):
        return " ".join(value.lower().split())
    if kind in ("PHONE", "CREDIT_CARD", "IBAN", "ES_NIF", "ES_NIE", "ES_CIF", "US_SSN"):
        return re.sub(r"[^0-9A-Za-z]", "", value).upper()
    return value


class Masker:
    """Apply a :class:`MaskPolicy` to text; counts what it replaced, by type."""

    def __init__(self, policy: MaskPolicy | None = None, key: bytes | None = None):
        self.policy = policy or MaskPolicy()
        env = os.environ.get(KEY_ENV)
        self.key_source = "argument" if key else (KEY_ENV if env else "random, this run only")
        self.key = key or (env.encode() if env else secrets.token_bytes(32))
        self.counts: Counter[str] = Counter()
        self._memo: dict[tuple[str, str], str] = {}

    def digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self.key, f"{kind}\x00{_normal(kind, value)}".encode(), hashlib.sha256).digest()

    def replacement(self, kind: str, value: str) -> str:
        op = self.policy.operator(kind)
        if op == "redact":
            return f"[{kind}]"
        if op == "mask":
            keep = len(value) - 4
            return "".join("*" if i < keep and c.isalnum() else c for i, c in enumerate(value))
        memo = (kind, value)
        if memo not in self._memo:
            d = self.digest(kind, value)
            self._memo[memo] = f"[{kind}:{d.hex()[:12]}]" if op == "hash" else surrogate(kind, value, d)
        return self._memo[memo]

    def mask(self, text: str, spans: list[Span] | None = None) -> str:
        """``text`` with every entity (found now, or given as ``spans``) replaced."""
        spans = detect(text) if spans is None else spans
        for s in spans:
            self.counts[s.type] += 1
        return replace_spans(text, self.replacements(text, spans))

    def replacements(self, text: str, spans: list[Span]) -> list[tuple[int, int, str]]:
        """Each of ``spans`` as ``(start, end, what replaces text[start:end])``."""
        return [(s.start, s.end, self.replacement(s.type, text[s.start : s.end])) for s in spans]


def replace_spans(text: str, where: list[tuple[int, int, str]]) -> str:
    """``text`` with each ``text[start:end]`` of ``where`` (sorted, not overlapping) replaced."""
    out, pos = [], 0
    for start, end, replacement in where:
        out += [text[pos:start], replacement]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask_examples(examples: list[Example], masker: Masker) -> None:
    """Mask every turn of ``examples`` in place, and a pair's rejected answer (training reads the
    masked text)."""
    for ex in examples:
        ex.messages = [{**m, "content": masker.mask(m["content"])} for m in ex.messages]
        if ex.rejected is not None:
            ex.rejected = masker.mask(ex.rejected)


def map_strings(value, fn):
    """``value`` (parsed JSON) with ``fn`` applied to every string in it, depth first, keys kept."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_strings(v, fn) for k, v in value.items()}
    return value


def mask_file(src: str | Path, dst: str | Path, masker: Masker) -> int:
    """Write ``src`` (.jsonl, .csv, .parquet, .arrow, a .txt or .md document, or any of them
    encrypted as .afe) to ``dst`` with every string field masked (a document's text as text);
    returns the rows written. A dataset folder (Parquet shards, a
    saved ``datasets`` folder: :mod:`afinar.shards`) becomes a new folder of masked shards.

    Every row keeps its keys and its line order; only the text inside changes. The masked text is
    built in memory and written atomically (a bad row or Ctrl-C leaves no ``dst``); an encrypted
    input must have an encrypted output, so its plaintext never reaches the disk.

    Raises:
        AfinarError: unreadable input (named with its line), ``dst`` is ``src``, or a type mismatch.
    """
    src, dst = Path(src), Path(dst)
    if src.is_dir():
        return write_folder(src, dst, lambda shard, out: mask_file(shard, out, masker))
    if dataset_kind(dst) != dataset_kind(src):
        raise AfinarError(f"{dst}: the output must have the input's type ({dataset_kind(src)})")
    if src.suffix == ".afe" and dst.suffix != ".afe":
        raise AfinarError(f"{dst}: {src} is encrypted, so its masked copy must be too (name it {dst.name}.afe)")
    if dst.exists() and dst.resolve() == src.resolve():
        raise AfinarError(f"{dst}: refusing to overwrite the input; write the masked copy elsewhere")
    if dataset_kind(src) in TABLES:
        return _mask_table(src, dst, masker)
    if dataset_kind(src) in DOCUMENTS:  # one document: its text masked, as text
        (_, row), *_ = list(read_rows(src))
        if isinstance(row, AfinarError):
            raise row
        write_data(dst, masker.mask(row["text"]).encode("utf-8"))
        return 1
    out = io.StringIO(newline="")
    header = None
    if dataset_kind(src) == ".csv":
        with io.TextIOWrapper(open_dataset(src), encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), None)
    writer = csv.DictWriter(out, fieldnames=header) if header is not None else None
    if writer:
        writer.writeheader()
    rows = 0
    for _, row in read_rows(src):
        if isinstance(row, AfinarError):
            raise row
        masked = map_strings(row, masker.mask)
        if writer:
            writer.writerow(masked)
        else:
            out.write(json.dumps(masked, ensure_ascii=False) + "\n")
        rows += 1

    write_data(dst, out.getvalue().encode("utf-8"))
    return rows


def _mask_table(src: Path, dst: Path, masker: Masker) -> int:
    """:func:`mask_file` for Parquet and Arrow: the same columns and types (the input's schema),
    every string inside masked, written in the input's format (Arrow: its IPC file or stream)."""
    import pyarrow as pa  # Parquet and Arrow only: JSONL and CSV paths start without loading it
    import pyarrow.parquet as pq

    rows = []
    for _, row in read_rows(src):
        rows.append(map_strings(row, masker.mask))
    table = pa.Table.from_pylist(rows, schema=table_schema(src))
    out = pa.BufferOutputStream()
    if dataset_kind(src) == ".parquet":
        pq.write_table(table, out)
    else:
        with open_dataset(src) as f:
            stream = not f.read(6).startswith(b"ARROW1")  # the IPC stream format (datasets' shards)
        with (pa.ipc.new_stream if stream else pa.ipc.new_file)(out, table.schema) as writer:
            writer.write_table(table)
    write_data(dst, out.getvalue().to_pybytes())
    return len(rows)
