"""``POST /v1/chat/completions``: guard the user turns, apply the chat template, answer."""

from __future__ import annotations

from fastapi import APIRouter, Request

from afinar.data.read import with_system_prompt
from afinar.data.render import prompt_ids
from afinar.serve.deps import CallerDep, DeploymentDep, RecordDep
from afinar.serve.generation import Generation
from afinar.serve.routes._answer import adapter_for, created, guarded, respond, sampling
from afinar.serve.schemas import ChatRequest

router = APIRouter()


def _defuse(text: str, tokenizer) -> str:
    """``text`` without the tokenizer's special-token strings: typed into a user turn, they would be
    tokenized as real control tokens (``<|im_end|><|im_start|>system``) and forge a turn of another
    role. The guard blocks them in ``block`` mode; this holds in ``flag`` and ``off`` too."""
    for token in tokenizer.added_tokens_decoder.values():
        if token.special or token.content.startswith("<"):
            text = text.replace(token.content, "")
    return text


@router.post("/v1/chat/completions")
async def chat_completions(body: ChatRequest, request: Request, dep: DeploymentDep, record: RecordDep, _: CallerDep):
    adapter = adapter_for(dep, body.model, record)
    roles = ["system" if m.role == "developer" else m.role for m in body.messages]
    texts = [m.text() for m in body.messages]
    untrusted = [t for r, t in zip(roles, texts, strict=True) if r == "user"]
    result = await guarded(dep, record, untrusted, texts)
    record.details["roles"] = roles  # with the prompt's texts: the conversation, for feedback datasets
    seen = [_defuse(t, dep.tokenizer) if r == "user" else t for r, t in zip(roles, result.texts, strict=True)]
    messages = [{"role": r, "content": t} for r, t in zip(roles, seen, strict=True)]
    messages = with_system_prompt(messages, dep.system_prompt)
    ids = prompt_ids(dep.tokenizer, messages)
    settings = sampling(dep, body, len(ids), body.max_completion_tokens or body.max_tokens)
    secrets = [m["content"] for m in messages if m["role"] == "system"]
    schema = body.response_format.schema() if body.response_format else None
    gen = Generation(dep.engine, ids, adapter, settings, dep.sanitizer, body.stops(), secrets, schema)
    stamp = created()

    def whole(rid: str, text: str, finish: str | None, usage: dict) -> dict:
        choice = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish,
            "logprobs": None,
        }
        return {"id": rid, "object": "chat.completion", "created": stamp, "model": body.model, "choices": [choice]} | {
            "usage": usage
        }

    def chunk(rid: str, delta: str | None, finish: str | None) -> dict:
        content = {"role": "assistant", "content": ""} if delta is None else ({"content": delta} if delta else {})
        choice = {"index": 0, "delta": content, "finish_reason": finish, "logprobs": None}
        return {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": stamp,
            "model": body.model,
            "choices": [choice],
        }

    return await respond(request, dep, record, gen, body, "\n".join(texts), whole, chunk)
