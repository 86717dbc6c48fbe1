"""Read dataset files into conversations.

Accepted row forms (one JSON object per JSONL line, or one CSV row with these columns):

- alpaca: ``instruction`` (str), optional ``input`` (str), ``output`` (str)
- chat: ``messages``: list of ``{"role": "system"|"user"|"assistant", "content": str}``;
  an optional system turn first, then user and assistant alternating, at least one assistant
- completion: ``prompt`` (str), ``completion`` (str)

Files may be encrypted (``train.jsonl.afe``, see :mod:`afinar.security.crypto`): they are
decrypted in memory as they are read; no plaintext byte reaches the disk.

Every form may carry ``scenario`` (``normal`` | ``exception`` | ``user_error``). Every problem is
reported with the file, the line and the field, before any output is written.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from afinar.errors import AfinarError, where

__all__ = [
    "FORMATS",
    "METRICS",
    "SCENARIOS",
    "Example",
    "dataset_kind",
    "open_dataset",
    "read_dataset",
    "read_rows",
    "scan_dataset",
    "split_eval",
    "with_system_prompt",
]

FORMATS = ("alpaca", "chat", "completion")
SCENARIOS = ("normal", "exception", "user_error")
ROLES = ("system", "user", "assistant")
_KEYS = {
    "alpaca": ({"instruction", "output"}, {"input"}),
    "chat": ({"messages"}, set()),
    "completion": ({"prompt", "completion"}, set()),
}
_COMMON = {"scenario", "id", "metric"}
METRICS = ("json", "exact", "rouge_l", "sql", "shell", "bash", "powershell", "clarify", "finance", "apidoc")
"""What a row's optional ``metric`` field may name (how its answer is scored; see afinar/eval)."""


@dataclass
class Example:
    """One training conversation. ``source`` is ``file:line`` for error messages."""

    messages: list[dict[str, str]]
    source: str
    scenario: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _detect(row: dict[str, Any]) -> str | None:
    if "messages" in row:
        return "chat"
    if "instruction" in row or "output" in row:
        return "alpaca"
    if "prompt" in row or "completion" in row:
        return "completion"
    return None


def _text(row: dict[str, Any], key: str, at: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        kind = "missing" if value is None else f"a {type(value).__name__}, not a string"
        raise AfinarError(f"{at}: field '{key}' is {kind}")
    if required and not value.strip():
        raise AfinarError(f"{at}: field '{key}' is empty")
    return value


def _chat(row: dict[str, Any], at: str) -> list[dict[str, str]]:
    msgs = row["messages"]
    if not isinstance(msgs, list) or not msgs:
        raise AfinarError(f"{at}: field 'messages' must be a non-empty list of {{role, content}}")
    out = []
    for i, m in enumerate(msgs):
        f = f"messages[{i}]"
        if not isinstance(m, dict) or set(m) - {"role", "content"}:
            raise AfinarError(f"{at}: field '{f}' must be an object with keys 'role' and 'content'")
        role = m.get("role")
        if role not in ROLES:
            raise AfinarError(f"{at}: field '{f}.role' is {role!r}; accepted: {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise AfinarError(f"{at}: field '{f}.content' must be a string")
        out.append({"role": role, "content": content})
    turns = out[1:] if out[0]["role"] == "system" else out
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            pos = i + len(out) - len(turns)
            raise AfinarError(
                f"{at}: field 'messages[{pos}].role' is '{m['role']}' where '{expected}' is "
                "expected (optional system first, then user and assistant alternating)"
            )
    if not any(m["role"] == "assistant" and m["content"].strip() for m in out):
        raise AfinarError(f"{at}: field 'messages' has no assistant turn with content to learn from")
    return out


def _to_example(row: Any, fmt: str, at: str) -> Example:
    if not isinstance(row, dict):
        raise AfinarError(f"{at}: each row must be a JSON object, got {type(row).__name__}")
    kind = _detect(row) if fmt == "auto" else fmt
    if kind is None:
        raise AfinarError(
            f"{at}: cannot tell the row's form from its keys {sorted(row)}; accepted: "
            "instruction/input/output (alpaca), messages (chat), prompt/completion"
        )
    required, optional = _KEYS[kind]
    unknown = set(row) - required - optional - _COMMON
    if unknown:
        allowed = ", ".join(sorted(required | optional | _COMMON))
        raise AfinarError(f"{at}: unknown field(s) {sorted(unknown)} for {kind} rows; allowed: {allowed}")
    if kind == "chat":
        messages = _chat(row, at)
    elif kind == "alpaca":
        user = _text(row, "instruction", at)
        extra = _text(row, "input", at, required=False)
        user = f"{user}\n\n{extra}" if extra.strip() else user
        messages = [{"role": "user", "content": user}, {"role": "assistant", "content": _text(row, "output", at)}]
    else:
        messages = [
            {"role": "user", "content": _text(row, "prompt", at)},
            {"role": "assistant", "content": _text(row, "completion", at)},
        ]
    scenario = row.get("scenario")
    if scenario is not None and scenario not in SCENARIOS:
        raise AfinarError(f"{at}: field 'scenario' is {scenario!r}; accepted: {', '.join(SCENARIOS)}")
    meta = {"id": row["id"]} if "id" in row else {}
    if "metric" in row:
        if row["metric"] not in METRICS:
            raise AfinarError(f"{at}: field 'metric' is {row['metric']!r}; accepted: {', '.join(METRICS)}")
        meta["metric"] = row["metric"]
    return Example(messages=messages, source=at, scenario=scenario, meta=meta)


MAX_LINE_BYTES = 32 * 2**20
"""A longer line is not a training row (a 2 GB line would otherwise be read whole into memory)."""


def dataset_kind(path: Path) -> str:
    """The row format of ``path``: its suffix, or the one before ``.afe`` for encrypted files."""
    return Path(path.stem).suffix if path.suffix == ".afe" else path.suffix


def open_dataset(path: Path) -> BinaryIO:
    """The file's bytes; an encrypted ``.afe`` file is decrypted in memory, never to disk."""
    if path.suffix == ".afe":
        from afinar.security.crypto import open_decrypted

        return open_decrypted(path)
    return path.open("rb")


def _check_text(path: Path) -> None:
    """Refuse binary files (a NUL byte in the first 64 KiB) before parsing anything."""
    with open_dataset(path) as f:
        head = f.read(65536)
    if b"\0" in head:
        kind = dataset_kind(path)
        raise AfinarError(f"{path}: a binary file (NUL bytes), not {kind} text; accepted: UTF-8 .jsonl or .csv")


def _jsonl_rows(path: Path):
    with open_dataset(path) as f:
        n = 0
        while line := f.readline(MAX_LINE_BYTES + 1):
            n += 1
            if len(line) > MAX_LINE_BYTES:
                raise AfinarError(f"{where(path, n)}: line longer than {MAX_LINE_BYTES >> 20} MiB; not a dataset row")
            if b"\0" in line:
                raise AfinarError(f"{where(path, n)}: NUL bytes: this is a binary file, not JSONL text")
            try:
                text = line.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as err:
                yield (
                    n,
                    AfinarError(
                        f"{where(path, n)}: not UTF-8 text (byte 0x{line[err.start]:02x} at byte {err.start + 1}); "
                        "re-save the file as UTF-8"
                    ),
                )
                continue
            if not text.strip():
                continue
            try:
                yield n, json.loads(text)
            except json.JSONDecodeError as err:
                yield n, AfinarError(f"{where(path, n)}: not valid JSON ({err.msg} at column {err.colno})")


def _csv_rows(path: Path):
    csv.field_size_limit(MAX_LINE_BYTES)
    with io.TextIOWrapper(open_dataset(path), encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        try:
            for row in reader:
                yield reader.line_num, {k: v for k, v in row.items() if v not in (None, "") or k == "input"}
        except UnicodeDecodeError as err:
            raise AfinarError(
                f"{where(path, reader.line_num + 1)}: not UTF-8 text (byte 0x{err.object[err.start]:02x}); "
                "re-save the file as UTF-8"
            ) from None
        except csv.Error as err:
            raise AfinarError(f"{where(path, reader.line_num)}: not valid CSV ({err})") from None


def read_rows(path: Path):
    """Yield ``(line, row)`` for each row of a .jsonl or .csv file; ``row`` is a parsed object, or
    an :class:`AfinarError` for a line that cannot be parsed (so a lint can go on to the next).

    Raises:
        AfinarError: missing file, unsupported type, binary content, or a line over MAX_LINE_BYTES.
    """
    path = Path(path)
    if not path.is_file():
        raise AfinarError(f"{path}: dataset file not found")
    if dataset_kind(path) not in (".jsonl", ".csv"):
        raise AfinarError(
            f"{path}: unsupported dataset type '{path.suffix}'; "
            "accepted: .jsonl, .csv (encrypted: .jsonl.afe, .csv.afe)"
        )
    _check_text(path)
    yield from (_jsonl_rows(path) if dataset_kind(path) == ".jsonl" else _csv_rows(path))


def scan_dataset(
    path: str | Path, fmt: str = "auto", system_prompt: str | None = None
) -> tuple[list[Example], list[str]]:
    """Parse every row of ``path``; rows that fail are skipped and their messages returned.

    Returns ``(examples, errors)``; each error names the file, the line and the field.
    """
    examples, errors = [], []
    for n, row in read_rows(path):
        try:
            if isinstance(row, AfinarError):
                raise row
            ex = _to_example(row, fmt, where(path, n))
        except AfinarError as err:
            errors.append(str(err))
            continue
        ex.messages = with_system_prompt(ex.messages, system_prompt)
        examples.append(ex)
    return examples, errors


def read_dataset(path: str | Path, fmt: str = "auto", system_prompt: str | None = None) -> list[Example]:
    """Parse every row of ``path`` into an :class:`Example`.

    Args:
        fmt: ``auto`` (per row, from its keys) or one of :data:`FORMATS`.
        system_prompt: added as the first turn of rows that have no system turn.

    Raises:
        AfinarError: a bad file, a malformed row (file:line and field), or no rows at all.
    """
    examples, errors = scan_dataset(path, fmt, system_prompt)
    if errors:
        more = f"\n  (and {len(errors) - 1} more; 'afinar data check {path}' lists them all)" if len(errors) > 1 else ""
        raise AfinarError(errors[0] + more)
    if not examples:
        raise AfinarError(f"{path}: the dataset is empty (no rows)")
    return examples


def with_system_prompt(messages: list[dict[str, str]], system_prompt: str | None) -> list[dict[str, str]]:
    """``messages`` with ``system_prompt`` as first turn, unless it is None or a system turn exists."""
    if not system_prompt or messages[0]["role"] == "system":
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]


def split_eval(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Split off a seeded ``fraction`` of examples as the eval set (at least one row each side)."""
    if fraction <= 0:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_eval = max(1, round(len(examples) * fraction))
    if n_eval >= len(examples):
        raise AfinarError(f"cannot split {len(examples)} row(s) into train and eval; add rows or an eval file")
    held = set(order[:n_eval])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]
