"""``POST /v1/completions``: raw text in, raw text out (no chat template, no system prompt)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from afinar.serve.auth import ApiError
from afinar.serve.deps import CallerDep, DeploymentDep, RecordDep
from afinar.serve.generation import Generation
from afinar.serve.routes._answer import adapter_for, created, guarded, respond, sampling
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
    settings = sampling(dep, body, len(ids), body.max_tokens, schema)
    secrets = [dep.system_prompt] if dep.system_prompt else []
    gen = Generation(dep.engine, ids, adapter, settings, dep.sanitizer, body.stops(), secrets, schema)
    stamp = created()

    def whole(rid: str, out: str, finish: str | None, usage: dict) -> dict:
        choice = {"index": 0, "text": out, "finish_reason": finish, "logprobs": None}
        return {"id": rid, "object": "text_completion", "created": stamp, "model": body.model, "choices": [choice]} | {
            "usage": usage
        }

    def chunk(rid: str, delta: str | None, finish: str | None) -> dict | None:
        if delta is None:
            return None
        choice = {"index": 0, "text": delta, "finish_reason": finish, "logprobs": None}
        return {"id": rid, "object": "text_completion", "created": stamp, "model": body.model, "choices": [choice]}

    return await respond(request, dep, record, gen, body, text, whole, chunk)
