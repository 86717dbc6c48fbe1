"""The llama.cpp model worker: an exported GGUF in the in-process llama.cpp server (the
``xllamacpp`` wheel), with GGUF LoRA adapters on it; it takes the same :class:`Job` and answers
with the same :class:`Event` stream as :class:`afinar.serve.engine.TorchEngine`."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from afinar.errors import AfinarError
from afinar.model.constrain import llamacpp_grammar
from afinar.model.llamacpp import llamacpp_server, lora_request
from afinar.serve.engine import BASE, Busy, Event, Job, TokenLogprob, emit

__all__ = ["LlamaCppEngine"]


class LlamaCppEngine:
    """An exported GGUF served by llama.cpp, ``parallel`` requests at a time, with ``adapters``
    (name -> GGUF LoRA file) on it.

    llama.cpp gets as many threads as this process may use: oversubscribed, it stalls.
    """

    def __init__(
        self, gguf: Path, context: int = 4096, parallel: int = 4, max_queue: int = 64,
        adapters: dict[str, Path] | None = None,
    ):  # fmt: skip
        if not Path(gguf).is_file():
            raise AfinarError(f"{gguf}: GGUF file not found")
        adapters = adapters or {}
        self.adapters = list(adapters)
        # llama.cpp splits n_ctx across its slots
        self.server = llamacpp_server(
            gguf, context * parallel, parallel, why="--gguf needs llama.cpp", adapters=list(adapters.values())
        )
        self.context = context
        self._pool = ThreadPoolExecutor(parallel, thread_name_prefix="afinar-llamacpp")
        self._limit = parallel + max_queue
        self._waiting: set[Job] = set()  # submitted, no slot yet
        self._running: set[Job] = set()
        self._lock = threading.Lock()
        self._closing = False

    def submit(self, job: Job) -> None:
        """Hand ``job`` to a llama.cpp slot. Raises :class:`Busy` when ``max_queue`` requests
        wait for a slot or the engine is closing."""
        with self._lock:
            if self._closing:
                raise Busy("the server is shutting down")
            if len(self._waiting) + len(self._running) >= self._limit:
                raise Busy(f"{len(self._waiting)} requests are waiting for the model")
            self._waiting.add(job)
        self._pool.submit(self._run, job)

    def alive(self) -> bool:
        """False once closing. llama.cpp itself runs inside this process: if it died, so did we."""
        return not self._closing

    def close(self) -> None:
        """Stop taking requests, answer the waiting ones with an error, let running ones finish."""
        with self._lock:
            self._closing = True
            waiting, self._waiting = self._waiting, set()
            for job in waiting:  # a slot that frees now skips them (see _run)
                job.cancelled.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        for job in waiting:  # nobody else will answer them
            emit(job, Event("", "error", error="the server is shutting down"))

    def _run(self, job: Job) -> None:
        with self._lock:
            self._waiting.discard(job)
            if job.cancelled.is_set():  # its client left, or the engine closed, while it waited
                return
            self._running.add(job)
        try:
            self._complete(job)
        finally:
            with self._lock:
                self._running.discard(job)

    def _complete(self, job: Job) -> None:
        s = job.sampling
        if job.adapter != BASE and job.adapter not in self.adapters:
            emit(job, Event("", "error", error=f"no adapter '{job.adapter}' is loaded in llama.cpp"))
            return
        request = {
            "prompt": job.prompt_ids,
            "n_predict": s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "stream": True,
            "cache_prompt": False,
            "lora": lora_request(len(self.adapters), None if job.adapter == BASE else self.adapters.index(job.adapter)),
        }
        if s.temperature <= 0:
            request["top_k"] = 1
        if s.seed is not None:
            request["seed"] = s.seed
        if s.json_schema is not None:
            request["grammar"] = llamacpp_grammar(json.loads(s.json_schema))
        if s.logprobs is not None:  # llama.cpp sends none at all for 0
            request["logprobs"] = max(1, s.logprobs)
        count = 0

        def chunk(data: dict) -> bool:
            """One streamed chunk from llama.cpp; returning True stops its generation."""
            nonlocal count
            if "error" in data or not data.get("choices"):
                emit(job, Event("", "error", count, error=str(data.get("error", data))))
                return True
            choice = data["choices"][0]
            count += 1 if choice.get("text") else 0
            finish = choice.get("finish_reason")
            if finish:
                count = (data.get("usage") or {}).get("completion_tokens", count)
            probs = _probs(choice.get("logprobs"), s.logprobs) if s.logprobs is not None else ()
            emit(job, Event(choice.get("text") or "", finish, count, probs=probs))
            return job.cancelled.is_set()  # the client has gone: free the slot

        try:
            self.server.handle_completions(request, chunk)
        except Exception as err:
            emit(job, Event("", "error", count, error=f"{type(err).__name__}: {err}"))


def _probs(logprobs: dict | None, top: int) -> tuple[TokenLogprob, ...]:
    """A llama.cpp chunk's OpenAI-style ``logprobs`` as :class:`TokenLogprob`, ``top`` alternatives each."""
    return tuple(
        TokenLogprob(c["token"], c["logprob"], tuple((t["token"], t["logprob"]) for t in c["top_logprobs"][:top]))
        for c in (logprobs or {}).get("content") or []
    )
