"""Read dataset files into conversations.

Files: JSONL (one JSON object per line), CSV (one row per line, a header naming the columns),
Parquet and Arrow (IPC file or stream, as ``pyarrow`` writes them); Parquet and plain Arrow
files are read a record batch at a time. Any of them may be encrypted (``train.jsonl.afe``,
``train.parquet.afe``, see :mod:`afinar.security.crypto`): they are decrypted in memory as they
are read; no plaintext byte reaches the disk. A dataset may also be a folder of such files: Parquet
shards, or a Hugging Face ``datasets`` folder written by ``save_to_disk`` (:mod:`afinar.shards`);
errors then name the shard.

Accepted row forms (the fields of a JSON object, or the columns of a table):

- alpaca: ``instruction`` (str), optional ``input`` (str), ``output`` (str)
- chat (OpenAI's fine-tuning format): ``messages``: list of ``{"role":
  "system"|"user"|"assistant", "content": str}``; an optional system turn first, then user and
  assistant alternating, at least one assistant turn. An assistant turn may carry ``"weight"``:
  ``1`` (the default) or ``0``, which keeps the turn as context and out of the loss. With
  ``tools`` (OpenAI function tools), an assistant turn may carry ``tool_calls`` and be followed by
  one ``tool`` turn per call (``tool_call_id``, ``content``): written as text turns in the afinar
  tool format (:mod:`afinar.data.tools`), the tools offered at the end of the system turn
- sharegpt: ``conversations``: list of ``{"from": "system"|"human"|"gpt", "value": str}``
  (``user`` and ``assistant`` are read as ``human`` and ``gpt``), the same turn order as chat,
  ``weight`` as chat
- completion: ``prompt`` (str), ``completion`` (str)
- text (a document, for continued pretraining: ``data.format: text``): ``text`` (str); a ``.txt``
  or ``.md`` file is one such row, the whole file

``data.columns`` in a recipe renames a table's columns to these fields (``{instruction:
question}``: the field ``instruction`` is read from the column ``question``).

Every form may carry ``scenario`` (``normal`` | ``exception`` | ``user_error``). Every problem is
reported with the file, the line (for Parquet and Arrow, the row) and the field, before any
output is written.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from afinar.data.documents import document_rows
from afinar.data.tools import as_text, check_calls, check_tools, with_tools
from afinar.errors import AfinarError, where
from afinar.names import FIELDS, METRICS, ROW_COMMON, ROW_KEYS
from afinar.shards import ACCEPTED, DOCUMENTS, KINDS, dataset_files, dataset_kind, open_dataset

__all__ = [
    "FIELDS",
    "FORMATS",
    "SCENARIOS",
    "Example",
    "dataset_kind",
    "location",
    "open_dataset",
    "read_dataset",
    "read_rows",
    "scan_dataset",
    "split_eval",
    "table_schema",
    "with_columns",
    "with_system_prompt",
]

FORMATS = ("alpaca", "chat", "sharegpt", "completion", "preference", "labeled", "text")
DOCUMENT = "document"
"""The one turn's role of a document row (``text``): all of it is trained on, no chat template."""
SCENARIOS = ("normal", "exception", "user_error")
ROLES = ("system", "user", "assistant")
"""What a row's optional ``metric`` field may name (how its answer is scored; see afinar/eval)."""


@dataclass
class Example:
    """One training conversation. ``source`` is ``file:line`` for error messages. A preference
    pair (``prompt``/``chosen``/``rejected``) is the conversation ending in the chosen answer,
    with the rejected answer to the same turns in ``rejected``; a labeled answer
    (``prompt``/``completion``/``label``, for KTO) has ``label``: whether the answer is desirable."""

    messages: list[dict[str, str]]
    source: str
    scenario: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    rejected: str | None = None
    label: bool | None = None
    tools: list[dict] | None = None
    """A tool-calling row's ``tools``: offered in its system turn by :func:`scan_dataset`."""

    @property
    def document(self) -> str | None:
        """A document row's text (``data.format: text``); None for a conversation."""
        return self.messages[0]["content"] if self.messages[0]["role"] == DOCUMENT else None

    def rejected_side(self) -> Example:
        """The pair's conversation ending in the rejected answer instead."""
        return Example([*self.messages[:-1], {"role": "assistant", "content": self.rejected or ""}], self.source)


SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant"}
"""ShareGPT's ``from`` values and the chat roles they are read as."""
TABLES = (".parquet", ".arrow")
"""Columnar file types: read a record batch at a time; errors name the row, not a line."""


def _detect(row: dict[str, Any]) -> str | None:
    if "chosen" in row or "rejected" in row:
        return "preference"
    if "label" in row:
        return "labeled"
    if "messages" in row:
        return "chat"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row or "output" in row:
        return "alpaca"
    if "prompt" in row or "completion" in row:
        return "completion"
    if "text" in row:
        return "text"
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


def _turns(row: dict[str, Any], at: str, kind: str, tools: list[dict] | None = None) -> list[dict[str, Any]]:
    """The row's turns as ``{role, content}`` (plus ``weight: 0`` on an assistant turn kept out of
    the loss), from chat's ``messages`` or ShareGPT's ``conversations``. A chat row with ``tools``
    may have assistant turns with ``tool_calls`` and ``tool`` turns with their results: they
    become text turns in the afinar tool format (:mod:`afinar.data.tools`)."""
    key, role_key, text_key = ("messages", "role", "content") if kind == "chat" else ("conversations", "from", "value")
    accepted = (*ROLES, "tool") if tools else ROLES if kind == "chat" else tuple(SHAREGPT_ROLES)
    keys = {role_key, text_key, "weight"} | ({"tool_calls", "tool_call_id", "name"} if kind == "chat" else set())
    msgs = row[key]
    if not isinstance(msgs, list) or not msgs:
        raise AfinarError(f"{at}: field '{key}' must be a non-empty list of {{{role_key}, {text_key}}}")
    out, said = [], []  # the turns, and each turn's role as the file wrote it
    for i, m in enumerate(msgs):
        f = f"{key}[{i}]"
        if not isinstance(m, dict) or set(m) - keys:
            also = ", 'tool_calls' on an assistant turn, 'tool_call_id' on a tool turn" if kind == "chat" else ""
            raise AfinarError(f"{at}: field '{f}' must be an object with keys '{role_key}' and '{text_key}' "
                              f"(and 'weight' on an assistant turn{also})")  # fmt: skip
        role = m.get(role_key)
        if role not in accepted:
            hint = "; a 'tool' turn needs the row's 'tools'" if role == "tool" else ""
            raise AfinarError(f"{at}: field '{f}.{role_key}' is {role!r}; accepted: {', '.join(accepted)}{hint}")
        said.append(role)
        role = role if kind == "chat" else SHAREGPT_ROLES[role]
        content = m.get(text_key)
        if content is None and "tool_calls" in m:
            content = ""
        if not isinstance(content, str):
            raise AfinarError(f"{at}: field '{f}.{text_key}' must be a string")
        turn: dict[str, Any] = {"role": role, "content": content}
        if "weight" in m:
            weight = m["weight"]
            if role != "assistant" or isinstance(weight, bool) or weight not in (0, 1):
                where_ok = "an assistant turn" if role != "assistant" else "0 or 1"
                raise AfinarError(f"{at}: field '{f}.weight' is {weight!r}; accepted: {where_ok}")
            if weight == 0:
                turn["weight"] = 0
        if "tool_calls" in m:
            if role != "assistant":
                raise AfinarError(f"{at}: field '{f}.tool_calls' is only accepted on an assistant turn")
            turn["ids"], turn["calls"] = check_calls(m["tool_calls"], tools, at, f"{f}.tool_calls")
        if role == "tool":
            if not isinstance(m.get("tool_call_id"), str):
                raise AfinarError(f"{at}: field '{f}.tool_call_id' must name the call this result answers")
            turn["id"] = m["tool_call_id"]
        elif "tool_call_id" in m:
            raise AfinarError(f"{at}: field '{f}.tool_call_id' is only accepted on a tool turn")
        out.append(turn)
    first = 1 if out[0]["role"] == "system" else 0
    _check_order(out, first, said, at, key, role_key, kind)
    if not any(m["role"] == "assistant" and (m["content"].strip() or "calls" in m) and m.get("weight", 1) for m in out):
        raise AfinarError(f"{at}: field '{key}' has no assistant turn with content to learn from (weight 1)")
    return as_text(out)


def _check_order(turns: list[dict], first: int, said: list[str], at: str, key: str, role_key: str, kind: str) -> None:
    """Optional system first, then user and assistant alternating; an assistant turn with tool
    calls is followed by one tool turn per call (any order), then an assistant turn."""
    pending: list[str] = []  # call ids not yet answered
    expected = "user"
    for pos in range(first, len(turns)):
        m = turns[pos]
        if m["role"] != expected:
            name = expected if kind == "chat" else {"user": "human", "assistant": "gpt"}[expected]
            rule = "optional system first, then user and assistant alternating"
            if pending or any("calls" in t for t in turns):
                rule += "; after an assistant turn's tool_calls, one tool turn per call, then the assistant"
            raise AfinarError(
                f"{at}: field '{key}[{pos}].{role_key}' is '{said[pos]}' where '{name}' is expected ({rule})"
            )
        if m["role"] == "tool":
            if m["id"] not in pending:
                raise AfinarError(
                    f"{at}: field '{key}[{pos}].tool_call_id' is {m['id']!r}, which is no unanswered call of the "
                    f"assistant turn before; unanswered: {', '.join(pending) or 'none'}"
                )
            pending.remove(m["id"])
            expected = "tool" if pending else "assistant"
        elif m["role"] == "assistant" and m.get("calls"):
            pending, expected = list(m["ids"]), "tool"
        else:
            expected = "assistant" if m["role"] == "user" else "user"
    if pending and turns[-1]["role"] == "tool":
        raise AfinarError(f"{at}: field '{key}' ends before the results of call(s) {', '.join(pending)}")


def _answer(row: dict[str, Any], key: str, at: str) -> str:
    """A preference side: a string, or a list of one assistant message (the conversational form)."""
    value = row.get(key)
    if isinstance(value, list):
        one = value[0] if len(value) == 1 and isinstance(value[0], dict) else {}
        if one.get("role") != "assistant" or not isinstance(one.get("content"), str):
            raise AfinarError(
                f"{at}: field '{key}' must be a string or a list of one assistant message {{role, content}}"
            )
        row = {key: one["content"]}
    return _text(row, key, at)


def _label(row: dict[str, Any], at: str) -> bool:
    """A labeled answer's ``label``: a JSON boolean, or (CSV) true/false/1/0."""
    value = row.get("label")
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise AfinarError(f"{at}: field 'label' is {value!r}; accepted: true (a desirable answer) or false")


def _prompt_turns(row: dict[str, Any], at: str) -> list[dict[str, Any]]:
    """``prompt`` as turns: text (one user turn) or chat turns ending with the user's; earlier
    assistant turns are context (weight 0): only the answer after them is judged."""
    prompt = row.get("prompt")
    if isinstance(prompt, list):  # chat turns ending with the user's
        try:
            turns = _turns({"messages": [*prompt, {"role": "assistant", "content": "-"}]}, at, "chat")[:-1]
        except AfinarError as err:
            raise AfinarError(str(err).replace("field 'messages", "field 'prompt")) from None
    else:
        turns = [{"role": "user", "content": _text(row, "prompt", at)}]
    return [{**t, "weight": 0} if t["role"] == "assistant" else t for t in turns]


def _preference(row: dict[str, Any], at: str) -> tuple[list[dict[str, Any]], str]:
    """A pair's turns up to and with the chosen answer, and the rejected answer."""
    turns = _prompt_turns(row, at)
    chosen, rejected = _answer(row, "chosen", at), _answer(row, "rejected", at)
    if chosen == rejected:
        raise AfinarError(f"{at}: fields 'chosen' and 'rejected' are the same answer; a pair needs two different ones")
    if " ".join(chosen.split()) == " ".join(rejected.split()):
        raise AfinarError(
            f"{at}: fields 'chosen' and 'rejected' differ only in whitespace; a pair needs two different answers"
        )
    return [*turns, {"role": "assistant", "content": chosen}], rejected


def _to_example(row: Any, fmt: str, at: str) -> Example:
    if not isinstance(row, dict):
        raise AfinarError(f"{at}: each row must be a JSON object, got {type(row).__name__}")
    kind = _detect(row) if fmt == "auto" else fmt
    if kind is None:
        raise AfinarError(
            f"{at}: cannot tell the row's form from its keys {sorted(row)}; accepted: "
            "instruction/input/output (alpaca), messages (chat), conversations (sharegpt), prompt/completion, "
            "prompt/chosen/rejected (preference pairs), prompt/completion/label (labeled answers), text (documents)"
        )
    required, optional = ROW_KEYS[kind]
    unknown = set(row) - required - optional - ROW_COMMON
    if unknown:
        allowed = ", ".join(sorted(required | optional | ROW_COMMON))
        raise AfinarError(f"{at}: unknown field(s) {sorted(unknown)} for {kind} rows; allowed: {allowed}")
    rejected, label = None, None
    tools = check_tools(row["tools"], at) if kind == "chat" and "tools" in row else None
    if kind in ("chat", "sharegpt"):
        messages = _turns(row, at, kind, tools)
    elif kind == "preference":
        messages, rejected = _preference(row, at)
    elif kind == "labeled":
        messages = [*_prompt_turns(row, at), {"role": "assistant", "content": _answer(row, "completion", at)}]
        label = _label(row, at)
    elif kind == "text":
        messages = [{"role": DOCUMENT, "content": _text(row, "text", at)}]
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
    if not isinstance(row.get("meta", {}), dict):
        raise AfinarError(f"{at}: field 'meta' must be an object (its keys are the row's own), got {row['meta']!r}")
    scenario = row.get("scenario")
    if scenario is not None and scenario not in SCENARIOS:
        raise AfinarError(f"{at}: field 'scenario' is {scenario!r}; accepted: {', '.join(SCENARIOS)}")
    meta = {"id": row["id"]} if "id" in row else {}
    if "metric" in row:
        if row["metric"] not in METRICS:
            raise AfinarError(f"{at}: field 'metric' is {row['metric']!r}; accepted: {', '.join(METRICS)}")
        meta["metric"] = row["metric"]
    return Example(messages, at, scenario, meta, rejected, label, tools)


MAX_LINE_BYTES = 32 * 2**20
"""A longer line is not a training row (a 2 GB line would otherwise be read whole into memory)."""


def _check_text(path: Path) -> None:
    """Refuse binary files (a NUL byte in the first 64 KiB) before parsing anything."""
    with open_dataset(path) as f:
        head = f.read(65536)
    if b"\0" in head:
        kind = dataset_kind(path)
        raise AfinarError(f"{path}: a binary file (NUL bytes), not {kind} text; accepted: {ACCEPTED}")


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


_MAGIC = {".parquet": (b"PAR1",), ".arrow": (b"ARROW1", b"\xff\xff\xff\xff")}
"""How a Parquet file and an Arrow IPC file or stream begin."""


def _table_source(path: Path):
    """What pyarrow reads ``path`` from: the file itself (read a batch at a time), or for an
    encrypted file its plaintext in memory (Parquet's footer is at the end: it needs the whole)."""
    import pyarrow as pa  # Parquet and Arrow only: JSONL and CSV paths start without loading it

    if path.suffix == ".afe":
        with open_dataset(path) as f:
            return pa.BufferReader(f.read())
    return pa.memory_map(str(path))


def _open_table(path: Path):
    """``(schema, record batches)`` of a Parquet or Arrow (IPC file or stream) file."""
    import pyarrow as pa  # Parquet and Arrow only: JSONL and CSV paths start without loading it
    import pyarrow.parquet as pq

    source = _table_source(path)
    if dataset_kind(path) == ".parquet":
        parquet = pq.ParquetFile(source)
        return parquet.schema_arrow, parquet.iter_batches(batch_size=1024)
    try:
        reader = pa.ipc.open_file(source)
        return reader.schema, (reader.get_batch(i) for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:  # not the file format: the stream format
        source.seek(0)
        stream = pa.ipc.open_stream(source)
        return stream.schema, iter(stream)


def table_schema(path: Path):
    """The pyarrow schema of a Parquet or Arrow file (its columns and their types)."""
    return _open_table(path)[0]


def _without_nulls(value: Any) -> Any:
    """A table row as JSON would have given it: a column that is null in this row, or a key of a
    nested struct that is null (``weight`` on most turns), is left out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _table_rows(path: Path):
    import pyarrow as pa  # Parquet and Arrow only: JSONL and CSV paths start without loading it

    kind = dataset_kind(path)
    with open_dataset(path) as f:
        head = f.read(8)
    if not head.startswith(_MAGIC[kind]):
        raise AfinarError(f"{path}: not a {kind[1:]} file (it does not begin as one); accepted: {ACCEPTED}")
    n = 0
    try:
        for batch in _open_table(path)[1]:
            for row in batch.to_pylist():
                n += 1
                yield n, _without_nulls(row)
    except (pa.ArrowException, OSError) as err:
        raise AfinarError(f"{location(path, n + 1)}: cannot be read as {kind[1:]} ({err})") from None


def location(path: Path, n: int) -> str:
    """Where row ``n`` of ``path`` is, for messages: ``file:line`` for text files, ``file: row n``
    for Parquet and Arrow, the file alone for a document (.txt, .md)."""
    kind = dataset_kind(Path(path))
    return f"{path}: row {n}" if kind in TABLES else str(path) if kind in DOCUMENTS else where(path, n)


def read_rows(path: Path):
    """Yield ``(n, row)`` for each row of a .jsonl, .csv, .parquet or .arrow file: ``n`` is the
    line (the row, for Parquet and Arrow), ``row`` a parsed object, or an :class:`AfinarError` for
    a line that cannot be parsed (so a lint can go on to the next).

    Raises:
        AfinarError: missing file, unsupported type, binary content, or a line over MAX_LINE_BYTES.
    """
    path = Path(path)
    if path.is_dir():
        raise AfinarError(f"{path}: a folder, where one dataset file is read")
    if not path.is_file():
        raise AfinarError(f"{path}: dataset file not found")
    kind = dataset_kind(path)
    if kind not in KINDS:
        raise AfinarError(f"{path}: unsupported dataset type '{path.suffix}'; accepted: {ACCEPTED}")
    if kind in TABLES:
        yield from _table_rows(path)
        return
    if kind in DOCUMENTS:
        yield from document_rows(path)
        return
    _check_text(path)
    yield from (_jsonl_rows(path) if kind == ".jsonl" else _csv_rows(path))


def with_columns(row: Any, columns: dict[str, str], at: str) -> Any:
    """``row`` with its columns renamed to afinar's fields (``columns`` maps field -> column)."""
    if not columns or not isinstance(row, dict):
        return row
    field_of = {column: name for name, column in columns.items()}
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = field_of.get(key, key)
        if name in out:
            raise AfinarError(
                f"{at}: field '{name}' comes both from column '{columns[name]}' (data.columns) and from "
                f"a column of that name; rename one"
            )
        out[name] = value
    return out


def scan_dataset(
    path: str | Path, fmt: str = "auto", system_prompt: str | None = None, columns: dict[str, str] | None = None
) -> tuple[list[Example], list[str]]:
    """Parse every row of ``path`` (a file, or a folder's shards in order: :mod:`afinar.shards`);
    rows that fail are skipped and their messages returned.

    ``columns`` (``data.columns``) names the columns afinar's fields are read from.
    Returns ``(examples, errors)``; each error names the file, the line and the field.
    """
    examples, errors = [], []
    mapped = (
        "; data.columns reads " + ", ".join(f"'{k}' from column '{v}'" for k, v in columns.items()) if columns else ""
    )
    for shard in dataset_files(path):
        for n, row in read_rows(shard):
            try:
                if isinstance(row, AfinarError):
                    raise row
                at = location(shard, n)
                ex = _to_example(with_columns(row, columns or {}, at), fmt, at)
            except AfinarError as err:
                errors.append(f"{err}{mapped}")
                continue
            if ex.document is None:
                ex.messages = with_tools(with_system_prompt(ex.messages, system_prompt), ex.tools)
            examples.append(ex)
    return examples, errors


def read_dataset(
    path: str | Path, fmt: str = "auto", system_prompt: str | None = None, columns: dict[str, str] | None = None
) -> list[Example]:
    """Parse every row of ``path`` into an :class:`Example`.

    Args:
        fmt: ``auto`` (per row, from its keys) or one of :data:`FORMATS`.
        system_prompt: added as the first turn of rows that have no system turn.
        columns: ``data.columns`` (field -> column).

    Raises:
        AfinarError: a bad file, a malformed row (file:line and field), or no rows at all.
    """
    examples, errors = scan_dataset(path, fmt, system_prompt, columns)
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
