"""Tool calling as text: the afinar tool format, one for every base.

A tool-calling conversation (OpenAI's shape: ``tools`` beside the messages, assistant turns with
``tool_calls``, ``tool`` turns with results) becomes plain system/user/assistant turns before the
chat template sees it, so every base template renders it (ChatML, Llama 3, or the base's own),
the loss falls on the calls as on any assistant text, and the server parses what the model
writes back into ``tool_calls`` with the same rules the evaluation scores it by:

- the tools, appended to the system turn (one is added when there is none)::

      You can call these tools (JSON Schema parameters):
      <tools>
      {"name": "lookup_ticket", "description": "...", "parameters": {...}}
      </tools>
      To call a tool, answer with <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one block per call.
      Results come back in <tool_response></tool_response> blocks.

- an assistant turn's calls, after its text (if any), one block each::

      <tool_call>
      {"name": "lookup_ticket", "arguments": {"ticket_id": 42}}
      </tool_call>

- the results of one round of calls, in the order the calls were made, as one user turn::

      <tool_response>
      {"id": 42, "status": "open"}
      </tool_response>

This is the Hermes/Qwen layout, which many open models already know; a base template's own tool
syntax (Llama 3.1's ``ipython`` role, for one) is not used: one syntax keeps training, serving
and scoring in step for every base.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from afinar.errors import AfinarError

__all__ = [
    "CALL_OPEN",
    "ToolCall",
    "as_text",
    "call_text",
    "check_calls",
    "check_tools",
    "parse_calls",
    "response_text",
    "tool_names",
    "tools_prompt",
    "with_tools",
]

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    def text(self) -> str:
        return json.dumps({"name": self.name, "arguments": self.arguments}, ensure_ascii=False)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def tool_names(tools: list[dict]) -> list[str]:
    return [t["function"]["name"] for t in tools]


def tools_prompt(tools: list[dict]) -> str:
    """The system-turn text that offers ``tools`` (OpenAI's ``{"type": "function", "function":
    {...}}`` objects)."""
    lines = "\n".join(_dumps(t["function"]) for t in tools)
    return (
        "You can call these tools (JSON Schema parameters):\n"
        f"<tools>\n{lines}\n</tools>\n"
        'To call a tool, answer with <tool_call>{"name": ..., "arguments": {...}}</tool_call>, one block per call.\n'
        "Results come back in <tool_response></tool_response> blocks."
    )


def with_tools(messages: list[dict[str, Any]], tools: list[dict] | None) -> list[dict[str, Any]]:
    """``messages`` with ``tools`` offered at the end of the system turn (a system turn is added
    when there is none); unchanged without tools."""
    if not tools:
        return messages
    offer = tools_prompt(tools)
    if messages and messages[0]["role"] == "system":
        return [{**messages[0], "content": f"{messages[0]['content']}\n\n{offer}"}, *messages[1:]]
    return [{"role": "system", "content": offer}, *messages]


def call_text(content: str, calls: list[ToolCall]) -> str:
    """An assistant turn's text: its own words (if any), then one block per call."""
    blocks = "\n".join(f"{CALL_OPEN}\n{c.text()}\n{CALL_CLOSE}" for c in calls)
    return f"{content.strip()}\n{blocks}" if content.strip() else blocks


def response_text(results: list[str]) -> str:
    """One round of tool results as the text of one user turn."""
    return "\n".join(f"<tool_response>\n{r}\n</tool_response>" for r in results)


def parse_calls(text: str) -> tuple[str, list[ToolCall] | None]:
    """What an answer says, and the calls it makes: ``(text before the first block, calls)``.

    ``calls`` is ``[]`` for an answer without a ``<tool_call>`` block, and ``None`` when a block
    is there but is not a call (not JSON, no ``name``, ``arguments`` not an object): the answer
    tried to call and failed. A last block cut off before ``</tool_call>`` still counts if its JSON
    is whole (generation may stop right after it).
    """
    start = text.find(CALL_OPEN)
    if start < 0:
        return text, []
    calls = []
    for body in _BLOCK.findall(text[start:]):
        try:
            value = json.loads(body)
        except ValueError:
            return text[:start].strip(), None
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return text[:start].strip(), None
        args = value.get("arguments", {})
        if isinstance(args, str):  # a model that learned OpenAI's string form
            try:
                args = json.loads(args)
            except ValueError:
                return text[:start].strip(), None
        if not isinstance(args, dict):
            return text[:start].strip(), None
        calls.append(ToolCall(value["name"], args))
    return text[:start].strip(), calls


def check_tools(value: Any, at: str) -> list[dict]:
    """A row's (or a request's) ``tools`` (a list, or a table column's JSON text of one): OpenAI
    function tools with unique names and ``parameters`` that are a JSON Schema object.

    Raises:
        AfinarError: naming ``at`` and the field.
    """
    if isinstance(value, str):  # a table column holding the tools as JSON text
        try:
            value = json.loads(value)
        except ValueError as err:
            raise AfinarError(f"{at}: field 'tools' is text that is not JSON ({err})") from None
    if not isinstance(value, list) or not value:
        raise AfinarError(f"{at}: field 'tools' must be a non-empty list of {{type: function, function: {{...}}}}")
    seen = set()
    for i, tool in enumerate(value):
        f = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            raise AfinarError(
                f'{at}: field \'{f}\' must be {{"type": "function", "function": {{name, description, parameters}}}}'
            )
        fn = tool["function"]
        unknown = set(fn) - {"name", "description", "parameters", "strict"}
        if unknown:
            raise AfinarError(
                f"{at}: field '{f}.function' has unknown key(s) {sorted(unknown)}; "
                "allowed: name, description, parameters, strict"
            )
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise AfinarError(
                f"{at}: field '{f}.function.name' is {name!r}; accepted: 1-64 letters, digits, '_' or '-'"
            )
        if name in seen:
            raise AfinarError(f"{at}: field '{f}.function.name': tool '{name}' is defined twice")
        seen.add(name)
        if "description" in fn and not isinstance(fn["description"], str):
            raise AfinarError(f"{at}: field '{f}.function.description' must be a string")
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, dict):
            raise AfinarError(f"{at}: field '{f}.function.parameters' must be a JSON Schema object")
        try:
            Draft202012Validator.check_schema(params)
        except SchemaError as err:
            where = "/".join(str(x) for x in err.path) or "(top level)"
            raise AfinarError(
                f"{at}: field '{f}.function.parameters' is not a valid JSON Schema at {where}: {err.message}"
            ) from None
    return value


def check_calls(value: Any, tools: list[dict] | None, at: str, field: str) -> tuple[list[str], list[ToolCall]]:
    """An assistant turn's ``tool_calls`` (OpenAI's shape, ``arguments`` a JSON string or an
    object): their ids and calls, each to a tool of ``tools`` with arguments its schema accepts.

    Raises:
        AfinarError: naming ``at`` and ``field``.
    """
    if not tools:
        raise AfinarError(f"{at}: field '{field}' calls tools, but the row has no 'tools' to call")
    if not isinstance(value, list) or not value:
        raise AfinarError(
            f"{at}: field '{field}' must be a non-empty list of {{id, type: function, function: {{name, arguments}}}}"
        )
    schemas = {t["function"]["name"]: t["function"].get("parameters") for t in tools}
    ids, calls = [], []
    for i, call in enumerate(value):
        f = f"{field}[{i}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or call.get("type", "function") != "function":
            raise AfinarError(
                f'{at}: field \'{f}\' must be {{"id": ..., "type": "function", "function": {{name, arguments}}}}'
            )
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise AfinarError(f"{at}: field '{f}.id' must be a non-empty string (the tool turn answering it names it)")
        name = fn.get("name")
        if name not in schemas:
            raise AfinarError(f"{at}: field '{f}.function.name' is {name!r}; the row's tools are: {', '.join(schemas)}")
        args = fn.get("arguments", "{}")
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError as err:
                raise AfinarError(f"{at}: field '{f}.function.arguments' is not JSON ({err})") from None
        if not isinstance(args, dict):
            raise AfinarError(f"{at}: field '{f}.function.arguments' must be a JSON object")
        if schemas[name]:
            error = next(iter(Draft202012Validator(schemas[name]).iter_errors(args)), None)
            if error is not None:
                path = "/".join(str(p) for p in error.absolute_path) or "(root)"
                raise AfinarError(
                    f"{at}: field '{f}.function.arguments' breaks the parameters of tool '{name}' at {path}: "
                    f"{error.message}"
                )
        ids.append(call["id"])
        calls.append(ToolCall(name, args))
    if len(set(ids)) != len(ids):
        raise AfinarError(f"{at}: field '{field}' repeats a call id; each call needs its own")
    return ids, calls


def as_text(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turns with tool calls and results (assistant turns with ``calls`` and ``ids``, ``tool``
    turns with ``id``) written as text turns: an assistant turn's calls after its words, each run
    of tool turns as one user turn, its results in the order of the calls they answer."""
    out: list[dict[str, Any]] = []
    order: list[str] = []  # the call ids of the last assistant turn that made calls
    results: list[dict[str, Any]] = []
    for m in [*turns, None]:
        if m is not None and m["role"] == "tool":
            results.append(m)
            continue
        if results:
            ranked = sorted(results, key=lambda r: order.index(r["id"]) if r["id"] in order else len(order))
            out.append({"role": "user", "content": response_text([r["content"] for r in ranked])})
            results = []
        if m is None:
            break
        turn = {k: v for k, v in m.items() if k in ("role", "content", "weight")}
        if m.get("calls"):
            turn["content"] = call_text(m["content"], m["calls"])
            order = m["ids"]
        out.append(turn)
    return out
