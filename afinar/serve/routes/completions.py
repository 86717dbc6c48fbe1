"""``POST /v1/completions``: raw text in, raw text out (no chat template, no system prompt)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from afinar.serve.auth import ApiError
from afinar.serve.deps import CallerDep, DeploymentDep, RecordDep
from afinar.serve.generation import Generation
from afinar.serve.routes._answer import adapter_for, choices, created, guarded, respond, sampling
from afinar.serve.schemas import CompletionRequest

router = APIRouter()


@router.post("/v1/completions")
async def completions(body: CompletionRequest, request: Request, dep: DeploymentDep, record: RecordDep, _: CallerDep):
    adapter = adapter_for(dep, body.model, record)
    if isinstance(body.prompt, list) and len(body.prompt) != 1:
        raise ApiError(400, "invalid_request", "field 'prompt': one prompt per request (a string, or a list of one)")
    text = body.text()
    result = await guarded(dep, record, [text], [text])
    ids = dep.tokenizer(result.texts[0])["input_ids"]
    schema = dep.sanitizer.schema  # --json-schema: every answer of this deployment, decoded under it
    settings = sampling(dep, body, len(ids), body.max_tokens, schema, body.logprobs)
    secrets = [dep.system_prompt] if dep.system_prompt else []
    gens = choices(dep, body, ids, adapter, settings, secrets, schema)
    stamp = created()
    offsets = [0] * len(gens)  # each choice's text sent so far, where its next token starts

    def logprobs(i: int, entries: list[dict]) -> dict | None:
        """The entries in the completions API's own (legacy) shape."""
        if body.logprobs is None:
            return None
        starts = []
        for e in entries:
            starts.append(offsets[i])
            offsets[i] += len(e["token"])
        return {
            "tokens": [e["token"] for e in entries],
            "token_logprobs": [e["logprob"] for e in entries],
            "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in entries],
            "text_offset": starts,
        }

    def whole(rid: str, gens: list[Generation], usage: dict) -> dict:
        out = [{"index": i, "text": g.text, "finish_reason": g.finish, "logprobs": logprobs(i, g.logprobs())}
               for i, g in enumerate(gens)]  # fmt: skip
        return {"id": rid, "object": "text_completion", "created": stamp, "model": body.model, "choices": out} | {
            "usage": usage
        }

    def chunk(rid: str, i: int, delta: str | None, finish: str | None, entries: list[dict]) -> dict | None:
        if delta is None:
            return None
        choice = {"index": i, "text": delta, "finish_reason": finish, "logprobs": logprobs(i, entries)}
        return {"id": rid, "object": "text_completion", "created": stamp, "model": body.model, "choices": [choice]}

    return await respond(request, dep, record, gens, body, text, whole, chunk)
