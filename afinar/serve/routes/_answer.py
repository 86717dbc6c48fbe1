"""What the chat and completion routes share: model lookup, the guard, limits, and the answer as
one JSON body or as server-sent events in OpenAI's chunk format."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

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

__all__ = ["adapter_for", "choices", "guarded", "respond", "sampling"]


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
    dep: Deployment, body: _Sampling, prompt_tokens: int, max_tokens: int | None, schema: dict | None = None,
    logprobs: int | None = None,
) -> Sampling:  # fmt: skip
    """The engine's settings for ``body``, after the prompt and context limits; with ``schema``
    (a JSON Schema, ``{}`` for any JSON object) the answer is decoded under it; with ``logprobs``
    (k) each token's log-probability comes back, with the k most likely at its step.

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
        return Sampling(wanted, body.temperature, body.top_p, body.seed, logprobs=logprobs)
    decoded = schema or {"type": "object"}  # {}: any JSON object
    try:  # compiled once here, so a schema no grammar can express is the client's 400, not a 500 later
        SchemaConstraint(dep.tokenizer, decoded, len(dep.tokenizer), 0)
    except ValueError as err:
        raise ApiError(400, "invalid_request", f"response_format: {err}") from None
    return Sampling(wanted, body.temperature, body.top_p, body.seed, json.dumps(decoded), logprobs)


def choices(
    dep: Deployment, body: _Sampling, ids: list[int], adapter: str, settings: Sampling, secrets: list[str],
    schema: dict | None,
) -> list[Generation]:  # fmt: skip
    """``body.n`` answers to ``ids``, decoded side by side; with a ``seed``, choice i samples with
    seed + i (reproducible, and not all the same)."""
    seeded = [settings if settings.seed is None else replace(settings, seed=settings.seed + i) for i in range(body.n)]
    return [Generation(dep.engine, ids, adapter, s, dep.sanitizer, body.stops(), secrets, schema) for s in seeded]


def _finish(dep: Deployment, request: Request, record: Record, gens: list[Generation], prompt_text: str) -> dict:
    """Fill in the audit record and metrics once the answers are done; returns OpenAI's usage.

    One choice is recorded as ``response`` (the text a rating refers to); several as
    ``responses``, with a finish reason each."""
    completion = sum(g.tokens for g in gens)
    usage = {
        "prompt_tokens": len(gens[0].prompt_ids),
        "completion_tokens": completion,
        "total_tokens": len(gens[0].prompt_ids) + completion,
    }
    texts = [g.text for g in gens]  # already sanitized: PII redacted
    redacted = dict(sum((Counter(g.redacted) for g in gens), Counter()))
    leaked = any(g.leaked for g in gens)
    one = len(gens) == 1
    record.digest(prompt_text, texts[0] if one else json.dumps(texts))  # digests of what was asked and answered
    record.details.update(usage | {
        "finish_reason": gens[0].finish if one else [g.finish for g in gens],
        "output_redactions": redacted,
        "system_prompt_leak": leaked,
    })  # fmt: skip
    record.details["response" if one else "responses"] = texts[0] if one else texts
    if derived := sorted({f for g in gens for f in g.derived}):
        record.details["derived_fields"] = derived  # written by afinar, not the model
    metrics = request.app.state.metrics
    metrics.tokens.labels("prompt").inc(usage["prompt_tokens"])
    metrics.tokens.labels("completion").inc(usage["completion_tokens"])
    if leaked:
        metrics.blocked.labels("system_prompt_leak").inc()
    return usage


async def respond(
    request: Request,
    dep: Deployment,
    record: Record,
    gens: list[Generation],
    body: _Sampling,
    prompt_text: str,
    whole: Callable[[str, list[Generation], dict], dict],
    chunk: Callable[[str, int, str | None, str | None, list[dict]], dict | list[dict] | None],
):
    """The answers (``gens``, one per choice): ``whole(id, gens, usage)`` as JSON, or SSE of
    ``chunk(id, index, delta, finish, logprobs)`` (``delta`` None asks for a choice's opening
    chunk; a chunk may be None, nothing to send yet, or a list of several; ``logprobs``: the
    entries released since that choice's last chunk, given again until a chunk is sent)."""
    rid = f"{'chatcmpl' if 'messages' in type(body).model_fields else 'cmpl'}-{secrets.token_hex(12)}"
    record.details["stream"] = body.stream
    record.details["completion_id"] = rid
    try:  # a full queue is a 503 before any byte of the answer is sent
        for gen in gens:
            gen.start()
    except ApiError:
        for gen in gens:
            gen.cancel()
        raise
    if not body.stream:
        try:
            gone = await _complete_unless_gone(request, gens)
        except ApiError:
            _finish(dep, request, record, gens, prompt_text)  # the audit record still gets the counts
            raise
        usage = _finish(dep, request, record, gens, prompt_text)
        if gone:  # nobody reads this answer; its record says so
            record.details["error"] = "client_closed_request"
            return JSONResponse({"error": "client closed the request"}, status_code=499)
        dep.remember(rid, record.actor)
        return JSONResponse(whole(rid, gens, usage))

    def sse(piece: dict | list[dict] | None) -> str:
        return "".join(f"data: {json.dumps(p)}\n\n" for p in ([piece] if isinstance(piece, dict) else piece or []))

    async def events() -> AsyncIterator[str]:
        for i in range(len(gens)):
            yield sse(chunk(rid, i, None, None, []))
        pending: list[list[dict]] = [[] for _ in gens]

        def out(i: int, delta: str, finish: str | None) -> str:
            pending[i] += gens[i].take_logprobs()
            piece = chunk(rid, i, delta, finish, pending[i])
            if piece is not None:
                pending[i] = []
            return sse(piece)

        try:
            async for i, delta in _merged(gens):
                if text := out(i, delta, None):
                    yield text
        except ApiError as err:
            record.decision, record.details["error"] = "error", err.code
            _finish(dep, request, record, gens, prompt_text)
            yield f"data: {json.dumps(err.body())}\n\n"
            return
        usage = _finish(dep, request, record, gens, prompt_text)
        dep.remember(rid, record.actor)
        for i, gen in enumerate(gens):
            yield out(i, "", gen.finish)
        if body.stream_options and body.stream_options.include_usage:
            frame = chunk(rid, 0, "", None, [])
            yield f"data: {json.dumps({**frame, 'choices': [], 'usage': usage})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _merged(gens: list[Generation]) -> AsyncIterator[tuple[int, str]]:
    """Every choice's deltas as ``(index, delta)``, in the order they come; the first failure
    (an :class:`ApiError`) stops them all and is raised."""
    if len(gens) == 1:  # the common case, without tasks
        async for delta in gens[0].deltas():
            yield 0, delta
        return
    queue: asyncio.Queue = asyncio.Queue()
    done = object()

    async def pump(i: int, gen: Generation) -> None:
        try:
            async for delta in gen.deltas():
                await queue.put((i, delta))
        except ApiError as err:
            await queue.put((i, err))
        await queue.put((i, done))

    tasks = [asyncio.create_task(pump(i, g)) for i, g in enumerate(gens)]
    try:
        left = len(gens)
        while left:
            i, item = await queue.get()
            if item is done:
                left -= 1
            elif isinstance(item, ApiError):
                raise item
            else:
                yield i, item
    finally:
        for task in tasks:
            task.cancel()
        for gen in gens:
            gen.cancel()


async def _complete_unless_gone(request: Request, gens: list[Generation]) -> bool:
    """Run ``gens`` to their end, or stop them when the client disconnects first; True if it did.

    A streamed answer is stopped by Starlette when its client leaves; a plain one is not, and
    would hold batch rows until ``max_tokens``.
    """
    gone, failed, left = False, None, len(gens)
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal gone
            while (await request.receive())["type"] != "http.disconnect":
                pass
            gone = True
            tg.cancel_scope.cancel()  # cancels run(): its generations stop

        async def run(gen: Generation) -> None:
            nonlocal failed, left
            try:
                await gen.complete()
            except ApiError as err:  # raised below, not wrapped in the task group's ExceptionGroup
                failed = failed or err
                tg.cancel_scope.cancel()
            left -= 1
            if not left:
                tg.cancel_scope.cancel()  # answered: stop watching

        tg.start_soon(watch)
        for gen in gens:
            tg.start_soon(run, gen)
    if failed is not None:
        for gen in gens:
            gen.cancel()
        raise failed
    return gone


def created() -> int:
    return int(time.time())
