"""What the chat and completion routes share: model lookup, the guard, limits, and the answer as
one JSON body or as server-sent events in OpenAI's chunk format."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator, Callable

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from afinar.model.constrain import SchemaConstraint
from afinar.serve.auth import ApiError
from afinar.serve.deps import Deployment, Record
from afinar.serve.engine import Sampling
from afinar.serve.generation import Generation
from afinar.serve.guard import GuardResult
from afinar.serve.schemas import _Sampling

__all__ = ["adapter_for", "guarded", "respond", "sampling"]


def adapter_for(dep: Deployment, model: str, record: Record) -> str:
    record.model = model
    if model not in dep.models:
        served = ", ".join(sorted(dep.models))
        raise ApiError(404, "model_not_found", f"model '{model}' is not served here; served: {served}")
    record.details["adapter"] = dep.models[model]
    if model in dep.runs:
        record.details["run"] = dep.runs[model]
    return dep.models[model]


async def guarded(dep: Deployment, record: Record, untrusted: list[str], texts: list[str]) -> GuardResult:
    """Check the prompt's length, run the guard; record its decisions and the prompt (PII redacted);
    refuse with 400 when it blocks. A prompt over the limit is refused before the guard runs and
    before any of its text reaches the audit record (which keeps its digest)."""
    record.digest("\n".join(texts))
    tokens = await anyio.to_thread.run_sync(_count_tokens, dep.tokenizer, texts)
    if tokens > dep.max_prompt_tokens:
        raise ApiError(
            400, "prompt_too_long", f"the prompt is {tokens} tokens; this deployment takes {dep.max_prompt_tokens}"
        )
    result = await anyio.to_thread.run_sync(dep.guard.check, untrusted, texts)
    shown = [dep.sanitizer.clean(t)[0] for t in result.texts]
    record.details["prompt"] = shown[0] if len(shown) == 1 else shown
    record.details["guard"] = {
        "findings": result.findings,
        "injection_score": round(result.injection_score, 4),
        "pii": result.pii,
    }
    if result.blocked == "prompt_injection":
        raise ApiError(400, "prompt_injection", "the request was refused by the prompt-injection guard")
    if result.blocked == "pii_in_prompt":
        kinds = ", ".join(sorted(result.pii))
        raise ApiError(400, "pii_in_prompt", f"the prompt contains personal data ({kinds}); this deployment refuses it")
    return result


def _count_tokens(tokenizer, texts: list[str]) -> int:
    """Tokens in ``texts`` alone: a lower bound of the templated prompt's, which :func:`sampling`
    checks exactly once the guard has run."""
    return sum(len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]) if texts else 0


def sampling(
    dep: Deployment, body: _Sampling, prompt_tokens: int, max_tokens: int | None, schema: dict | None = None
) -> Sampling:
    """The engine's settings for ``body``, after the prompt and context limits; with ``schema``
    (a JSON Schema, ``{}`` for any JSON object) the answer is decoded under it.

    Raises:
        ApiError: 400 for a limit passed, or a schema the decoding grammar cannot express.
    """
    wanted = max_tokens or dep.max_tokens
    if wanted > dep.max_tokens:
        raise ApiError(400, "max_tokens_too_large", f"max_tokens {wanted} is over this deployment's {dep.max_tokens}")
    if prompt_tokens > dep.max_prompt_tokens:
        raise ApiError(
            400,
            "prompt_too_long",
            f"the prompt is {prompt_tokens} tokens; this deployment takes {dep.max_prompt_tokens}",
        )
    if prompt_tokens + wanted > dep.context:
        raise ApiError(
            400,
            "context_length_exceeded",
            f"prompt ({prompt_tokens}) + max_tokens ({wanted}) is over the model's context of {dep.context} tokens",
        )
    if schema is None:
        return Sampling(wanted, body.temperature, body.top_p, body.seed)
    decoded = schema or {"type": "object"}  # {}: any JSON object
    try:  # compiled once here, so a schema no grammar can express is the client's 400, not a 500 later
        SchemaConstraint(dep.tokenizer, decoded, len(dep.tokenizer), 0)
    except ValueError as err:
        raise ApiError(400, "invalid_request", f"response_format: {err}") from None
    return Sampling(wanted, body.temperature, body.top_p, body.seed, json.dumps(decoded))


def _finish(dep: Deployment, request: Request, record: Record, gen: Generation, prompt_text: str) -> dict:
    """Fill in the audit record and metrics once the answer is done; returns OpenAI's usage."""
    usage = {
        "prompt_tokens": len(gen.prompt_ids),
        "completion_tokens": gen.tokens,
        "total_tokens": len(gen.prompt_ids) + gen.tokens,
    }
    record.digest(prompt_text, gen.text)  # digests of what was asked and what was answered
    record.details.update(
        usage | {"finish_reason": gen.finish, "output_redactions": gen.redacted, "system_prompt_leak": gen.leaked}
    )
    record.details["response"] = gen.text  # already sanitized: PII redacted
    metrics = request.app.state.metrics
    metrics.tokens.labels("prompt").inc(usage["prompt_tokens"])
    metrics.tokens.labels("completion").inc(usage["completion_tokens"])
    if gen.leaked:
        metrics.blocked.labels("system_prompt_leak").inc()
    return usage


async def respond(
    request: Request,
    dep: Deployment,
    record: Record,
    gen: Generation,
    body: _Sampling,
    prompt_text: str,
    whole: Callable[[str, str, str | None, dict], dict],
    chunk: Callable[[str, str | None, str | None], dict | list[dict] | None],
):
    """The answer: ``whole(id, text, finish, usage)`` as JSON, or SSE of ``chunk(id, delta, finish)``
    (``delta`` None asks for the opening chunk; a chunk may be None, nothing to send yet, or a list
    of several)."""
    rid = f"{'chatcmpl' if 'messages' in type(body).model_fields else 'cmpl'}-{secrets.token_hex(12)}"
    record.details["stream"] = body.stream
    record.details["completion_id"] = rid
    gen.start()  # a full queue is a 503 before any byte of the answer is sent
    if not body.stream:
        try:
            gone = await _complete_unless_gone(request, gen)
        except ApiError:
            _finish(dep, request, record, gen, prompt_text)  # the audit record still gets the counts
            raise
        usage = _finish(dep, request, record, gen, prompt_text)
        if gone:  # nobody reads this answer; its record says so
            record.details["error"] = "client_closed_request"
            return JSONResponse({"error": "client closed the request"}, status_code=499)
        dep.remember(rid, record.actor)
        return JSONResponse(whole(rid, gen.text, gen.finish, usage))

    def sse(piece: dict | list[dict] | None) -> str:
        return "".join(f"data: {json.dumps(p)}\n\n" for p in ([piece] if isinstance(piece, dict) else piece or []))

    async def events() -> AsyncIterator[str]:
        yield sse(chunk(rid, None, None))
        try:
            async for delta in gen.deltas():
                if out := sse(chunk(rid, delta, None)):
                    yield out
        except ApiError as err:
            record.decision, record.details["error"] = "error", err.code
            _finish(dep, request, record, gen, prompt_text)
            yield f"data: {json.dumps(err.body())}\n\n"
            return
        usage = _finish(dep, request, record, gen, prompt_text)
        dep.remember(rid, record.actor)
        yield sse(chunk(rid, "", gen.finish))
        if body.stream_options and body.stream_options.include_usage:
            yield f"data: {json.dumps({**chunk(rid, '', None), 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _complete_unless_gone(request: Request, gen: Generation) -> bool:
    """Run ``gen`` to its end, or stop it when the client disconnects first; True if it did.

    A streamed answer is stopped by Starlette when its client leaves; a plain one is not, and
    would hold a batch row until ``max_tokens``.
    """
    gone, failed = False, None
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            tg.cancel_scope.cancel()  # cancels run(): its generation stops

        async def run() -> None:
            nonlocal failed
            try:
                await gen.complete()
            except ApiError as err:  # raised below, not wrapped in the task group's ExceptionGroup
                failed = err
            tg.cancel_scope.cancel()  # answered: stop watching

        tg.start_soon(watch)
        tg.start_soon(run)
    if failed is not None:
        raise failed
    return gone


def created() -> int:
    return int(time.time())
