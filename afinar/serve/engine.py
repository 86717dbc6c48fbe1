"""The model workers behind the server. Requests queue to a worker that owns the model, so the
event loop never waits on a forward pass; what comes back is a stream of :class:`Event`.

- :class:`TorchEngine`: the base model loaded once with any number of PEFT adapters on it
  (added and removed while serving). Up to ``max_batch`` requests decode as one running batch
  with a shared KV cache, continuously: a request joins at the next step and leaves at the step
  it ends. Each row names its adapter (PEFT's mixed-adapter forward), its sampling settings and
  its seed.
- :class:`~afinar.serve.llamacpp_engine.LlamaCppEngine`: an exported GGUF in llama.cpp (the ``xllamacpp`` wheel), which
  schedules its own parallel slots; with GGUF LoRA adapters (``afinar export --format
  gguf-lora``) loaded on that base, each request names the one it runs with. llama.cpp decodes
  the requests that run with the same adapter in one batch, and the groups in turn.

Both take prompts as token ids, so the server applies one chat template (the tokenizer's) and
counts tokens the same way for either. A request with a JSON schema (``Sampling.json_schema``) is
decoded under it: every token that would break the schema is masked at each step (llguidance,
:mod:`afinar.model.constrain`, in the PyTorch engine; llama.cpp's own JSON-schema grammar in
llama.cpp), so the answer can only be JSON the schema accepts, unless ``max_tokens`` cuts it.

Failures stay with the request that caused them: a row that fails in a batch gets an ``error``
event and the others go on (requests whose joint prefill fails are prefilled again one at a
time; a failed decoding step ends the rows in it, which have streamed text already); an ``emit``
that raises (its client is gone) cancels that request only. At most ``max_queue``
requests wait: past that :meth:`submit` raises :class:`Busy` (the server answers 503 with
``Retry-After``). :meth:`close` answers every request still waiting with an error.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import DynamicCache

from afinar.errors import AfinarError
from afinar.model.adapters import causal_lm_of, load_adapter, virtual_tokens
from afinar.model.constrain import SchemaConstraint

__all__ = ["BASE", "Busy", "Event", "Job", "Sampling", "TokenLogprob", "TorchEngine", "emit"]

log = logging.getLogger(__name__)

BASE = "__base__"
"""PEFT's name for "no adapter" in a mixed-adapter batch."""


class Busy(Exception):
    """The engine takes no more requests now: its queue is full, or it is shutting down."""


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    """0 means greedy."""
    top_p: float = 1.0
    seed: int | None = None
    json_schema: str | None = None
    """The JSON text of a JSON Schema the answer is decoded under."""
    logprobs: int | None = None
    """None: no log-probabilities; k: each token's, with the k most likely tokens at its step."""


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token's text, its log-probability under the model's distribution at its step
    (the raw logits, before temperature, nucleus or schema masking, as llama.cpp reports them),
    and the most likely tokens there with theirs."""

    text: str
    logprob: float
    top: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Event:
    text: str
    """New text since the last event (may be empty while a multi-byte character is incomplete)."""
    finish: str | None = None
    """``stop`` (end-of-turn token), ``length`` (max_tokens), ``cancelled``, or ``error`` on the last event."""
    tokens: int = 0
    """Completion tokens so far."""
    error: str | None = None
    probs: tuple[TokenLogprob, ...] = ()
    """The log-probabilities of the tokens behind ``text``, when the request asked for them."""


@dataclass(eq=False)  # compared and hashed by identity
class Job:
    prompt_ids: list[int]
    adapter: str
    """An adapter name, or :data:`BASE`."""
    sampling: Sampling
    emit: Callable[[Event], None]
    """Called from the worker thread; must be thread-safe and quick."""
    cancelled: threading.Event = field(default_factory=threading.Event)


def emit(job: Job, event: Event) -> None:
    """``job.emit(event)``; if that raises (the client's event loop is gone), cancel the job
    instead of letting the exception reach the worker thread."""
    try:
        job.emit(event)
    except Exception:
        log.exception("emitting to a request failed; cancelling it")
        job.cancelled.set()


def _pick(logits: torch.Tensor, s: Sampling, gen: torch.Generator | None) -> int:
    """Next token from one row of logits (vocab,): argmax, or temperature + nucleus sampling."""
    if s.temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / s.temperature, dim=-1)
    if s.top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(0) - sorted_p < s.top_p  # the smallest prefix whose mass reaches top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
    return int(torch.multinomial(probs, 1, generator=gen))


class _Detokenizer:
    """Turns a growing list of ids into text deltas, holding back an incomplete UTF-8 character."""

    def __init__(self, tokenizer):
        self.tokenizer, self.ids, self.text = tokenizer, [], ""

    def add(self, token: int) -> str:
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return ""
        delta, self.text = text[len(self.text) :], text
        return delta


@dataclass(eq=False)
class _Row:
    """One request in the running batch: its job and its own decoding state."""

    job: Job
    text: _Detokenizer
    gen: torch.Generator | None
    rule: SchemaConstraint | None
    position: int
    """The position id of the next token this row feeds."""

    @property
    def tokens(self) -> int:
        return len(self.text.ids)


@dataclass
class _Batch:
    """The running batch: its rows, their KV cache (left-padded to a common length), the mask
    over that cache, and each row's next-token logits."""

    rows: list[_Row] = field(default_factory=list)
    cache: DynamicCache | None = None
    mask: torch.Tensor | None = None
    logits: torch.Tensor | None = None

    def keep(self, keep: list[int]) -> None:
        """Only the rows at ``keep`` stay (their cache rows too); columns no row uses are dropped."""
        if len(keep) == len(self.rows):
            return
        if not keep:
            self.rows, self.cache, self.mask, self.logits = [], None, None, None
            return
        index = torch.tensor(keep, device=self.mask.device)
        self.rows = [self.rows[i] for i in keep]
        self.mask, self.logits = self.mask[index], self.logits[index]
        self.cache.batch_select_indices(index)
        unused = int((self.mask.sum(0) == 0).long().cumprod(0).sum())  # leading all-padding columns
        if unused:
            self.mask = self.mask[:, unused:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[..., unused:, :], layer.values[..., unused:, :]

    def join(self, other: _Batch) -> None:
        """Add ``other``'s rows: both caches left-padded to the longer one, then stacked."""
        if not self.rows:
            self.rows, self.cache, self.mask, self.logits = other.rows, other.cache, other.mask, other.logits
            return
        width = max(self.mask.shape[1], other.mask.shape[1])

        def pad(t: torch.Tensor, dim: int) -> torch.Tensor:
            missing = width - t.shape[dim]
            if not missing:
                return t
            shape = list(t.shape)
            shape[dim] = missing
            return torch.cat([t.new_zeros(shape), t], dim=dim)

        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat([pad(mine.keys, -2), pad(theirs.keys, -2)])
            mine.values = torch.cat([pad(mine.values, -2), pad(theirs.values, -2)])
        self.mask = torch.cat([pad(self.mask, 1), pad(other.mask, 1)])
        self.logits = torch.cat([self.logits, other.logits])
        self.rows += other.rows


class TorchEngine:
    """One worker thread decoding a running batch on a (PEFT) model, continuously: a request joins
    at the next decoding step (its prompt prefilled, its KV cache rows added to the batch's) and
    leaves the step it ends, so no request waits for another's longest answer. Each row has its
    own adapter (PEFT's mixed-adapter forward), sampling settings, seed and schema.

    A prefix- or prompt-tuned model puts learned tokens before every input; there, requests join
    only an empty batch (a batch runs until its last answer ends), as static batching does.

    Adapters can be added and removed while serving (:meth:`add_adapter`,
    :meth:`remove_adapter`): the worker does it between decoding steps, a removal once no running
    or waiting request uses the adapter.

    Args:
        model: a causal LM, or a ``PeftModel`` holding every adapter by name.
        tokenizer: its tokenizer (for decoding and the end-of-turn ids).
        max_batch: the most requests decoded together.
        batch_window_s: how long an idle worker waits for more requests before it starts.
        max_queue: the most requests waiting for the worker; :meth:`submit` raises :class:`Busy` past it.
        threads: the worker's intra-op threads; by default one core fewer than this process may
            use (at least one), so the event loop (guard, sanitizer, streaming) keeps a core. On
            the 2-core CPU this was measured on, one bf16 worker thread decodes 18 tokens/s alone
            and 83 for 8 requests, against 10 and 63 with two (docs/serving.md).
    """

    def __init__(
        self, model, tokenizer, max_batch: int = 8, batch_window_s: float = 0.01, max_queue: int = 64,
        threads: int | None = None,
    ):  # fmt: skip
        self.model, self.tokenizer = model, tokenizer
        self.threads = threads or max(1, len(os.sched_getaffinity(0)) - 1)
        self.max_batch, self.window = max_batch, batch_window_s
        self.peft = hasattr(model, "peft_config")
        self.adapters = sorted(model.peft_config) if self.peft else []
        self.context = int(getattr(model.config, "max_position_embeddings", 2048))
        eos = model.generation_config.eos_token_id if model.generation_config else None
        self.stop_ids = {tokenizer.eos_token_id} | set(eos if isinstance(eos, list) else [eos] if eos else [])
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=max_queue)
        self._ops: deque[tuple[Callable[[], bool], Future]] = deque()
        self._ops_lock = threading.Lock()
        self._closing = threading.Event()
        self._batch = _Batch()
        self.batches: deque[int] = deque(maxlen=10_000)
        """The running batch's size at each decoding step (the tests read them to see batching)."""
        self.admitted = 0
        """Requests taken into the running batch (prefilled) so far."""
        self._thread = threading.Thread(target=self._work, name="afinar-model", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue ``job``. Raises :class:`Busy` when ``max_queue`` requests wait or the engine is closing."""
        if self._closing.is_set():
            raise Busy("the server is shutting down")
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise Busy(f"{self._queue.maxsize} requests are waiting for the model") from None

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._closing.is_set()

    def close(self) -> None:
        """Finish the requests being decoded, answer every waiting request with an error, stop."""
        self._closing.set()
        self._thread.join(timeout=30)
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            emit(job, Event("", "error", error="the server is shutting down"))
        with self._ops_lock:
            while self._ops:
                self._ops.popleft()[1].set_exception(Busy("the server is shutting down"))

    # ------------------------------------------------------------ adapters while serving

    def add_adapter(self, name: str, path: Path) -> Future:
        """Load the PEFT adapter at ``path`` as ``name`` between two decoding steps; the future
        resolves once requests may use it (or holds the loading error)."""

        def load() -> bool:
            if name in self.adapters:
                raise AfinarError(f"an adapter named '{name}' is served already")
            if self.peft:
                self.model.load_adapter(str(path), adapter_name=name)
            else:
                self.model, self.peft = load_adapter(self.model, path, name), True
            if self.dtype == torch.bfloat16:  # a bf16 model's new adapter in bf16 too
                self.model.to(self.dtype)
            self.model.eval()
            self.adapters = sorted([*self.adapters, name])
            return True

        return self._op(load)

    def remove_adapter(self, name: str) -> Future:
        """Unload adapter ``name`` once no request being decoded or waiting uses it."""

        def unload() -> bool:
            if name not in self.adapters:
                raise AfinarError(f"no adapter named '{name}' is served")
            with self._queue.mutex:
                if any(j.adapter == name for j in self._queue.queue):
                    return False
            if any(r.job.adapter == name for r in self._batch.rows):
                return False
            self.model.delete_adapter(name)
            self.adapters = [a for a in self.adapters if a != name]
            return True

        return self._op(unload)

    def _op(self, fn: Callable[[], bool]) -> Future:
        done: Future = Future()
        with self._ops_lock:  # never appended after close() has answered the waiting ones
            if self._closing.is_set():
                raise Busy("the server is shutting down")
            self._ops.append((fn, done))
        return done

    def _run_ops(self) -> None:
        """The adapter changes that can be made now (one that must wait is kept for later)."""
        for _ in range(len(self._ops)):
            fn, done = self._ops.popleft()
            try:
                if fn():
                    done.set_result(None)
                else:
                    self._ops.append((fn, done))
            except Exception as err:
                done.set_exception(err)

    # ------------------------------------------------------------ the worker

    def _take(self, free: int, wait: bool) -> list[Job]:
        """Up to ``free`` queued jobs that are not cancelled. With ``wait`` (nothing is being
        decoded): wait for a first one, polling so that adapter changes and closing are seen,
        then up to ``window`` seconds for more to start with it."""
        jobs: list[Job] = []
        deadline = None
        while wait and not jobs and not self._closing.is_set():
            try:
                job = self._queue.get(timeout=0.1)
            except queue.Empty:
                self._run_ops()
                continue
            if not job.cancelled.is_set():
                jobs.append(job)
                deadline = time.monotonic() + self.window
        while len(jobs) < free:
            left = 0 if deadline is None else deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if not job.cancelled.is_set():
                jobs.append(job)
        return jobs

    def _work(self) -> None:
        torch.set_num_threads(self.threads)  # this thread's own: the event loop keeps the others
        while not self._closing.is_set() or self._batch.rows:
            self._run_ops()
            joinable = not self._batch.rows or not virtual_tokens(self.model)[0]
            free = self.max_batch - len(self._batch.rows) if joinable and not self._closing.is_set() else 0
            for jobs in self._prefill_groups(self._take(free, wait=not self._batch.rows) if free else []):
                self._batch.join(jobs)
            if not self._batch.rows:
                continue
            self.batches.append(len(self._batch.rows))
            tokens = self._pick()
            self._batch.keep([i for i, t in enumerate(tokens) if t is not None])
            if self._batch.rows:
                self._step([t for t in tokens if t is not None])

    def _prefill_groups(self, jobs: list[Job]) -> list[_Batch]:
        """The new rows, prefilled: together, or, if that fails, each alone, so only a request
        that cannot run gets the error."""
        if not jobs:
            return []
        try:
            return [self._prefill(jobs)]
        except Exception as err:
            if len(jobs) == 1:
                emit(jobs[0], Event("", "error", error=f"{type(err).__name__}: {err}"))
                return []
        return [b for job in jobs for b in self._prefill_groups([job])]

    @torch.inference_mode()
    def _prefill(self, jobs: list[Job]) -> _Batch:
        width = max(len(j.prompt_ids) for j in jobs)
        ids = torch.full((len(jobs), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(jobs), width), dtype=torch.long)
        for r, j in enumerate(jobs):
            ids[r, width - len(j.prompt_ids) :] = torch.tensor(j.prompt_ids)
            mask[r, width - len(j.prompt_ids) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        ids, mask, positions = ids.to(self.device), mask.to(self.device), positions.to(self.device)
        adapters = [j.adapter for j in jobs]
        with self._one_adapter(adapters):
            cache, mask, positions, embeds = self._virtual(ids, mask, positions, DynamicCache())
            logits = self._forward(ids, mask, positions, cache, adapters, embeds)
        self.admitted += len(jobs)
        rows = []
        for r, j in enumerate(jobs):
            gen = torch.Generator(self.device).manual_seed(j.sampling.seed) if j.sampling.seed is not None else None
            rule = self._constraint(j, logits.shape[-1])
            rows.append(_Row(j, _Detokenizer(self.tokenizer), gen, rule, int(positions[r, -1]) + 1))
        return _Batch(rows, cache, mask, logits)

    def _pick(self) -> list[int | None]:
        """Each row's next token from its logits, emitted; None for a row that has ended."""
        out: list[int | None] = []
        for r, row in enumerate(self._batch.rows):
            j, n = row.job, row.tokens
            try:
                logits = self._batch.logits[r]
                if row.rule is not None:
                    logits = row.rule.mask([0], logits[None])[0]
                token = _pick(logits, j.sampling, row.gen)
                if row.rule is not None and token not in self.stop_ids:
                    row.rule.advance(0, token)
                delta = None if token in self.stop_ids else row.text.add(token)
                asked = delta is not None and j.sampling.logprobs is not None
                probs = (self._logprob(self._batch.logits[r], token, delta, j),) if asked else ()
            except Exception as err:  # this row only (its logits, its sampling, its text)
                emit(j, Event("", "error", n, error=f"{type(err).__name__}: {err}"))
                out.append(None)
                continue
            if j.cancelled.is_set():
                emit(j, Event("", "cancelled", n))
                out.append(None)
            elif delta is None:
                emit(j, Event("", "stop", n))
                out.append(None)
            else:
                done = n + 1 >= j.sampling.max_tokens
                emit(j, Event(delta, "length" if done else None, n + 1, probs=probs))
                out.append(None if done else token)
        return out

    def _logprob(self, logits: torch.Tensor, token: int, text: str, job: Job) -> TokenLogprob:
        """``token``'s log-probability (written as ``text``) and the ``job``'s top-k at its step."""
        lp = torch.log_softmax(logits.float(), dim=-1)
        top = lp.topk(job.sampling.logprobs) if job.sampling.logprobs else None
        alternatives = () if top is None else tuple(
            (self.tokenizer.decode([int(i)]), float(v)) for v, i in zip(top.values, top.indices, strict=True)
        )  # fmt: skip
        return TokenLogprob(text, float(lp[token]), alternatives)

    @torch.inference_mode()
    def _step(self, tokens: list[int]) -> None:
        """One decoding step for every row: feed its last token, keep its next logits. A failure
        here ends every row (each has streamed text already: running it again would repeat it)."""
        b = self._batch
        adapters = [row.job.adapter for row in b.rows]
        try:
            ids = torch.tensor(tokens, device=self.device)[:, None]
            positions = torch.tensor([row.position for row in b.rows], device=self.device)[:, None]
            mask = torch.cat([b.mask, torch.ones((len(b.rows), 1), dtype=b.mask.dtype, device=self.device)], dim=1)
            with self._one_adapter(adapters):
                b.logits = self._forward(ids, mask, positions, b.cache, adapters)
            b.mask = mask
            for row in b.rows:
                row.position += 1
        except Exception as err:
            for row in b.rows:
                emit(row.job, Event("", "error", row.tokens, error=f"{type(err).__name__}: {err}"))
            self._batch = _Batch()

    def _forward(self, ids, mask, positions, cache, adapters, embeds=None):
        extra, model = {}, self.model
        if self.peft and len(set(adapters)) > 1:
            extra["adapter_names"] = adapters  # PEFT's mixed-adapter forward: each row its own LoRA
        if virtual_tokens(self.model)[0]:  # prefix/prompt tuning: the virtual tokens are in the cache
            model = causal_lm_of(self.model)
        out = model(
            input_ids=None if embeds is not None else ids,
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
            **extra,
        )
        return out.logits[:, -1]

    def _virtual(self, ids, mask, positions, cache):
        """For a prefix- or prompt-tuned adapter: the cache, mask, positions and first-step
        embeddings with its learned tokens placed before the prompts (none for other models)."""
        n, kind = virtual_tokens(self.model)
        if not n:
            return cache, mask, positions, None
        b = len(ids)
        mask = torch.cat([torch.ones((b, n), dtype=mask.dtype, device=mask.device), mask], dim=1)
        if kind == "prefix":  # learned keys/values: the cache starts with them
            return self.model.get_prompt(b, max_cache_len=mask.shape[1]), mask, positions + n, None
        embeds = causal_lm_of(self.model).model.embed_tokens(ids)
        embeds = torch.cat([self.model.get_prompt(batch_size=b).to(embeds.dtype), embeds], dim=1)
        first = torch.arange(n, device=positions.device).expand(b, n)
        return cache, mask, torch.cat([first, positions + n], dim=1), embeds

    def _one_adapter(self, adapters: list[str]):
        """For a batch on a single adapter (or none), the faster plain forward with it active:
        PEFT's per-row routing costs ~25% more per token (measured on SmolLM2, batch 1)."""
        if not self.peft or len(set(adapters)) > 1:
            return nullcontext()
        if adapters[0] == BASE:
            return self.model.disable_adapter()
        if self.model.active_adapter != adapters[0]:  # set_adapter walks every LoRA layer
            self.model.set_adapter(adapters[0])
        return nullcontext()

    def _constraint(self, job: Job, vocab: int) -> SchemaConstraint | None:
        """The decoding constraint of ``job``'s schema, over ``vocab`` logits (None: free text)."""
        if job.sampling.json_schema is None:
            return None
        return SchemaConstraint(self.tokenizer, json.loads(job.sampling.json_schema), vocab, 1)
