"""``POST /v1/chat/completions``: guard the untrusted turns, apply the chat template, answer.

Tools (``tools``, ``tool_choice``, assistant turns with ``tool_calls``, ``tool`` turns) are
written in the afinar tool format (:mod:`afinar.data.tools`), the one the model was trained on;
what the model writes back is parsed into OpenAI's ``tool_calls`` by the same rules the
evaluation scores it by. ``tool_choice: required`` or a named function starts the answer with
the call's opening (``<tool_call>``, and the name), so the model can only go on with a call.
Tool results are untrusted like user turns: the injection guard reads them. The arguments of
assistant ``tool_calls`` a client sends back go through the PII policy with the other turns (the
client may have filled them), value by value, so the JSON stays valid.
"""

from __future__ import annotations

import json
import secrets as tokens

from fastapi import APIRouter, Request

from afinar.data.mask import map_strings
from afinar.data.read import with_system_prompt
from afinar.data.render import prompt_ids
from afinar.data.tools import CALL_OPEN, ToolCall, as_text, parse_calls, tool_names, with_tools
from afinar.serve.auth import ApiError
from afinar.serve.deps import CallerDep, DeploymentDep, RecordDep
from afinar.serve.generation import Generation
from afinar.serve.routes._answer import adapter_for, choices, created, guarded, respond, sampling
from afinar.serve.schemas import ChatRequest, Message, NamedChoice

router = APIRouter()


def _defuse(text: str, tokenizer) -> str:
    """``text`` without the tokenizer's special-token strings: typed into a user turn, they would be
    tokenized as real control tokens (``<|im_end|><|im_start|>system``) and forge a turn of another
    role. The guard blocks them in ``block`` mode; this holds in ``flag`` and ``off`` too."""
    for token in tokenizer.added_tokens_decoder.values():
        if token.special or token.content.startswith("<"):
            text = text.replace(token.content, "")
    return text


def _calls_in(m: Message, at: int) -> tuple[list[str], list[ToolCall]]:
    """An assistant turn's ``tool_calls`` sent back by the client, as ids and calls."""
    ids, calls = [], []
    for k, call in enumerate(m.tool_calls or []):
        try:
            args = json.loads(call.function.arguments or "{}")
        except ValueError:
            args = None
        if not isinstance(args, dict):
            raise ApiError(400, "invalid_request", f"field 'messages.{at}.tool_calls.{k}.function.arguments' "
                           "must be the JSON text of an object")  # fmt: skip
        ids.append(call.id)
        calls.append(ToolCall(call.function.name, args))
    return ids, calls


def _turns(body: ChatRequest, roles: list[str], seen: list[str], calls: dict[int, tuple]) -> list[dict]:
    """The request's turns as the model reads them: tool calls (``calls``: by turn, as
    :func:`_calls_in` read them) and results in the afinar tool format. A tool turn must answer a
    call of the assistant turn before it."""
    turns: list[dict] = []
    open_ids: list[str] = []
    for i, (m, role, text) in enumerate(zip(body.messages, roles, seen, strict=True)):
        turn: dict = {"role": role, "content": text}
        if i in calls:
            turn["ids"], turn["calls"] = calls[i]
            open_ids = list(turn["ids"])
        elif role == "tool":
            if m.tool_call_id not in open_ids:
                why = f"{m.tool_call_id!r}, which answers no tool call of the assistant turn before it"
                raise ApiError(400, "invalid_request", f"field 'messages.{i}.tool_call_id' is {why}")
            turn["id"] = m.tool_call_id
        else:
            open_ids = []
        turns.append(turn)
    return as_text(turns)


def _opening(body: ChatRequest) -> str:
    """What the answer must start with under ``tool_choice`` (empty: the model chooses)."""
    if isinstance(body.tool_choice, NamedChoice):
        return f'{CALL_OPEN}\n{{"name": {json.dumps(body.tool_choice.function.name)}, "arguments":'
    return f"{CALL_OPEN}\n" if body.tool_choice == "required" else ""


def _tool_calls(body: ChatRequest, text: str) -> tuple[str | None, list[dict]]:
    """The answer's words and its calls in OpenAI's shape (no calls unless tools were offered)."""
    if not body.tools or body.tool_choice == "none":
        return text, []
    words, calls = parse_calls(text)
    offered = tool_names(body.tools)
    if calls and all(c.name in offered for c in calls):
        calls = calls if body.parallel_tool_calls else calls[:1]
        shaped = [
            {
                "id": f"call_{tokens.token_hex(12)}",
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)},
            }
            for c in calls
        ]
        return words or None, shaped
    if body.tool_choice not in (None, "auto"):
        raise ApiError(422, "invalid_tool_call", "tool_choice asked for a call, and the model's answer is not a "
                       f"call to an offered tool ({', '.join(offered)})", "invalid_response_error")  # fmt: skip
    return text, []


class _Held:
    """Streamed text with tools offered: words go out as they come, but from the first character
    that may open a ``<tool_call>`` block nothing goes out until the answer is complete (it is a
    call, sent as ``tool_calls``, or it is text after all)."""

    def __init__(self, opening: str):
        self.text, self.sent, self.forced = "", 0, bool(opening)

    def add(self, delta: str) -> str:
        self.text += delta
        if self.forced:
            return ""
        cut = self.text.find(CALL_OPEN)
        if cut < 0:  # hold back a tail that may be the start of CALL_OPEN
            cut = next((k for k in range(max(0, len(self.text) - len(CALL_OPEN)), len(self.text))
                        if CALL_OPEN.startswith(self.text[k:])), len(self.text))  # fmt: skip
        out, self.sent = self.text[self.sent : max(cut, self.sent)], max(cut, self.sent)
        return out


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatRequest, request: Request, dep: DeploymentDep, record: RecordDep, _: CallerDep):
    adapter = adapter_for(dep, body.model, record)
    roles = ["system" if m.role == "developer" else m.role for m in body.messages]
    texts = [m.text() for m in body.messages]
    untrusted = [t for r, t in zip(roles, texts, strict=True) if r in ("user", "tool")]
    calls = {i: _calls_in(m, i) for i, (m, r) in enumerate(zip(body.messages, roles, strict=True))
             if r == "assistant" and m.tool_calls}  # fmt: skip
    values: list[str] = []
    for _, cs in calls.values():
        for c in cs:
            map_strings(c.arguments, values.append)
    result = await guarded(dep, record, untrusted, texts + values)
    masked = iter(result.texts[len(texts) :])
    calls = {i: (ids, [ToolCall(c.name, map_strings(c.arguments, lambda _: next(masked))) for c in cs])
             for i, (ids, cs) in calls.items()}  # fmt: skip
    seen = [_defuse(t, dep.tokenizer) if r in ("user", "tool") else t
            for r, t in zip(roles, result.texts[: len(texts)], strict=True)]  # fmt: skip
    tooled = bool(body.tools) or any(r == "tool" or m.tool_calls for r, m in zip(roles, body.messages, strict=True))
    plain = [{"role": r, "content": t} for r, t in zip(roles, seen, strict=True)]
    messages = _turns(body, roles, seen, calls) if tooled else plain
    if tooled:  # the conversation as the model reads it: what a feedback dataset is built from
        record.details["prompt"] = [dep.sanitizer.clean(m["content"])[0] for m in messages]
        record.details["tools"] = tool_names(body.tools or [])
    record.details["roles"] = [m["role"] for m in messages] if tooled else roles
    messages = with_system_prompt(messages, dep.system_prompt)
    secrets = [m["content"] for m in messages if m["role"] == "system"]
    messages = with_tools(messages, body.tools if body.tool_choice != "none" else None)
    opening = _opening(body)
    ids = prompt_ids(dep.tokenizer, messages)
    ids += dep.tokenizer(opening, add_special_tokens=False)["input_ids"] if opening else []
    schema = body.response_format.schema() if body.response_format else None
    schema = dep.sanitizer.schema if schema is None else schema  # --json-schema: every answer of this deployment
    may_call = bool(body.tools) and body.tool_choice != "none"
    # decoded under the schema, unless the answer may be a tool call (no JSON answer): then checked after
    wanted = body.max_completion_tokens or body.max_tokens
    settings = sampling(dep, body, len(ids), wanted, None if may_call else schema, body.top())
    gens = choices(dep, body, ids, adapter, settings, secrets, schema)
    stamp = created()
    held = [_Held(opening) for _ in gens]

    def answer(text: str, finish: str | None) -> tuple[str | None, list[dict], str | None]:
        words, calls = _tool_calls(body, opening + text)
        if calls:
            named = record.details.setdefault("tool_calls", [])
            named += [c["function"]["name"] for c in calls]
        return words, calls, ("tool_calls" if calls and finish == "stop" else finish)

    def logprobs(entries: list[dict]) -> dict | None:
        return {"content": entries, "refusal": None} if body.logprobs else None

    def whole(rid: str, gens: list[Generation], usage: dict) -> dict:
        out = []
        for i, gen in enumerate(gens):
            words, calls, finish = answer(gen.text, gen.finish)
            message = {"role": "assistant", "content": words} | ({"tool_calls": calls} if calls else {})
            out.append({"index": i, "message": message, "finish_reason": finish, "logprobs": logprobs(gen.logprobs())})
        return {"id": rid, "object": "chat.completion", "created": stamp, "model": body.model, "choices": out} | {
            "usage": usage
        }

    def shape(rid: str, i: int, delta: dict, finish: str | None, entries: list[dict] = ()) -> dict:
        choice = {"index": i, "delta": delta, "finish_reason": finish, "logprobs": logprobs(list(entries))}
        return {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": stamp,
            "model": body.model,
            "choices": [choice],
        }

    def chunk(rid: str, i: int, delta: str | None, finish: str | None, entries: list[dict]) -> dict | list[dict] | None:
        if delta is None:
            return shape(rid, i, {"role": "assistant", "content": ""}, None)
        if not delta and finish is None and not entries:  # the frame of the usage chunk
            return shape(rid, i, {}, None)
        if not body.tools:
            return shape(rid, i, {"content": delta} if delta else {}, finish, entries)
        if finish is None:
            out = held[i].add(delta)
            return shape(rid, i, {"content": out}, None, entries) if out else None
        text = held[i].text + delta
        try:
            _, calls, finish = answer(text, finish)
        except ApiError as err:  # a forced call that is none: the stream ends with the error
            record.decision, record.details["error"] = "error", err.code
            return err.body()
        sent = held[i].sent
        if calls:  # the words before the first block that were held back, then the calls
            rest = text[sent : max(sent, text.find(CALL_OPEN))] if not opening else ""
        else:
            rest = text[sent:]
        pieces = [shape(rid, i, {"content": rest}, None)] if rest.strip() or (rest and not calls) else []
        pieces += [shape(rid, i, {"tool_calls": [{"index": k, **c}]}, None) for k, c in enumerate(calls)]
        return [*pieces, shape(rid, i, {}, finish, entries)]

    return await respond(request, dep, record, gens, body, "\n".join(texts), whole, chunk)
